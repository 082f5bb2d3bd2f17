import { Hono } from '../hono-app.js'
import { getInbound, listInbound } from '../../db/queries/inbound.js'
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
  },
}

/** `GET /api/inbound`, `GET /api/inbound/:id`: what people wrote to the gateway's numbers. */
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
    if (!m) throw new ApiError(404, 'unknown_inbound', `Received message ${id} does not exist`)
    return c.json(m)
  })

  return app
}
