/**
 * Statements on `messages` that record how a claim ended, hand a takeover's row over, or put a message back: one
 * named function per statement. The transactions that combine them with the session row and with their webhook
 * events are in `db/lifecycle/` (settle.ts, reconcile.ts, resend.ts, session-delete.ts). Outcomes are fenced by
 * `claim_epoch` and `claimed_by`: 0 rows matched means the claim was taken over (db/README.md, Claim and throttle).
 */
import { toDate, toId, toIdOrNull, type Queryable, type Row } from '../driver.js'
import { each } from '../sql.js'
import type { MessageRecord } from '../types.js'
import { parseDetails } from './messages.js'

/** Identifies a claim for the fenced outcome statements. */
export interface ClaimFence {
  /** Message id. */
  id: number
  /** The runner that claimed it. */
  owner: string
  /** `claim_epoch` of the claim (the lease epoch at claim or adoption time). */
  epoch: number
}

const MARK_SENT = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'sent',
       sent_at = NOW(6),
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch = ?
   AND claimed_by = ?`,
  `UPDATE messages
   SET status = 'sent',
       sent_at = now(),
       updated_at = now()
 WHERE id = $1
   AND status = 'sending'
   AND claim_epoch = $2
   AND claimed_by = $3`,
)

/** `sending` → `sent`, stamped now. `false`: fenced out. */
export async function markSent(tx: Queryable, p: ClaimFence): Promise<boolean> {
  return (await tx.execute(MARK_SENT[tx.dialect], [p.id, p.epoch, p.owner])).affectedRows > 0
}

const REQUEUE = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'pending',
       available_at = NOW(6) + INTERVAL ? * 1000 MICROSECOND,
       error = ?,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch = ?
   AND claimed_by = ?`,
  `UPDATE messages
   SET status = 'pending',
       available_at = now() + $1 * interval '1 millisecond',
       error = $2,
       updated_at = now()
 WHERE id = $3
   AND status = 'sending'
   AND claim_epoch = $4
   AND claimed_by = $5`,
)

/** `sending` → `pending`, due after `backoffMs` (whole ms), with the reason. `false`: fenced out. */
export async function requeue(tx: Queryable, p: ClaimFence & { backoffMs: number; error: string }): Promise<boolean> {
  return (await tx.execute(REQUEUE[tx.dialect], [p.backoffMs, p.error, p.id, p.epoch, p.owner])).affectedRows > 0
}

const MARK_FAILED = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'failed',
       error = ?,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch = ?
   AND claimed_by = ?`,
  `UPDATE messages
   SET status = 'failed',
       error = $1,
       updated_at = now()
 WHERE id = $2
   AND status = 'sending'
   AND claim_epoch = $3
   AND claimed_by = $4`,
)

/** `sending` → `failed` with the reason. `false`: fenced out. */
export async function markFailed(tx: Queryable, p: ClaimFence & { error: string }): Promise<boolean> {
  return (await tx.execute(MARK_FAILED[tx.dialect], [p.error, p.id, p.epoch, p.owner])).affectedRows > 0
}

// Keyed by primary key: on MySQL name it, or MariaDB may walk idx_messages_status_id and lock in the
// opposite order to a claim (db/README.md, Index hints).
const MARK_RESENT = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'pending', attempts = 0, available_at = NOW(6), error = NULL, updated_at = NOW(6)
 WHERE id = ?
   AND status IN ('failed', 'opted_out')`,
  `UPDATE messages
   SET status = 'pending', attempts = 0, available_at = now(), error = NULL, updated_at = now()
 WHERE id = $1
   AND status IN ('failed', 'opted_out')`,
)

/** `failed` / `opted_out` → `pending`, due now, attempts reset, WhatsApp id kept. `false`: not in those states. */
export async function markResent(db: Queryable, id: number): Promise<boolean> {
  return (await db.execute(MARK_RESENT[db.dialect], [id])).affectedRows === 1
}

// ---------------------------------------------------------------------------------------------------------------
// A deleted session's queue

const FAIL_PENDING_OF_SESSION = /* @__PURE__ */ each(
  `UPDATE messages
   SET status = 'failed',
       error = 'session deleted',
       hold = NULL,
       updated_at = NOW(6)
 WHERE session = ?
   AND status = 'pending'`,
  `UPDATE messages
   SET status = 'failed',
       error = 'session deleted',
       hold = NULL,
       updated_at = now()
 WHERE session = $1
   AND status = 'pending'`,
)

/** Every `pending` message of `session` → `failed` ('session deleted'), in one statement. Returns how many. */
export async function failPendingOfSession(tx: Queryable, session: string): Promise<number> {
  return (await tx.execute(FAIL_PENDING_OF_SESSION[tx.dialect], [session])).affectedRows
}

const SELECT_PENDING_OF_SESSION = /* @__PURE__ */ each(
  `SELECT id
  FROM messages
 WHERE session = ?
   AND status = 'pending'
 ORDER BY id
   FOR UPDATE`,
  `SELECT id
  FROM messages
 WHERE session = $1
   AND status = 'pending'
 ORDER BY id
   FOR UPDATE`,
)

/** Ids of `session`'s `pending` messages, locked, oldest first. */
export async function selectPendingOfSession(tx: Queryable, session: string): Promise<number[]> {
  return (await tx.query(SELECT_PENDING_OF_SESSION[tx.dialect], [session])).map((r) => toId(r.id))
}

const FAIL_PENDING_BY_ID = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'failed',
       error = 'session deleted',
       hold = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`,
  `UPDATE messages
   SET status = 'failed',
       error = 'session deleted',
       hold = NULL,
       updated_at = now()
 WHERE id = $1
   AND status = 'pending'`,
)

/** One `pending` message of a deleted session → `failed`. `false`: it was no longer pending. */
export async function failPendingById(tx: Queryable, id: number): Promise<boolean> {
  return (await tx.execute(FAIL_PENDING_BY_ID[tx.dialect], [id])).affectedRows > 0
}

// ---------------------------------------------------------------------------------------------------------------
// The one `sending` row of a session after a takeover (db/README.md, Crash windows)

/** The one `sending` row of a session, as reconciliation reads it. */
export type InflightMessage = Pick<
  MessageRecord,
  | 'id' | 'phone' | 'type' | 'body' | 'mediaId' | 'details' | 'replyTo' | 'targetId' | 'waMessageId' | 'attempts' | 'claimEpoch'
  | 'claimedBy' | 'deliveredAt' | 'readAt' | 'error'
>

/** Maps a `findInflight` row. */
export function toInflightMessage(row: Row): InflightMessage {
  return {
    id: toId(row.id),
    phone: String(row.phone),
    type: row.type as InflightMessage['type'],
    body: row.body === null || row.body === undefined ? null : String(row.body),
    mediaId: toIdOrNull(row.media_id),
    details: parseDetails(row.details),
    replyTo: toIdOrNull(row.reply_to),
    targetId: toIdOrNull(row.target_id),
    waMessageId: row.wa_message_id === null ? null : String(row.wa_message_id),
    attempts: Number(row.attempts),
    claimEpoch: row.claim_epoch === null ? null : Number(row.claim_epoch),
    claimedBy: row.claimed_by === null ? null : String(row.claimed_by),
    deliveredAt: toDate(row.delivered_at),
    readAt: toDate(row.read_at),
    error: row.error === null ? null : String(row.error),
  }
}

// FOR UPDATE: holds the row against a late finalize of the old owner, and against a
// receipt landing between this read and the decision, so the decision is made on the row as it stays.
const FIND_INFLIGHT = /* @__PURE__ */ each(
  `SELECT id, phone, type, body, media_id, details, reply_to, target_id, wa_message_id, attempts, claim_epoch, claimed_by,
       delivered_at, read_at, error
  FROM messages
 WHERE sending_session = ?
   FOR UPDATE`,
  `SELECT id, phone, type, body, media_id, details, reply_to, target_id, wa_message_id, attempts, claim_epoch, claimed_by,
       delivered_at, read_at, error
  FROM messages
 WHERE session = $1
   AND status = 'sending'
   FOR UPDATE`,
)

/**
 * The session's one `sending` row, if any (via uq_messages_one_sending). Also the way to learn whether a claim
 * whose COMMIT lost its connection went through: send only if it is `sending` under this runner's epoch.
 */
export async function findInflight(tx: Queryable, session: string): Promise<InflightMessage | null> {
  const [row] = await tx.query(FIND_INFLIGHT[tx.dialect], [session])
  return row ? toInflightMessage(row) : null
}

const SETTLE_INFLIGHT_SENT = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'sent',
       sent_at = COALESCE(sent_at, NOW(6)),
       claimed_by = ?,
       claim_epoch = ?,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch < ?`,
  `UPDATE messages
   SET status = 'sent',
       sent_at = COALESCE(sent_at, now()),
       claimed_by = $1,
       claim_epoch = $2,
       updated_at = now()
 WHERE id = $3
   AND status = 'sending'
   AND claim_epoch < $4`,
)

/** A receipt is on record for the interrupted claim: it reached WhatsApp, so it is `sent`. */
export async function settleInflightSent(tx: Queryable, p: ClaimFence): Promise<boolean> {
  return (await tx.execute(SETTLE_INFLIGHT_SENT[tx.dialect], [p.owner, p.epoch, p.id, p.epoch])).affectedRows > 0
}

const ADOPT_INFLIGHT = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET claimed_by = ?,
       claim_epoch = ?,
       claimed_at = NOW(6),
       attempts = attempts + 1,
       error = 'interrupted: resent after takeover',
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch < ?
   AND error IS NULL`,
  `UPDATE messages
   SET claimed_by = $1,
       claim_epoch = $2,
       claimed_at = now(),
       attempts = attempts + 1,
       error = 'interrupted: resent after takeover',
       updated_at = now()
 WHERE id = $3
   AND status = 'sending'
   AND claim_epoch < $4
   AND error IS NULL`,
)

/** First interruption: take the claim over under this epoch, marking it so a second interruption fails it. */
export async function adoptInflight(tx: Queryable, p: ClaimFence): Promise<boolean> {
  return (await tx.execute(ADOPT_INFLIGHT[tx.dialect], [p.owner, p.epoch, p.id, p.epoch])).affectedRows > 0
}

const FAIL_INFLIGHT = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'failed',
       error = 'interrupted twice: not resent',
       claimed_by = ?,
       claim_epoch = ?,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch < ?`,
  `UPDATE messages
   SET status = 'failed',
       error = 'interrupted twice: not resent',
       claimed_by = $1,
       claim_epoch = $2,
       updated_at = now()
 WHERE id = $3
   AND status = 'sending'
   AND claim_epoch < $4`,
)

/** The adopted resend was interrupted too: fail it, so a message that keeps killing runners goes out at most twice. */
export async function failInflight(tx: Queryable, p: ClaimFence): Promise<boolean> {
  return (await tx.execute(FAIL_INFLIGHT[tx.dialect], [p.owner, p.epoch, p.id, p.epoch])).affectedRows > 0
}
