import { Hono } from '../hono-app.js'
import { getSession } from '../../db/queries/sessions.js'
import { type DeliveryRecord, getDelivery, listDeliveries, replayDelivery } from '../../db/queries/webhook-deliveries.js'
import { type WebhookRecord, createWebhookWithinLimit, deleteWebhook, getWebhook, listWebhooks } from '../../db/queries/webhook-endpoints.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { formatTime } from '../format.js'
import type { RouteBook } from '../route-book.js'
import { successAnswer, type Schemas } from '../schemas.js'
import { createdWebhookAnswer, deliveryAnswer, MAX_WEBHOOKS, webhookAnswer } from '../webhook-schemas.js'

/** A webhook as the API shows it: never its secret. */
export function formatWebhook(w: WebhookRecord) {
  return { id: w.id, url: w.url, events: w.events, session: w.session, enabled: w.enabled, created_at: formatTime(w.createdAt) }
}

/** A delivery as the API shows it, with the event data parsed. */
export function formatDelivery(d: DeliveryRecord) {
  let data: unknown
  try {
    data = JSON.parse(d.payload)
  } catch {
    data = d.payload
  }
  return {
    id: d.id,
    webhook_id: d.webhookId,
    event_id: d.eventId,
    type: d.type,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? formatTime(d.nextAttemptAt) : null,
    last_status: d.lastStatus,
    last_error: d.lastError,
    data,
    created_at: formatTime(d.createdAt),
    first_attempt_at: formatTime(d.firstAttemptAt),
    last_attempt_at: formatTime(d.lastAttemptAt),
    delivered_at: formatTime(d.deliveredAt),
  }
}

/** A fresh signing secret: `whsec_` and 32 random bytes in hex (Web Crypto: this runs on Workers too). */
export function newWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return `whsec_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`
}

function unknownWebhook(id: number): ApiError {
  return new ApiError(404, 'unknown_webhook', `Webhook ${id} does not exist; GET /api/webhooks lists them`)
}

/**
 * `POST|GET /api/webhooks`, `DELETE /api/webhooks/:id`, `GET /api/webhooks/:id/deliveries`,
 * `POST /api/webhooks/deliveries/:id/replay`.
 */
export function webhookRoutes({ schemas, book }: { schemas: Schemas; book: RouteBook }) {
  const app = new Hono<AppEnv>()

  book.serve(app, '/api', {
    method: 'post', path: '/api/webhooks', operationId: 'createWebhook', tag: 'Webhooks', summary: 'Add a webhook: where to POST which events, signed with a secret',
    description: 'The answer carries the signing secret once; it is never shown again. Each call has X-Event-Id, X-Event-Type, X-Timestamp and X-Signature: sha256=HMAC-SHA256(secret, "<X-Timestamp>.<body>") in hex.',
    json: { schema: schemas.createWebhookBody }, ok: createdWebhookAnswer,
    okExample: { success: true, webhook: { id: 3, url: 'https://example.com/wa-events', events: ['message.sent', 'message.failed'], session: null, enabled: true, created_at: '2025-05-11 14:00:00', secret: 'whsec_…' } },
    errors: [400, 404, 409, 415, 422],
  }, async (c, { body }) => {
    const db = c.get('db')
    if (body.session) {
      const s = await getSession(db, body.session)
      if (!s || s.deleteRequestedAt) throw new ApiError(404, 'unknown_session', `Session "${body.session}" does not exist; GET /api/sessions lists the sessions`)
    }
    const secret = body.secret ?? newWebhookSecret()
    const hook = await createWebhookWithinLimit(db, { url: body.url, events: body.events, session: body.session ?? null, secret }, MAX_WEBHOOKS)
    if (hook === 'limit_reached') {
      throw new ApiError(409, 'too_many_webhooks', `There are already ${MAX_WEBHOOKS} webhooks; delete one first (every event is written once per matching webhook)`)
    }
    return c.json({ success: true, webhook: { ...formatWebhook(hook), secret } })
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/webhooks', operationId: 'listWebhooks', tag: 'Webhooks', summary: 'The configured webhooks (without their secrets)',
    ok: { type: 'object', properties: { webhooks: { type: 'array', items: webhookAnswer } } }, errors: [],
  }, async (c) => c.json({ webhooks: (await listWebhooks(c.get('db'))).map(formatWebhook) }))

  book.serve(app, '/api', {
    method: 'delete', path: '/api/webhooks/{id}', operationId: 'deleteWebhook', tag: 'Webhooks', summary: 'Remove a webhook and its delivery history',
    params: { id: schemas.webhookId }, ok: successAnswer, okExample: { success: true }, errors: [400, 404],
  }, async (c, { params: { id } }) => {
    if (!(await deleteWebhook(c.get('db'), id))) throw unknownWebhook(id)
    return c.json({ success: true })
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/webhooks/{id}/deliveries', operationId: 'listWebhookDeliveries', tag: 'Webhooks', summary: 'A webhook\'s deliveries, newest first (keyset pagination)',
    params: { id: schemas.webhookId }, query: schemas.deliveriesQuery,
    ok: { type: 'object', properties: { deliveries: { type: 'array', items: deliveryAnswer }, next: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' } } },
    errors: [400, 404],
  }, async (c, { params: { id }, query: q }) => {
    if (!(await getWebhook(c.get('db'), id))) throw unknownWebhook(id)
    // One extra row tells whether another page exists without a COUNT.
    const rows = await listDeliveries(c.get('db'), { webhookId: id, status: q.status, beforeId: q.cursor, limit: q.limit + 1 })
    const page = rows.slice(0, q.limit)
    const next = rows.length > q.limit ? String(page[page.length - 1]!.id) : null
    return c.json({ deliveries: page.map(formatDelivery), next })
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/webhooks/deliveries/{id}/replay', operationId: 'replayWebhookDelivery', tag: 'Webhooks', summary: 'Send a dead delivery again (same event id, a fresh 24 h of retries)',
    params: { id: schemas.deliveryId }, ok: successAnswer, okExample: { success: true }, errors: [400, 404, 409],
  }, async (c, { params: { id } }) => {
    const result = await replayDelivery(c.get('db'), id)
    if (result === 'not_found') throw new ApiError(404, 'unknown_delivery', `Delivery ${id} does not exist (deleted with its webhook?)`)
    if (result === 'wrong_status') {
      const d = await getDelivery(c.get('db'), id)
      throw new ApiError(409, 'not_replayable', `Delivery ${id} is ${d?.status ?? 'not dead'}; only dead deliveries can be replayed (pending ones are retried by themselves)`)
    }
    return c.json({ success: true })
  })

  return app
}
