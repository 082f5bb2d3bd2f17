/**
 * The claim and its aftermath (db/README.md): claim under the lease with the throttle slot, finalize fenced
 * by `claim_epoch`, facts from WhatsApp keyed by `wa_message_id`, opt-out, reconciliation on takeover, and the
 * wake-up probe.
 *
 * Lock order everywhere: the `sessions` row first, then `messages` (db/README.md), and each row by its primary key
 * before any secondary index entry: on MySQL/MariaDB the statements name their index (`mysql-hints.ts`). Every
 * transaction here does nothing but SQL, because `transaction()` may re-run it on contention.
 */
import type { Db, Queryable, Row } from '../driver.js'
import { toDate, toId, toIdOrNull } from '../driver.js'
import { each, same } from '../sql.js'
import { forceIndexOnMysql } from './mysql-hints.js'
import {
  holdAfterClaim, holdMessageUntil, isFirstContact, NO_LIMITS, planLimits, toLimitState, writeHold,
  type LimitDefaults, type LimitState,
} from './limits.js'
import type { MessageRecord, OptIn } from '../types.js'
import { pauseSession, type PauseSessionParams } from './leases.js'
import { markConsentRequested } from './contacts.js'
import { atomically, changeEachWithEvents, emitMessageEvent, emitMessageEventByWaId } from './webhooks.js'

/** A message moved to `sending` under this runner's epoch: what the runner needs to send it. */
export type ClaimedMessage = Pick<
  MessageRecord,
  'id' | 'session' | 'phone' | 'type' | 'body' | 'mediaId' | 'attempts' | 'waMessageId' | 'claimEpoch'
> & { waMessageId: string; claimEpoch: number }

/** The one `sending` row of a session, as reconciliation reads it. */
export type InflightMessage = Pick<
  MessageRecord,
  'id' | 'phone' | 'type' | 'body' | 'mediaId' | 'waMessageId' | 'attempts' | 'claimEpoch' | 'claimedBy' | 'deliveredAt' | 'readAt' | 'error'
>

/** Per owned session, how long until its earliest `pending` row is due (`null`: none pending). */
export interface SessionDue {
  name: string
  dueInMs: number | null
}

/** Result of `claimNextMessage`. */
export type ClaimResult =
  /** Send it now under `message.waMessageId`, then finalize with the same epoch. */
  | { kind: 'claimed'; message: ClaimedMessage }
  /**
   * The throttle slot or a pause is not due yet (or the opt-out round limit was hit: `waitMs = 0`): sleep, then claim
   * again. `hold`: the session holds for a limit (quiet hours, daily cap); the sentence is on the row as `hold_reason`.
   */
  | { kind: 'wait'; waitMs: number; hold?: string }
  /** Nothing sendable is due: wait for a wake-up (NOTIFY or `probeDue`). */
  | { kind: 'idle' }
  /** The lease is gone (other owner, other epoch, or expired): stop the loop and close the socket. */
  | { kind: 'fenced' }

/** Result of `reconcileInflight` (db/README.md, Crash windows). */
export type ReconcileResult =
  /** No `sending` row: start the claim loop. */
  | { kind: 'none' }
  /** A receipt was on record: the row is now `sent`. */
  | { kind: 'settled'; id: number }
  /** Resend once under the stored id, then finalize with this lease's epoch. */
  | { kind: 'resend'; message: ClaimedMessage }
  /** Interrupted twice: the row is now `failed` and is not resent. */
  | { kind: 'failed'; id: number }
  /** The row must be resent but the throttle slot is not due: sleep `waitMs`, then reconcile again. */
  | { kind: 'wait'; waitMs: number }
  /** The lease is gone. */
  | { kind: 'fenced' }

/** Error text of a message held back under `OPT_IN_MODE=confirm` (see `holdForOptIn`). */
export const AWAITING_OPT_IN = 'awaiting opt-in'
/** Error text of a message whose contact opted out. */
export const OPTED_OUT_ERROR = 'contact opted out'
/**
 * A session holding for a limit claims again at least this often (one short transaction), so a settings change
 * (PATCH /api/sessions/:name) takes effect within this time without any message from the API to the runner.
 */
export const HOLD_RECHECK_MS = 15_000
/** Most candidates one claim transaction looks at before giving back `wait 0` (db/README.md, Claim and throttle). */
export const MAX_CLAIM_ROUNDS = 20

function wholeMs(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`duration must be a non-negative number of ms, got ${ms}`)
  return Math.round(ms)
}

/** Maps a claimed or adopted row; `attempts`, `waMessageId` and `claimEpoch` are the values after the update. */
export function toClaimedMessage(row: Row): ClaimedMessage {
  return {
    id: toId(row.id),
    session: String(row.session),
    phone: String(row.phone),
    type: row.type as ClaimedMessage['type'],
    body: row.body === null || row.body === undefined ? null : String(row.body),
    mediaId: toIdOrNull(row.media_id),
    attempts: Number(row.attempts),
    waMessageId: String(row.wa_message_id),
    claimEpoch: Number(row.claim_epoch),
  }
}

/** Maps a `findInflight` row. */
export function toInflightMessage(row: Row): InflightMessage {
  return {
    id: toId(row.id),
    phone: String(row.phone),
    type: row.type as InflightMessage['type'],
    body: row.body === null || row.body === undefined ? null : String(row.body),
    mediaId: toIdOrNull(row.media_id),
    waMessageId: row.wa_message_id === null ? null : String(row.wa_message_id),
    attempts: Number(row.attempts),
    claimEpoch: row.claim_epoch === null ? null : Number(row.claim_epoch),
    claimedBy: row.claimed_by === null ? null : String(row.claimed_by),
    deliveredAt: toDate(row.delivered_at),
    readAt: toDate(row.read_at),
    error: row.error === null ? null : String(row.error),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 6.3 The claim

// Rounds UP to whole milliseconds: a floor would report 0 while up to 999 µs of the gap remain, and the
// claim would then start that much early. CEIL makes `wait_ms = 0` mean "next_send_at ≤ now" exactly.
// LEAST(60000, …): a long pause is slept in one-minute steps so the loop still notices fencing and commands.
// The limit columns and the database clock (now_ms) come with the lock for the sending limits (limits.ts): no extra
// round trip. UNIX_TIMESTAMP reads NOW(6) in the session zone, which is UTC (db/README.md, The two dialects).
const LIMIT_COLUMNS = `daily_cap, warmup_start, warmup_days, first_contact_cap, breaker_failures, quiet_hours, time_zone,
       paired_at, quota_day, sent_today, first_contact_today, hold_until, hold_reason`
const LOCK_SESSION_FOR_CLAIM = forceIndexOnMysql(each(
  `SELECT lease_epoch,
       LEAST(60000, GREATEST(0, CEIL(TIMESTAMPDIFF(MICROSECOND, NOW(6),
             GREATEST(next_send_at, COALESCE(paused_until, next_send_at))) / 1000))) AS wait_ms,
       FLOOR(UNIX_TIMESTAMP(NOW(6)) * 1000) AS now_ms,
       ${LIMIT_COLUMNS}
  FROM sessions
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND lease_until > NOW(6)
   FOR UPDATE`,
  `SELECT lease_epoch,
       LEAST(60000, GREATEST(0, ceil(extract(epoch FROM
             GREATEST(next_send_at, COALESCE(paused_until, next_send_at)) - now()) * 1000)))::int AS wait_ms,
       floor(extract(epoch FROM now()) * 1000)::float8 AS now_ms,
       ${LIMIT_COLUMNS}
  FROM sessions
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   AND lease_until > now()
   FOR UPDATE`,
), 'sessions')

/**
 * Locks the session row for a claim or a reconciliation, checking the lease: `null` when the lease is lost
 * (fence), else the milliseconds until the throttle slot and any pause are over, and the row's limit state.
 */
export async function lockSessionForClaim(
  tx: Queryable,
  params: { session: string; owner: string; epoch: number },
): Promise<{ waitMs: number; limits: LimitState } | null> {
  const [row] = await tx.query(LOCK_SESSION_FOR_CLAIM[tx.dialect], [params.session, params.owner, params.epoch])
  return row ? { waitMs: Number(row.wait_ms), limits: toLimitState(row) } : null
}

// FORCE INDEX: the equality prefix (session, status) plus ORDER BY available_at, id lets LIMIT 1 stop at the first
// index entry with no filesort (db/README.md). Postgres gets the same from the partial index, provided the status
// literal stays in the text (db/README.md, The two dialects).
const SELECT_NEXT_PENDING = each(
  `SELECT id, phone, type, body, media_id, attempts, wa_message_id
  FROM messages FORCE INDEX (idx_messages_claim)
 WHERE session = ?
   AND status = 'pending'
   AND available_at <= NOW(6)
 ORDER BY available_at, id
 LIMIT 1
   FOR UPDATE SKIP LOCKED`,
  `SELECT id, phone, type, body, media_id, attempts, wa_message_id
  FROM messages
 WHERE session = $1
   AND status = 'pending'
   AND available_at <= now()
 ORDER BY available_at, id
 LIMIT 1
   FOR UPDATE SKIP LOCKED`,
)

/** The SQL of `selectNextPending`, for the EXPLAIN tests and the benchmark. */
export const SELECT_NEXT_PENDING_SQL = SELECT_NEXT_PENDING

const READ_OPT_IN = same(`SELECT opt_in
  FROM contacts
 WHERE phone = ?`)

const MARK_OPTED_OUT = forceIndexOnMysql(same(`UPDATE messages
   SET status = 'opted_out',
       error = 'contact opted out',
       hold = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`), 'messages')

// Under OPT_IN_MODE=confirm a message to a contact who has not said YES stays `pending` but is moved out of the
// claim's way: available_at goes `holdMs` ahead and `error` carries the marker. The claim index then never walks
// over a pile of held rows, the rest of the session's queue keeps flowing, and a held row is looked at again
// after `holdMs` (so it goes out even if nobody calls releaseHeldMessages). markSending clears the marker.
const HOLD_FOR_OPT_IN = forceIndexOnMysql(each(
  `UPDATE messages
   SET available_at = NOW(6) + INTERVAL ? * 1000 MICROSECOND,
       hold = 'consent',
       error = 'awaiting opt-in',
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`,
  `UPDATE messages
   SET available_at = now() + $1 * interval '1 millisecond',
       hold = 'consent',
       error = 'awaiting opt-in',
       updated_at = now()
 WHERE id = $2
   AND status = 'pending'`,
), 'messages')

const MARK_SENDING = forceIndexOnMysql(same(`UPDATE messages
   SET status = 'sending',
       attempts = attempts + 1,
       claimed_by = ?,
       claim_epoch = ?,
       claimed_at = NOW(6),
       wa_message_id = COALESCE(wa_message_id, ?),
       hold = NULL,
       error = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`), 'messages')

const TAKE_SEND_SLOT = forceIndexOnMysql(each(
  `UPDATE sessions
   SET next_send_at = NOW(6) + INTERVAL ? * 1000 MICROSECOND,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET next_send_at = now() + $1 * interval '1 millisecond',
       updated_at = now()
 WHERE name = $2
   AND owner = $3
   AND lease_epoch = $4`,
), 'sessions')

// The claim's slot statement: the throttle slot, today's counters and the hold in one write of the locked row.
const TAKE_SEND_SLOT_COUNTING = forceIndexOnMysql(each(
  `UPDATE sessions
   SET next_send_at = NOW(6) + INTERVAL ? * 1000 MICROSECOND,
       quota_day = ?,
       sent_today = ?,
       first_contact_today = ?,
       hold_until = ?,
       hold_reason = ?,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET next_send_at = now() + $1 * interval '1 millisecond',
       quota_day = $2,
       sent_today = $3,
       first_contact_today = $4,
       hold_until = $5,
       hold_reason = $6,
       updated_at = now()
 WHERE name = $7
   AND owner = $8
   AND lease_epoch = $9`,
), 'sessions')

/** Takes the session's throttle slot (the session row must be locked by `lockSessionForClaim`). */
export async function takeSendSlot(tx: Queryable, p: { session: string; owner: string; epoch: number; gapMs: number }): Promise<void> {
  await tx.execute(TAKE_SEND_SLOT[tx.dialect], [p.gapMs, p.session, p.owner, p.epoch])
}

export interface ClaimNextMessageParams {
  session: string
  /** This runner's id. */
  owner: string
  /** The session's `lease_epoch` (from acquire/renew); becomes the message's `claim_epoch`. */
  epoch: number
  /** The drawn throttle gap for the next claim: `min + random × (max − min)` (db/README.md, Claim and throttle). */
  gapMs: number
  /** `open`: pending contacts receive messages. `confirm`: only contacts with `opt_in = 'yes'` do (runner/README.md). */
  optInMode: 'open' | 'confirm'
  /** Creates a WhatsApp id (Baileys `generateMessageIDV2`) for a message that has none yet. */
  newWaId: () => string
  /** How far a held message moves back under `confirm` (default 15 min); see `releaseHeldMessages`. */
  holdMs?: number
  /** The runner's default sending limits (limits.ts); absent = all off. Counters are kept either way. */
  limits?: LimitDefaults
}

/**
 * Claims the session's next due message in ONE transaction (db/README.md): lockSessionForClaim → sending limits
 * (quiet hours, daily cap: hold the session) → up to 20 rounds of selectNextPending / readOptIn (→ markOptedOut, or
 * hold under `confirm`) / first-contact check (→ hold the message until the next local midnight once that cap is
 * reached) → markSending → takeSendSlot with today's counters.
 *
 * - `fenced`: the lease is lost; nothing changed.
 * - `wait`: the slot or a pause is not due (nothing changed), or 20 candidates were opted out/held (their marks
 *   commit, the slot stays free, `waitMs = 0`).
 * - `idle`: no due message is sendable (opt-out marks still commit).
 * - `claimed`: the message is `sending` under `epoch` with its WhatsApp id committed before any socket write.
 *
 * A contact without a `contacts` row counts as `pending` (the column's default). Throws `UniqueViolationError`
 * (and changes nothing) if the session already has a `sending` row: reconcile first, and alert.
 * @example
 * const r = await claimNextMessage(db, { session, owner, epoch, gapMs: throttle.next(), optInMode: 'open', newWaId })
 * if (r.kind === 'claimed') await send(r.message)
 */
export async function claimNextMessage(db: Db, params: ClaimNextMessageParams): Promise<ClaimResult> {
  const { session, owner, epoch, optInMode, newWaId } = params
  const gapMs = wholeMs(params.gapMs)
  const holdMs = wholeMs(params.holdMs ?? 15 * 60_000)
  return db.transaction(async (tx): Promise<ClaimResult> => {
    const lock = await lockSessionForClaim(tx, { session, owner, epoch })
    if (!lock) return { kind: 'fenced' }
    if (lock.waitMs > 0) return { kind: 'wait', waitMs: lock.waitMs }
    const fence = { name: session, owner, epoch }
    const plan = planLimits(lock.limits, params.limits ?? NO_LIMITS)
    if (plan.hold) {
      // Quiet hours or today's cap: nothing is claimed and no slot is taken; the row says why and until when.
      await writeHold(tx, fence, lock.limits, { until: new Date(plan.hold.until), reason: plan.hold.reason })
      return { kind: 'wait', waitMs: Math.min(HOLD_RECHECK_MS, Math.max(1, plan.hold.until - lock.limits.nowMs)), hold: plan.hold.reason }
    }
    // A first-contact message held back in this transaction shows its reason on the session row too.
    let heldFirstContact = false
    const showFirstContactHold = async () => {
      if (heldFirstContact && plan.firstContactFull) {
        await writeHold(tx, fence, lock.limits, { until: new Date(plan.firstContactFull.until), reason: plan.firstContactFull.reason })
      }
    }
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const [row] = await tx.query(SELECT_NEXT_PENDING[tx.dialect], [session])
      if (!row) {
        await showFirstContactHold()
        return { kind: 'idle' }
      }
      const id = toId(row.id)
      const phone = String(row.phone)
      const [contact] = await tx.query<{ opt_in: OptIn }>(READ_OPT_IN[tx.dialect], [phone])
      const optIn: OptIn = contact?.opt_in ?? 'pending'
      if (optIn === 'no') {
        const out = await tx.execute(MARK_OPTED_OUT[tx.dialect], [id])
        if (out.affectedRows > 0) await emitMessageEvent(tx, 'message.opted_out', id)
        continue
      }
      if (optIn === 'pending' && optInMode === 'confirm') {
        await tx.execute(HOLD_FOR_OPT_IN[tx.dialect], [holdMs, id])
        continue
      }
      const first = plan.limits.firstContactCap > 0 && (await isFirstContact(tx, session, phone))
      if (first && plan.firstContactFull) {
        await holdMessageUntil(tx, id, new Date(plan.firstContactFull.until), plan.firstContactFull.reason)
        heldFirstContact = true
        continue
      }
      const storedWaId = row.wa_message_id === null || row.wa_message_id === undefined ? null : String(row.wa_message_id)
      const waMessageId = storedWaId ?? newWaId()
      const res = await tx.execute(MARK_SENDING[tx.dialect], [owner, epoch, waMessageId, id])
      // The row is locked by this transaction and was pending, so 0 cannot happen; guard anyway.
      if (res.affectedRows === 0) continue
      const hold = holdAfterClaim(lock.limits, plan)
      await tx.execute(TAKE_SEND_SLOT_COUNTING[tx.dialect], [
        gapMs, plan.today, plan.sent + 1, plan.firstContact + (first ? 1 : 0), hold.until, hold.reason, session, owner, epoch,
      ])
      return {
        kind: 'claimed',
        message: toClaimedMessage({
          ...row,
          session,
          attempts: Number(row.attempts) + 1,
          wa_message_id: waMessageId,
          claim_epoch: epoch,
        }),
      }
    }
    await showFirstContactHold()
    return { kind: 'wait', waitMs: 0 }
  })
}

const RELEASE_HELD_MESSAGES = forceIndexOnMysql(same(`UPDATE messages
   SET available_at = NOW(6),
       hold = NULL,
       error = NULL,
       updated_at = NOW(6)
 WHERE phone = ?
   AND status = 'pending'
   AND hold = 'consent'`), 'messages', 'idx_messages_phone')

/**
 * Makes the messages held for a contact's consent due now; call it when the contact opts in (YES, or any other
 * inbound message from a `pending` contact). Rows in transient backoff are not touched (their `error` differs).
 * Returns how many were released.
 */
export async function releaseHeldMessages(db: Queryable, phone: string): Promise<number> {
  const res = await db.execute(RELEASE_HELD_MESSAGES[db.dialect], [phone])
  return res.affectedRows
}

// ---------------------------------------------------------------------------------------------------------------
// 6.4 Finalize, fenced by claim_epoch + claimed_by

const HOLD_SEND_GAP = forceIndexOnMysql(each(
  `UPDATE sessions
   SET next_send_at = GREATEST(next_send_at, NOW(6) + INTERVAL ? * 1000 MICROSECOND),
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET next_send_at = GREATEST(next_send_at, now() + $1 * interval '1 millisecond'),
       updated_at = now()
 WHERE name = $2
   AND owner = $3
   AND lease_epoch = $4`,
), 'sessions')

const FINALIZE_SENT = forceIndexOnMysql(same(`UPDATE messages
   SET status = 'sent',
       sent_at = NOW(6),
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch = ?
   AND claimed_by = ?`), 'messages')

// MySQL only. NOW(6) is per statement there, so holding the gap before stamping sent_at would let two sent_at values
// come out closer than the minimum by the time between the two statements (measured: 49.925 ms for a 50 ms minimum).
// So MySQL locks the session row first (lock order kept), stamps the message, then holds the gap from a NOW(6) that is
// not earlier than sent_at. Postgres' now() is fixed per transaction, so its two stamps are equal anyway.
const LOCK_SESSION_ROW_MYSQL = `SELECT name
  FROM sessions FORCE INDEX (PRIMARY)
 WHERE name = ?
   FOR UPDATE`

/** Identifies a claim for the fenced finalize statements. */
export interface ClaimFence {
  /** Message id. */
  id: number
  /** The runner that claimed it. */
  owner: string
  /** `claim_epoch` of the claim (the lease epoch at claim or adoption time). */
  epoch: number
}

/**
 * The socket write succeeded: `sending` → `sent`, and the session's next slot is held at least `minGapMs` after
 * now, so a slow upload cannot bring two stanzas closer than the minimum (db/README.md). One transaction, session
 * row first. `false`: the claim was taken over; stop, the new owner reconciles.
 */
export async function finalizeSent(db: Db, params: ClaimFence & { session: string; minGapMs: number }): Promise<boolean> {
  const gap = wholeMs(params.minGapMs)
  // The slot hold is guarded by the lease: a runner that lost it must not move the new owner's slot. The message
  // update is fenced separately, by the claim.
  return db.transaction(async (tx) => {
    if (tx.dialect === 'mysql') {
      await tx.query(LOCK_SESSION_ROW_MYSQL, [params.session])
      const res = await tx.execute(FINALIZE_SENT.mysql, [params.id, params.epoch, params.owner])
      await tx.execute(HOLD_SEND_GAP.mysql, [gap, params.session, params.owner, params.epoch])
      if (res.affectedRows > 0) await emitMessageEvent(tx, 'message.sent', params.id)
      return res.affectedRows > 0
    }
    await tx.execute(HOLD_SEND_GAP.postgres, [gap, params.session, params.owner, params.epoch])
    const res = await tx.execute(FINALIZE_SENT.postgres, [params.id, params.epoch, params.owner])
    // The webhook event commits with the change it reports (db/queries/webhooks.ts); none is written without webhooks.
    if (res.affectedRows > 0) await emitMessageEvent(tx, 'message.sent', params.id)
    return res.affectedRows > 0
  })
}

const REQUEUE_WITH_BACKOFF = forceIndexOnMysql(each(
  `UPDATE messages
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
), 'messages')

/**
 * Transient error with attempts left: back to `pending`, due after `backoffMs` (see `backoffMs()`), keeping its
 * WhatsApp id. `false`: fenced out.
 */
export async function requeueWithBackoff(db: Queryable, params: ClaimFence & { backoffMs: number; error: string }): Promise<boolean> {
  const res = await db.execute(REQUEUE_WITH_BACKOFF[db.dialect], [
    wholeMs(params.backoffMs), params.error, params.id, params.epoch, params.owner,
  ])
  return res.affectedRows > 0
}

const FINALIZE_FAILED = forceIndexOnMysql(same(`UPDATE messages
   SET status = 'failed',
       error = ?,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch = ?
   AND claimed_by = ?`), 'messages')

/**
 * Permanent error, or the last attempt failed: `sending` → `failed` with the reason, and its `message.failed` event
 * in the same transaction (its own, or the caller's when given one). `false`: fenced out.
 */
export async function finalizeFailed(db: Queryable, params: ClaimFence & { error: string }): Promise<boolean> {
  return atomically(db, async (tx) => {
    const res = await tx.execute(FINALIZE_FAILED[tx.dialect], [params.error, params.id, params.epoch, params.owner])
    if (res.affectedRows > 0) await emitMessageEvent(tx, 'message.failed', params.id)
    return res.affectedRows > 0
  })
}

/** Backoff constants (db/README.md, Claim and throttle). */
export const BACKOFF_BASE_MS = 30_000
export const BACKOFF_CAP_MS = 30 * 60_000
export const BACKOFF_JITTER = 0.2

/**
 * Delay before retry number `attempts` (the claim count after the failed one): 30 s × 2^(attempts−1), capped at
 * 30 min, then ±20 % jitter. `random` is injectable for tests.
 */
export function backoffMs(attempts: number, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempts))
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (n - 1))
  return Math.round(base * (1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * random()))
}

// ---------------------------------------------------------------------------------------------------------------
// 6.5 Facts from WhatsApp, keyed by wa_message_id and not fenced: a receipt is true whoever holds the lease.

// acked_at comes from migration 0002 (the server's <ack class="message">, beside sent_at = socket write).
const RECORD_SERVER_ACK = forceIndexOnMysql(same(`UPDATE messages
   SET acked_at = COALESCE(acked_at, NOW(6)),
       updated_at = NOW(6)
 WHERE wa_message_id = ?`), 'messages', 'uq_messages_wa_id')

/** WhatsApp's server acknowledged the stanza. Keeps the first time. `false`: no message has that id. */
export async function recordServerAck(db: Queryable, waMessageId: string): Promise<boolean> {
  const res = await db.execute(RECORD_SERVER_ACK[db.dialect], [waMessageId])
  return res.affectedRows > 0
}

const RECORD_DELIVERED = forceIndexOnMysql(same(`UPDATE messages
   SET delivered_at = COALESCE(delivered_at, NOW(6)),
       updated_at = NOW(6)
 WHERE wa_message_id = ?`), 'messages', 'uq_messages_wa_id')

// The first receipt only: a row matched here is a real transition, which is what message.delivered reports.
const RECORD_FIRST_DELIVERED = forceIndexOnMysql(same(`UPDATE messages
   SET delivered_at = NOW(6),
       updated_at = NOW(6)
 WHERE wa_message_id = ?
   AND delivered_at IS NULL`), 'messages', 'uq_messages_wa_id')

/**
 * A delivery receipt. Keeps the first time; the first one also writes `message.delivered` in the same transaction
 * (a repeated receipt writes no event). `false`: no message has that id (e.g. pruned).
 */
export async function recordDelivered(db: Queryable, waMessageId: string): Promise<boolean> {
  return atomically(db, async (tx) => {
    if ((await tx.execute(RECORD_FIRST_DELIVERED[tx.dialect], [waMessageId])).affectedRows > 0) {
      await emitMessageEventByWaId(tx, 'message.delivered', waMessageId)
      return true
    }
    // Already delivered (or unknown): the old statement, for its answer and updated_at.
    return (await tx.execute(RECORD_DELIVERED[tx.dialect], [waMessageId])).affectedRows > 0
  })
}

const RECORD_READ = forceIndexOnMysql(same(`UPDATE messages
   SET read_at = COALESCE(read_at, NOW(6)),
       delivered_at = COALESCE(delivered_at, NOW(6)),
       updated_at = NOW(6)
 WHERE wa_message_id = ?`), 'messages', 'uq_messages_wa_id')

const LOCK_RECEIPTS = forceIndexOnMysql(same(`SELECT delivered_at, read_at
  FROM messages
 WHERE wa_message_id = ?
   FOR UPDATE`), 'messages', 'uq_messages_wa_id')

/**
 * A read receipt; implies delivery. Keeps the first times. In the same transaction, the first read writes
 * `message.read`, preceded by `message.delivered` when no delivery receipt came first. `false`: no message has that id.
 */
export async function recordRead(db: Queryable, waMessageId: string): Promise<boolean> {
  return atomically(db, async (tx) => {
    const [before] = await tx.query(LOCK_RECEIPTS[tx.dialect], [waMessageId])
    if (!before) return false
    await tx.execute(RECORD_READ[tx.dialect], [waMessageId])
    if (before.delivered_at === null) await emitMessageEventByWaId(tx, 'message.delivered', waMessageId)
    if (before.read_at === null) await emitMessageEventByWaId(tx, 'message.read', waMessageId)
    return true
  })
}

const FAIL_BY_WA_ID = forceIndexOnMysql(same(`UPDATE messages
   SET status = 'failed',
       error = ?,
       updated_at = NOW(6)
 WHERE wa_message_id = ?
   AND status IN ('sending', 'sent')`), 'messages', 'uq_messages_wa_id')

export interface FailByWaIdParams {
  waMessageId: string
  /** e.g. `negative ack 463: account restricted from reaching out`. */
  error: string
  /** For 463 only: pause the session (fenced by its lease) in the same transaction. */
  pause?: PauseSessionParams
}

/**
 * A negative ack: the message fails; on 463 the session also pauses (24 h by default, reason in `detail`), in one
 * transaction on the session's loop, session row first (db/README.md, Claim and throttle). Returns what matched.
 */
export async function failByWaId(db: Db, params: FailByWaIdParams): Promise<{ failed: boolean; paused: boolean }> {
  return db.transaction(async (tx) => {
    const paused = params.pause ? await pauseSession(tx, params.pause) : false
    const res = await tx.execute(FAIL_BY_WA_ID[tx.dialect], [params.error, params.waMessageId])
    if (res.affectedRows > 0) await emitMessageEventByWaId(tx, 'message.failed', params.waMessageId)
    return { failed: res.affectedRows > 0, paused }
  })
}

const MARK_PENDING_OPTED_OUT = forceIndexOnMysql(same(`UPDATE messages
   SET status = 'opted_out',
       error = 'contact opted out',
       hold = NULL,
       updated_at = NOW(6)
 WHERE phone = ?
   AND status = 'pending'`), 'messages', 'idx_messages_phone')

/** The SQL of `markPendingOptedOut`, for the EXPLAIN tests. */
export const MARK_PENDING_OPTED_OUT_SQL = MARK_PENDING_OPTED_OUT

const SELECT_PENDING_OF_PHONE = forceIndexOnMysql(same(`SELECT id
  FROM messages
 WHERE phone = ?
   AND status = 'pending'
 ORDER BY id
   FOR UPDATE`), 'messages', 'idx_messages_phone')

/**
 * After a STOP is committed (`contacts.opt_in = 'no'`), turns that phone's `pending` rows into `opted_out`
 * (via idx_messages_phone). A row a claim holds is waited for and by then is `sending`, so it no
 * longer matches; the claim's own opt-in check is the guarantee. When a webhook wants `message.opted_out` the rows
 * are changed one by one, each with its event (`changeEachWithEvents`); otherwise in one statement.
 * Returns how many rows changed.
 */
export async function markPendingOptedOut(db: Queryable, phone: string): Promise<number> {
  return atomically(db, (tx) =>
    changeEachWithEvents(tx, 'message.opted_out', {
      bulk: async () => (await tx.execute(MARK_PENDING_OPTED_OUT[tx.dialect], [phone])).affectedRows,
      selectIds: async () => (await tx.query(SELECT_PENDING_OF_PHONE[tx.dialect], [phone])).map((r) => toId(r.id)),
      changeOne: async (id) => (await tx.execute(MARK_OPTED_OUT[tx.dialect], [id])).affectedRows > 0,
    }),
  )
}

// ---------------------------------------------------------------------------------------------------------------
// 6.7 Reconciliation on takeover

// FOR UPDATE: holds the row against a late finalize of the old owner, and against a
// receipt landing between this read and the decision, so the decision is made on the row as it stays.
const FIND_INFLIGHT = each(
  `SELECT id, phone, type, body, media_id, wa_message_id, attempts, claim_epoch, claimed_by, delivered_at, read_at, error
  FROM messages
 WHERE sending_session = ?
   FOR UPDATE`,
  `SELECT id, phone, type, body, media_id, wa_message_id, attempts, claim_epoch, claimed_by, delivered_at, read_at, error
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

const SETTLE_INFLIGHT_SENT = forceIndexOnMysql(same(`UPDATE messages
   SET status = 'sent',
       sent_at = COALESCE(sent_at, NOW(6)),
       claimed_by = ?,
       claim_epoch = ?,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch < ?`), 'messages')

/** A receipt is on record for the interrupted claim: it reached WhatsApp, so it is `sent`. */
export async function settleInflightSent(tx: Queryable, p: ClaimFence): Promise<boolean> {
  const res = await tx.execute(SETTLE_INFLIGHT_SENT[tx.dialect], [p.owner, p.epoch, p.id, p.epoch])
  return res.affectedRows > 0
}

const ADOPT_INFLIGHT = forceIndexOnMysql(same(`UPDATE messages
   SET claimed_by = ?,
       claim_epoch = ?,
       claimed_at = NOW(6),
       attempts = attempts + 1,
       error = 'interrupted: resent after takeover',
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch < ?
   AND error IS NULL`), 'messages')

/** First interruption: take the claim over under this epoch, marking it so a second interruption fails it. */
export async function adoptInflight(tx: Queryable, p: ClaimFence): Promise<boolean> {
  const res = await tx.execute(ADOPT_INFLIGHT[tx.dialect], [p.owner, p.epoch, p.id, p.epoch])
  return res.affectedRows > 0
}

const FAIL_INFLIGHT = forceIndexOnMysql(same(`UPDATE messages
   SET status = 'failed',
       error = 'interrupted twice: not resent',
       claimed_by = ?,
       claim_epoch = ?,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'sending'
   AND claim_epoch < ?`), 'messages')

/** The adopted resend was interrupted too: fail it, so a message that keeps killing runners goes out at most twice. */
export async function failInflight(tx: Queryable, p: ClaimFence): Promise<boolean> {
  const res = await tx.execute(FAIL_INFLIGHT[tx.dialect], [p.owner, p.epoch, p.id, p.epoch])
  return res.affectedRows > 0
}

/**
 * Reconciles the session's `sending` row once per acquired lease, after the socket is up and pending notifications
 * (receipts) have landed (db/README.md). One transaction opened by lockSessionForClaim. First match wins:
 * 1. a receipt is on record → `settled`;
 * 2. `error` IS NULL (not resent yet) → adopt it, take the send slot (`gapMs`) → `resend` (or `wait` while the
 *    slot is not due);
 * 3. otherwise → `failed`.
 * A row already claimed under this very lease is handed back as `resend` unchanged: the caller lost its claim result
 * (a COMMIT whose reply never came), and no send has started for it.
 */
export async function reconcileInflight(
  db: Db,
  params: { session: string; owner: string; epoch: number; gapMs: number },
): Promise<ReconcileResult> {
  const { session, owner, epoch } = params
  const gapMs = wholeMs(params.gapMs)
  return db.transaction(async (tx): Promise<ReconcileResult> => {
    const lock = await lockSessionForClaim(tx, { session, owner, epoch })
    if (!lock) return { kind: 'fenced' }
    const row = await findInflight(tx, session)
    if (!row) return { kind: 'none' }
    const asClaimed = (attempts: number): ClaimedMessage => ({
      id: row.id,
      session,
      phone: row.phone,
      type: row.type,
      body: row.body,
      mediaId: row.mediaId,
      attempts,
      waMessageId: row.waMessageId ?? '',
      claimEpoch: epoch,
    })
    if (row.claimEpoch !== null && row.claimEpoch >= epoch) {
      if (row.claimedBy === owner && row.claimEpoch === epoch && row.waMessageId) {
        return { kind: 'resend', message: asClaimed(row.attempts) }
      }
      // A higher epoch than our lease cannot be written under a lease we still hold: treat as lost.
      return { kind: 'fenced' }
    }
    const fence = { id: row.id, owner, epoch }
    if (row.deliveredAt || row.readAt) {
      if (await settleInflightSent(tx, fence)) await emitMessageEvent(tx, 'message.sent', row.id)
      return { kind: 'settled', id: row.id }
    }
    if (row.error === null) {
      if (lock.waitMs > 0) return { kind: 'wait', waitMs: lock.waitMs }
      await adoptInflight(tx, fence)
      await takeSendSlot(tx, { session, owner, epoch, gapMs })
      return { kind: 'resend', message: asClaimed(row.attempts + 1) }
    }
    if (await failInflight(tx, fence)) await emitMessageEvent(tx, 'message.failed', row.id)
    return { kind: 'failed', id: row.id }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Wake-up probe (db/README.md, Claim and throttle): MIN(available_at) per owned session, read from idx_messages_claim.

const PROBE_DUE = each(
  `SELECT s.name,
       CEIL(TIMESTAMPDIFF(MICROSECOND, NOW(6),
            (SELECT MIN(m.available_at) FROM messages m WHERE m.session = s.name AND m.status = 'pending')) / 1000) AS due_in_ms
  FROM sessions s
 WHERE s.owner = ?
   AND s.lease_until > NOW(6)`,
  `SELECT s.name,
       ceil(extract(epoch FROM
            (SELECT MIN(m.available_at) FROM messages m WHERE m.session = s.name AND m.status = 'pending') - now()) * 1000)::bigint AS due_in_ms
  FROM sessions s
 WHERE s.owner = $1
   AND s.lease_until > now()`,
)

/** The SQL of `probeDue`, for the EXPLAIN tests. */
export const PROBE_DUE_SQL = PROBE_DUE

/**
 * For each session `owner` holds: milliseconds until its earliest `pending` row is due (0 if due already), or
 * `null` if none is pending. Runners without LISTEN/NOTIFY call it every second; it does not look at the throttle
 * (the claim returns `wait` for that).
 */
export async function probeDue(db: Queryable, owner: string): Promise<SessionDue[]> {
  const rows = await db.query(PROBE_DUE[db.dialect], [owner])
  return rows.map((r) => ({
    name: String(r.name),
    dueInMs: r.due_in_ms === null || r.due_in_ms === undefined ? null : Math.max(0, Number(r.due_in_ms)),
  }))
}

// ---------------------------------------------------------------------------------------------------------------
// Consent requests and replies (OPT_IN_MODE=confirm; STOP/YES confirmations)

const HELD_PHONES = same(`SELECT DISTINCT m.phone
  FROM messages m
  LEFT JOIN contacts c ON c.phone = m.phone
 WHERE m.session = ?
   AND m.status = 'pending'
   AND m.hold = 'consent'
   AND (c.phone IS NULL OR (c.opt_in = 'pending' AND c.consent_requested_at IS NULL))
 LIMIT 10`)

/**
 * Under `OPT_IN_MODE=confirm`: phones with messages held for consent (`claimNextMessage` holds them with
 * error 'awaiting opt-in') that have not been sent the consent request yet.
 */
export async function findPhonesAwaitingConsentRequest(db: Queryable, session: string): Promise<string[]> {
  return (await db.query(HELD_PHONES[db.dialect], [session])).map((r) => String(r.phone))
}

export type ConsentSlotResult = { kind: 'take' } | { kind: 'wait'; waitMs: number } | { kind: 'fenced' }

/**
 * Takes the session's throttle slot for a consent reply or request to `phone` (and, with `mark`, records that
 * the consent request was made), in one transaction under the lease (session row first), so these messages
 * keep the same human pace as queued sends. The request itself is not a queue row: it is sent once per
 * contact, outside the audit log; a lost request is not repeated, and the contact can still write YES.
 */
export async function takeSlotForConsentRequest(
  db: Db,
  params: { session: string; owner: string; epoch: number; gapMs: number; phone: string; mark: boolean },
): Promise<ConsentSlotResult> {
  return db.transaction(async (tx): Promise<ConsentSlotResult> => {
    const lock = await lockSessionForClaim(tx, params)
    if (!lock) return { kind: 'fenced' }
    if (lock.waitMs > 0) return { kind: 'wait', waitMs: lock.waitMs }
    await takeSendSlot(tx, { ...params, gapMs: Math.round(params.gapMs) })
    if (params.mark) await markConsentRequested(tx, params.phone)
    return { kind: 'take' }
  })
}
