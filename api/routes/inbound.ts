import { Hono } from '../hono-app.js'
import { getInbound, getInboundFile, listInbound } from '../../db/queries/inbound.js'
import { readMediaChunks } from '../../db/queries/media.js'
import { INBOUND_TYPES } from '../../db/types.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import type { RouteBook } from '../route-book.js'
import type { Schemas } from '../schemas.js'
import type { JsonSchema } from '../validation.js'

const str = { type: ['string', 'null'] }
const int = { type: ['integer', 'null'] }

// Each field's meaning is in api/README.md (Inbound); the worker carries this declaration, so it stays terse.
const inboundAnswer: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, session: { type: 'string' }, phone: str, lid: str,
    type: { enum: [...INBOUND_TYPES] },
    text: str, mimetype: str, file_name: str, size: int, reply_to_message_id: int, received_at: { type: 'string' },
    consent: { enum: ['stop', 'start', null] },
    media_status: { enum: ['stored', 'expired', 'too_large', 'failed', null] }, media_url: str,
  },
}

/** `GET /api/inbound`, `GET /api/inbound/:id` and its `/media`: what people wrote and sent to the gateway's numbers. */
export function inboundRoutes({ schemas, book }: { schemas: Schemas; book: RouteBook }) {
  const app = new Hono<AppEnv>()

  book.serve(app, '/api', {
    method: 'get', path: '/api/inbound', operationId: 'listInbound', tag: 'Inbound', summary: 'Received messages, newest first (keyset pagination)',
    query: schemas.inboundQuery,
    ok: { type: 'object', properties: { messages: { type: 'array', items: inboundAnswer }, next: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' } } },
    errors: [400],
  }, async (c, { query: q }) => {
    // One extra row tells whether another page exists without a COUNT.
    const rows = await listInbound(c.get('db'), { ...q, beforeId: q.cursor, limit: q.limit + 1 })
    const page = rows.slice(0, q.limit)
    return c.json({ messages: page, next: rows.length > q.limit ? String(page.at(-1)!.id) : null })
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/inbound/{id}', operationId: 'getInbound', tag: 'Inbound', summary: 'One received message',
    params: { id: schemas.messageId }, ok: inboundAnswer, errors: [400, 404],
  }, async (c, { params: { id } }) => {
    const m = await getInbound(c.get('db'), id)
    if (!m) throw unknown(id)
    return c.json(m)
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/inbound/{id}/media', operationId: 'getInboundMedia', tag: 'Inbound', summary: 'The file a received message carried',
    params: { id: schemas.messageId }, ok: { type: 'string', format: 'binary' }, okMedia: 'application/octet-stream', errors: [400, 404, 410],
  }, async (c, { params: { id } }) => {
    const db = c.get('db')
    const found = await getInboundFile(db, id)
    if (!found) throw unknown(id)
    const { status, file } = found
    if (!file) {
      throw status === 'expired' ? new ApiError(410, 'media_expired', `The file of received message ${id} was deleted after MEDIA_RETENTION_DAYS`)
        : new ApiError(404, 'no_media', `Received message ${id} has no stored file${status ? ` (${status})` : ''}`)
    }
    const chunks = readMediaChunks(db, file)
    const body = new ReadableStream<Uint8Array>({
      async pull(out) {
        const next = await chunks.next()
        if (next.done) out.close()
        else out.enqueue(next.value)
      },
      async cancel() {
        await chunks.return(undefined)
      },
    })
    // The sender chose the type and the name: served as a download, never rendered by the browser.
    const name = file.fileName ?? `received-${id}`
    return c.body(body, 200, {
      'Content-Type': file.mime, 'Content-Length': String(file.size), 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': 'sandbox',
      'Content-Disposition': `attachment; filename="${name.replace(/[^\w.-]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`,
    })
  })

  return app
}

const unknown = (id: number) => new ApiError(404, 'unknown_inbound', `Received message ${id} does not exist`)
