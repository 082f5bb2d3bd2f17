/**
 * Webhook delivery history as the API and the dashboard see it: listing, counting and replaying deliveries.
 *
 * A delivery is one event for one endpoint (webhook-events.ts writes it `pending`). The runner claims it and records
 * each call's outcome (webhook-claims.ts): a failure goes back to `pending` after a backoff, never later than the end
 * of the retry window, and becomes `dead` once the window since the first attempt is over. `replayDelivery` puts a
 * dead row back.
 */
import type { Queryable, Row } from '../driver.js'
import { toDate, toId } from '../driver.js'
import { each, optionalFilters } from '../sql.js'
import type { WebhookEvent } from './webhook-endpoints.js'

/** Delivery states (see the file comment). */
export const DELIVERY_STATES = ['pending', 'delivering', 'delivered', 'dead'] as const
export type DeliveryStatus = (typeof DELIVERY_STATES)[number]

export interface DeliveryRecord {
  id: number
  webhookId: number
  eventId: string
  type: WebhookEvent
  /** The event's data, as JSON text. */
  payload: string
  status: DeliveryStatus
  attempts: number
  nextAttemptAt: Date
  firstAttemptAt: Date | null
  lastAttemptAt: Date | null
  lastStatus: number | null
  lastError: string | null
  createdAt: Date
  deliveredAt: Date | null
}

function toDelivery(row: Row): DeliveryRecord {
  return {
    id: toId(row.id),
    webhookId: toId(row.webhook_id),
    eventId: String(row.event_id),
    type: String(row.type) as WebhookEvent,
    payload: String(row.payload),
    status: String(row.status) as DeliveryStatus,
    attempts: Number(row.attempts),
    nextAttemptAt: toDate(row.next_attempt_at)!,
    firstAttemptAt: toDate(row.first_attempt_at),
    lastAttemptAt: toDate(row.last_attempt_at),
    lastStatus: row.last_status === null || row.last_status === undefined ? null : Number(row.last_status),
    lastError: row.last_error === null || row.last_error === undefined ? null : String(row.last_error),
    createdAt: toDate(row.created_at)!,
    deliveredAt: toDate(row.delivered_at),
  }
}

const DELIVERY_COLUMNS = `id, webhook_id, event_id, type, payload, status, attempts, next_attempt_at, first_attempt_at,
       last_attempt_at, last_status, last_error, created_at, delivered_at`

const REPLAY = /* @__PURE__ */ each(
  `UPDATE webhook_deliveries
   SET status = 'pending',
       attempts = 0,
       first_attempt_at = NULL,
       next_attempt_at = NOW(6),
       locked_by = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'dead'`,
  `UPDATE webhook_deliveries
   SET status = 'pending',
       attempts = 0,
       first_attempt_at = NULL,
       next_attempt_at = now(),
       locked_by = NULL,
       updated_at = now()
 WHERE id = $1
   AND status = 'dead'`,
)

const GET_DELIVERY = /* @__PURE__ */ each(
  `SELECT ${DELIVERY_COLUMNS}
  FROM webhook_deliveries
 WHERE id = ?`,
  `SELECT ${DELIVERY_COLUMNS}
  FROM webhook_deliveries
 WHERE id = $1`,
)

/** One delivery, or null. */
export async function getDelivery(db: Queryable, id: number): Promise<DeliveryRecord | null> {
  const [row] = await db.query(GET_DELIVERY[db.dialect], [id])
  return row ? toDelivery(row) : null
}

/**
 * Puts a `dead` delivery back in line: `pending`, due now, a fresh retry window; the event id stays, so a receiver
 * that did get it after all can drop the copy.
 */
export async function replayDelivery(db: Queryable, id: number): Promise<'ok' | 'not_found' | 'wrong_status'> {
  const res = await db.execute(REPLAY[db.dialect], [id])
  if (res.affectedRows > 0) return 'ok'
  return (await getDelivery(db, id)) ? 'wrong_status' : 'not_found'
}

export interface DeliveryFilter {
  webhookId?: number
  status?: DeliveryStatus
  /** Keyset cursor: ids below this one (newest first). */
  beforeId?: number
  limit: number
}

/** Deliveries newest first, keyset-paginated on `id` like the message log. */
export async function listDeliveries(db: Queryable, filter: DeliveryFilter): Promise<DeliveryRecord[]> {
  const f = optionalFilters(db.dialect)
  f.add(filter.webhookId, (ph) => `webhook_id = ${ph}`)
  f.add(filter.status, (ph) => `status = ${ph}`)
  f.add(filter.beforeId, (ph) => `id < ${ph}`)
  const sql = `SELECT ${DELIVERY_COLUMNS}
  FROM webhook_deliveries
${f.whereText()} ORDER BY id DESC
 LIMIT ${f.bind(filter.limit)}`
  return (await db.query(sql, f.params)).map(toDelivery)
}

const COUNT_DELIVERIES = /* @__PURE__ */ each(
  `SELECT status, COUNT(*) AS n
  FROM webhook_deliveries
 GROUP BY status`,
  `SELECT status, COUNT(*) AS n
  FROM webhook_deliveries
 GROUP BY status`,
)

/** Deliveries per status (every status present). */
export async function countDeliveriesByStatus(db: Queryable): Promise<Record<DeliveryStatus, number>> {
  const out = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryStatus, number>
  for (const row of await db.query(COUNT_DELIVERIES[db.dialect])) out[row.status as DeliveryStatus] = Number(row.n)
  return out
}
