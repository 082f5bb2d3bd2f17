import { Hono } from 'hono'
import { getMessage, listMessages } from '../../db/queries/messages.js'
import { resendMessage } from '../../db/lifecycle/resend.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { formatMessage } from '../format.js'
import type { RouteBook } from '../route-book.js'
import { messageAnswer, successAnswer, type Schemas } from '../schemas.js'

function unknownMessage(id: number): ApiError {
  return new ApiError(404, 'unknown_message', `Message ${id} does not exist (sent messages are pruned after the retention period)`)
}

/** `POST /api/resend/:id`, `GET /api/messages`, `GET /api/messages/:id`. */
export function messageRoutes({ schemas, book }: { schemas: Schemas; book: RouteBook }) {
  const app = new Hono<AppEnv>()
  const byId = { id: schemas.messageId }

  book.serve(app, '/api', {
    method: 'post', path: '/api/resend/{id}', operationId: 'resendMessage', tag: 'Sending', summary: 'Put a failed or opted_out message back in the queue',
    params: byId, ok: successAnswer, okExample: { success: true }, errors: [400, 404, 409],
  }, async (c, { params: { id } }) => {
    const result = await resendMessage(c.get('db'), id)
    if (result === 'not_found') throw unknownMessage(id)
    if (result === 'wrong_status') {
      const current = await getMessage(c.get('db'), id)
      throw new ApiError(
        409,
        'not_resendable',
        `Message ${id} is ${current?.status ?? 'not resendable'}; only failed or opted_out messages can be resent`,
      )
    }
    return c.json({ success: true })
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/messages', operationId: 'listMessages', tag: 'Messages', summary: 'The message audit log, newest first (keyset pagination)',
    query: schemas.messagesQuery,
    ok: { type: 'object', properties: { messages: { type: 'array', items: messageAnswer }, next: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' } } },
    errors: [400],
  }, async (c, { query: q }) => {
    // One extra row tells whether another page exists without a COUNT.
    const rows = await listMessages(c.get('db'), {
      status: q.status, session: q.session, phone: q.phone, since: q.since, until: q.until,
      beforeId: q.cursor, limit: q.limit + 1,
    })
    const page = rows.slice(0, q.limit)
    const next = rows.length > q.limit ? String(page[page.length - 1]!.id) : null
    return c.json({ messages: page.map(formatMessage), next })
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/messages/{id}', operationId: 'getMessage', tag: 'Messages', summary: 'One message: status, attempts, error, times, WhatsApp id',
    params: byId, ok: messageAnswer, errors: [400, 404],
  }, async (c, { params: { id } }) => {
    const message = await getMessage(c.get('db'), id)
    if (!message) throw unknownMessage(id)
    return c.json(formatMessage(message))
  })

  return app
}
