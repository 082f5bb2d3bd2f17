/**
 * Statements of the API's controls over a queued or sent message: cancel (a `pending` row leaves the queue) and
 * revoke (a `revoke` row takes a `sent` message back for everyone). The transitions that combine them, and their
 * webhook events, are `db/lifecycle/cancel.ts` and `db/lifecycle/revoke.ts`.
 */
import { toDate, toId, type Queryable } from '../driver.js'
import { each } from '../sql.js'
import type { MessageStatus, MessageType } from '../types.js'

// Race-safe against a claim by the row lock: a claim that locked the row first has made it `sending` by the time
// this UPDATE gets the lock, and both engines re-read the row before applying the WHERE (PostgreSQL's re-check of an
// updated row, InnoDB's locking read of the newest version), so it matches nothing. A claim that comes second skips
// the locked row (SKIP LOCKED) and then finds it `cancelled`.
const MARK_CANCELLED = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'cancelled',
       hold = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`,
  `UPDATE messages
   SET status = 'cancelled',
       hold = NULL,
       updated_at = now()
 WHERE id = $1
   AND status = 'pending'`,
)

/** `pending` → `cancelled`. `false`: the row is not pending (or does not exist). */
export async function markCancelled(tx: Queryable, id: number): Promise<boolean> {
  return (await tx.execute(MARK_CANCELLED[tx.dialect], [id])).affectedRows > 0
}

const STATUS_OF = /* @__PURE__ */ each(
  `SELECT status
  FROM messages
 WHERE id = ?`,
  `SELECT status
  FROM messages
 WHERE id = $1`,
)

/** The row's status, or null when there is no such message. */
export async function statusOf(db: Queryable, id: number): Promise<MessageStatus | null> {
  const [row] = await db.query(STATUS_OF[db.dialect], [id])
  return row ? (String(row.status) as MessageStatus) : null
}

/** What a revoke needs to know about the message it would take back, read under a row lock. */
export interface RevokeTarget {
  id: number
  session: string
  phone: string
  type: MessageType
  status: MessageStatus
  sentAt: Date | null
  revokedAt: Date | null
  /** `sent_at` is within the revoke window (measured on the database clock). */
  withinWindow: boolean
}

const LOCK_TARGET = /* @__PURE__ */ each(
  `SELECT id, session, phone, type, status, sent_at, revoked_at,
       (sent_at IS NOT NULL AND sent_at > NOW(6) - INTERVAL ? SECOND) AS within_window
  FROM messages
 WHERE id = ?
   FOR UPDATE`,
  `SELECT id, session, phone, type, status, sent_at, revoked_at,
       (sent_at IS NOT NULL AND sent_at > now() - $1 * interval '1 second') AS within_window
  FROM messages
 WHERE id = $2
   FOR UPDATE`,
)

/** The message a revoke would take back, locked so two revokes of one message queue one row. */
export async function lockRevokeTarget(tx: Queryable, id: number, windowSeconds: number): Promise<RevokeTarget | null> {
  const [row] = await tx.query(LOCK_TARGET[tx.dialect], [windowSeconds, id])
  if (!row) return null
  return {
    id: toId(row.id),
    session: String(row.session),
    phone: String(row.phone),
    type: String(row.type) as MessageType,
    status: String(row.status) as MessageStatus,
    sentAt: toDate(row.sent_at),
    revokedAt: toDate(row.revoked_at),
    withinWindow: row.within_window === true || Number(row.within_window) === 1,
  }
}

const OPEN_REVOKE = /* @__PURE__ */ each(
  `SELECT id
  FROM messages
 WHERE target_id = ?
   AND type = 'revoke'
   AND status IN ('pending', 'sending')
 ORDER BY id
 LIMIT 1`,
  `SELECT id
  FROM messages
 WHERE target_id = $1
   AND type = 'revoke'
   AND status IN ('pending', 'sending')
 ORDER BY id
 LIMIT 1`,
)

/** A revoke of `targetId` still queued or in flight, so a repeated request answers with it instead of a second. */
export async function findOpenRevoke(db: Queryable, targetId: number): Promise<number | null> {
  const [row] = await db.query(OPEN_REVOKE[db.dialect], [targetId])
  return row ? toId(row.id) : null
}

const MARK_REVOKED = /* @__PURE__ */ each(
  `UPDATE messages
   SET revoked_at = NOW(6),
       updated_at = NOW(6)
 WHERE id = ?
   AND revoked_at IS NULL`,
  `UPDATE messages
   SET revoked_at = now(),
       updated_at = now()
 WHERE id = $1
   AND revoked_at IS NULL`,
)

/** Stamps `revoked_at` on the message a sent revoke took back. `false`: it was stamped already. */
export async function markRevoked(tx: Queryable, targetId: number): Promise<boolean> {
  return (await tx.execute(MARK_REVOKED[tx.dialect], [targetId])).affectedRows > 0
}
