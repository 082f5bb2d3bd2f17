/**
 * Taking webhook deliveries to call, and recording how each call went: the runner's side of the webhook tables (the
 * endpoints are webhook-endpoints.ts, the events webhook-events.ts, what the API reads of the deliveries
 * webhook-deliveries.ts). Apart so that the API, which never delivers, does not carry these statements (the Workers
 * bundle has a size budget).
 *
 * `claimDeliveries` takes due rows with `FOR UPDATE SKIP LOCKED` and marks them `delivering` with a claim expiry in
 * `next_attempt_at`, so a runner killed mid-call leaves a row that any runner claims again once the expiry passes
 * (at-least-once; `event_id` and `attempts` tell receivers and the fence which attempt this is). `markDelivered` /
 * `markFailed` are fenced by (`locked_by`, `attempts`). A failure goes back to `pending` after a backoff, never later
 * than the end of the retry window, and becomes `dead` once the window since the first attempt is over.
 */
import type { Db, Queryable } from '../driver.js'
import { toDate, toId } from '../driver.js'
import { each } from '../sql.js'
import type { WebhookEvent } from './webhook-endpoints.js'

/** A claimed delivery with what the runner needs to make the call. `url`/`secret` are null if the webhook is gone. */
export interface ClaimedDelivery {
  id: number
  webhookId: number
  eventId: string
  type: WebhookEvent
  payload: string
  /** The attempt number of this claim (the fence of `markDelivered` / `markFailed`). */
  attempts: number
  createdAt: Date
  url: string | null
  secret: string | null
}

// The status literals stay in the text so Postgres can use the partial index (db/README.md). `delivering` rows
// whose claim expired (their runner died mid-call) are due again like pending ones.
const SELECT_DUE = /* @__PURE__ */ each(
  `SELECT id
  FROM webhook_deliveries
 WHERE status IN ('pending', 'delivering')
   AND next_attempt_at <= NOW(6)
 ORDER BY next_attempt_at
 LIMIT ?
   FOR UPDATE SKIP LOCKED`,
  `SELECT id
  FROM webhook_deliveries
 WHERE status IN ('pending', 'delivering')
   AND next_attempt_at <= now()
 ORDER BY next_attempt_at
 LIMIT $1
   FOR UPDATE SKIP LOCKED`,
)

/** The SQL of the claim's select, for the EXPLAIN tests. */
export const SELECT_DUE_DELIVERIES_SQL = SELECT_DUE

const TAKE_DUE = /* @__PURE__ */ each(
  `UPDATE webhook_deliveries
   SET status = 'delivering',
       attempts = attempts + 1,
       locked_by = ?,
       next_attempt_at = NOW(6) + INTERVAL ? * 1000 MICROSECOND,
       first_attempt_at = COALESCE(first_attempt_at, NOW(6)),
       last_attempt_at = NOW(6),
       updated_at = NOW(6)
 WHERE id IN (?)`,
  `UPDATE webhook_deliveries
   SET status = 'delivering',
       attempts = attempts + 1,
       locked_by = $1,
       next_attempt_at = now() + $2 * interval '1 millisecond',
       first_attempt_at = COALESCE(first_attempt_at, now()),
       last_attempt_at = now(),
       updated_at = now()
 WHERE id = ANY($3::bigint[])`,
)

const READ_CLAIMED = /* @__PURE__ */ each(
  `SELECT d.id, d.webhook_id, d.event_id, d.type, d.payload, d.attempts, d.created_at, w.url, w.secret
  FROM webhook_deliveries d
  LEFT JOIN webhooks w ON w.id = d.webhook_id
 WHERE d.id IN (?)
 ORDER BY d.id`,
  `SELECT d.id, d.webhook_id, d.event_id, d.type, d.payload, d.attempts, d.created_at, w.url, w.secret
  FROM webhook_deliveries d
  LEFT JOIN webhooks w ON w.id = d.webhook_id
 WHERE d.id = ANY($1::bigint[])
 ORDER BY d.id`,
)

/**
 * Claims up to `limit` due deliveries for `owner` (a runner id plus a random suffix is fine) for `lockMs`: one
 * transaction, `FOR UPDATE SKIP LOCKED`, so runners never take the same row; a runner that dies mid-call leaves the
 * row to be claimed again once `lockMs` has passed.
 */
export async function claimDeliveries(db: Db, params: { owner: string; limit: number; lockMs: number }): Promise<ClaimedDelivery[]> {
  const lockMs = Math.max(1, Math.round(params.lockMs))
  return db.transaction(async (tx) => {
    const ids = (await tx.query(SELECT_DUE[tx.dialect], [params.limit])).map((r) => toId(r.id))
    if (ids.length === 0) return []
    await tx.execute(TAKE_DUE[tx.dialect], [params.owner, lockMs, ids])
    const rows = await tx.query(READ_CLAIMED[tx.dialect], [ids])
    return rows.map((r) => ({
      id: toId(r.id),
      webhookId: toId(r.webhook_id),
      eventId: String(r.event_id),
      type: String(r.type) as WebhookEvent,
      payload: String(r.payload),
      attempts: Number(r.attempts),
      createdAt: toDate(r.created_at)!,
      url: r.url === null || r.url === undefined ? null : String(r.url),
      secret: r.secret === null || r.secret === undefined ? null : String(r.secret),
    }))
  })
}

/** Identifies one claim of a delivery: the fence of its outcome. */
export interface DeliveryClaim {
  id: number
  owner: string
  attempts: number
}

const MARK_DELIVERED = /* @__PURE__ */ each(
  `UPDATE webhook_deliveries
   SET status = 'delivered',
       delivered_at = NOW(6),
       last_status = ?,
       last_error = NULL,
       locked_by = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'delivering'
   AND locked_by = ?
   AND attempts = ?`,
  `UPDATE webhook_deliveries
   SET status = 'delivered',
       delivered_at = now(),
       last_status = $1,
       last_error = NULL,
       locked_by = NULL,
       updated_at = now()
 WHERE id = $2
   AND status = 'delivering'
   AND locked_by = $3
   AND attempts = $4`,
)

/** The receiver answered 2xx. `false`: this claim is no longer current (it expired and was claimed again). */
export async function markDelivered(db: Queryable, claim: DeliveryClaim & { httpStatus: number }): Promise<boolean> {
  const res = await db.execute(MARK_DELIVERED[db.dialect], [claim.httpStatus, claim.id, claim.owner, claim.attempts])
  return res.affectedRows > 0
}

// MySQL evaluates SET left to right with the new values; `status` uses only columns this statement does not change.
const MARK_FAILED = /* @__PURE__ */ each(
  `UPDATE webhook_deliveries
   SET status = CASE WHEN ? = 1 OR first_attempt_at + INTERVAL ? * 1000 MICROSECOND <= NOW(6) THEN 'dead' ELSE 'pending' END,
       next_attempt_at = LEAST(NOW(6) + INTERVAL ? * 1000 MICROSECOND, first_attempt_at + INTERVAL ? * 1000 MICROSECOND),
       last_status = ?,
       last_error = ?,
       locked_by = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'delivering'
   AND locked_by = ?
   AND attempts = ?`,
  `UPDATE webhook_deliveries
   SET status = CASE WHEN $1 OR first_attempt_at + $2 * interval '1 millisecond' <= now() THEN 'dead' ELSE 'pending' END,
       next_attempt_at = LEAST(now() + $3 * interval '1 millisecond', first_attempt_at + $2 * interval '1 millisecond'),
       last_status = $4,
       last_error = $5,
       locked_by = NULL,
       updated_at = now()
 WHERE id = $6
   AND status = 'delivering'
   AND locked_by = $7
   AND attempts = $8
RETURNING status`,
)

const READ_STATUS = /* @__PURE__ */ each(
  `SELECT status
  FROM webhook_deliveries
 WHERE id = ?`,
  `SELECT status
  FROM webhook_deliveries
 WHERE id = $1`,
)

/**
 * The call failed (no answer, a timeout, a non-2xx status, a refused address). Back to `pending`, due after
 * `backoffMs` but never after the end of the window (so the last attempt happens at the window's end), or `dead`
 * with the error when `permanent` or when `windowMs` has passed since the first attempt. Returns the new status, or
 * null when this claim is no longer current.
 */
export async function markFailed(
  db: Db,
  claim: DeliveryClaim & { httpStatus: number | null; error: string; backoffMs: number; windowMs: number; permanent?: boolean },
): Promise<'pending' | 'dead' | null> {
  const error = claim.error.slice(0, 1000)
  const backoff = Math.max(0, Math.round(claim.backoffMs))
  const windowMs = Math.max(0, Math.round(claim.windowMs))
  if (db.dialect === 'postgres') {
    const [row] = await db.query(MARK_FAILED.postgres, [
      Boolean(claim.permanent), windowMs, backoff, claim.httpStatus, error, claim.id, claim.owner, claim.attempts,
    ])
    return row ? (String(row.status) as 'pending' | 'dead') : null
  }
  return db.transaction(async (tx) => {
    const res = await tx.execute(MARK_FAILED.mysql, [
      claim.permanent ? 1 : 0, windowMs, backoff, windowMs, claim.httpStatus, error, claim.id, claim.owner, claim.attempts,
    ])
    if (res.affectedRows === 0) return null
    const [row] = await tx.query(READ_STATUS.mysql, [claim.id])
    return String(row!.status) as 'pending' | 'dead'
  })
}
