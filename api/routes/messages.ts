import { Hono } from '../hono-app.js'
import { countMemberReceipts, getMessage, listMessages } from '../../db/queries/messages.js'
import { isGroupAddress } from '../../db/types.js'
import { getMediaInfo } from '../../db/queries/media.js'
import { resendMessage } from '../../db/lifecycle/resend.js'
import { cancelMessage } from '../../db/lifecycle/cancel.js'
import { requestRevoke, REVOKE_WINDOW_SECONDS } from '../../db/lifecycle/revoke.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { formatMessage } from '../format.js'
import type { RouteBook } from '../route-book.js'
import { checkNotBoth, groupJid } from '../recipient.js'
import { messageAnswer, successAnswer, type Schemas } from '../schemas.js'

function unknownMessage(id: number): ApiError {
  return new ApiError(404, 'unknown_message', `Message ${id} does not exist (sent messages are pruned after the retention period)`)
}

/** `POST /api/resend/:id`, `POST /api/messages/:id/cancel` and `/revoke`, `GET /api/messages`, `GET /api/messages/:id`. */
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
    method: 'post', path: '/api/messages/{id}/cancel', operationId: 'cancelMessage', tag: 'Sending', summary: 'Take a pending (or scheduled) message out of the queue',
    description: 'The message ends `cancelled` and a `message.cancelled` webhook event is written. Once a runner has claimed it (`sending` or later) it is too late: 409 `not_cancellable`. Cancelling a cancelled message again answers success.',
    params: byId, ok: successAnswer, okExample: { success: true }, errors: [400, 404, 409],
  }, async (c, { params: { id } }) => {
    const result = await cancelMessage(c.get('db'), id)
    if (result.kind === 'not_found') throw unknownMessage(id)
    if (result.kind === 'not_cancellable') {
      throw new ApiError(409, 'not_cancellable', `Message ${id} is ${result.status}; only a pending message can be cancelled`)
    }
    return c.json({ success: true })
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/messages/{id}/revoke', operationId: 'revokeMessage', tag: 'Sending', summary: 'Delete a sent message for everyone',
    description: `Queues a revoke on the message's session (paced like any send). When it has been sent the message gets \`revoked_at\` and a \`message.revoked\` webhook event. WhatsApp allows it for ${REVOKE_WINDOW_SECONDS / 3600} hours after sending: later is 409 \`revoke_too_late\`. Asking again while one is queued answers the same revoke.`,
    params: byId,
    ok: { type: 'object', required: ['success', 'message_id'], properties: { success: { const: true }, message_id: { type: 'integer', description: 'The queued revoke (its own row in the audit log).' } } },
    okExample: { success: true, message_id: 48 }, errors: [400, 404, 409],
  }, async (c, { params: { id } }) => {
    const result = await requestRevoke(c.get('db'), id)
    switch (result.kind) {
      case 'not_found':
        throw unknownMessage(id)
      case 'already_revoked':
        throw new ApiError(409, 'already_revoked', `Message ${id} has already been revoked`)
      case 'too_late':
        throw new ApiError(409, 'revoke_too_late', `Message ${id} was sent more than ${REVOKE_WINDOW_SECONDS / 3600} hours ago; WhatsApp no longer deletes it for everyone`)
      case 'not_revocable':
        throw new ApiError(409, 'not_revocable', result.reason === 'kind'
          ? `Message ${id} is itself a revoke`
          : `Message ${id} is ${result.status}; only a sent message can be revoked (cancel a pending one instead)`)
      case 'queued':
        return c.json({ success: true, message_id: result.revokeId })
    }
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/messages', operationId: 'listMessages', tag: 'Messages', summary: 'The message audit log, newest first (keyset pagination)',
    query: schemas.messagesQuery,
    ok: { type: 'object', properties: { messages: { type: 'array', items: messageAnswer }, next: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' } } },
    errors: [400],
  }, async (c, { query: q }) => {
    checkNotBoth(q)
    // One extra row tells whether another page exists without a COUNT. A group's messages keep its JID in `phone`
    // (db/README.md, Groups), so both filters read the same column and index.
    const rows = await listMessages(c.get('db'), {
      status: q.status, session: q.session, phone: q.group === undefined ? q.phone : groupJid(q.group), since: q.since, until: q.until,
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
    const media = message.mediaId === null ? null : await getMediaInfo(c.get('db'), message.mediaId)
    // A group message: how many members received and read it (one receipt row per member).
    const counts = isGroupAddress(message.phone) && message.waMessageId ? await countMemberReceipts(c.get('db'), message.waMessageId) : null
    return c.json({
      ...formatMessage(message), media: media ? { mimetype: media.mime, size: media.size } : null,
      ...(counts && { delivered_count: counts.delivered, read_count: counts.read }),
    })
  })

  return app
}
