/**
 * Statements on a session's sending state, run by its lease holder: the claim's lock (with the throttle wait and the
 * limit columns), the throttle slot with today's counters, the hold the dashboard shows, and the circuit breaker's
 * count. One named function per statement; the transactions are in `db/lifecycle/` (claim.ts, settle.ts,
 * pause.ts). Every write carries the lease fence (`owner`, `lease_epoch`): 0 rows = the lease is gone.
 */
import { toDate, type Queryable, type Row } from '../driver.js'
import { each } from '../sql.js'
import type { SessionSettings } from '../types.js'
import type { LeaseFence } from './leases.js'
import { toPresenceSetting } from './sessions.js'

/** The limit columns read with the claim's session lock. */
export interface LimitState {
  /** The database clock at the lock, in epoch ms. */
  nowMs: number
  settings: SessionSettings
  pairedAtMs: number | null
  quotaDay: string | null
  sentToday: number
  firstContactToday: number
  holdUntil: Date | null
  holdReason: string | null
}

/** Maps the extra columns of the claim's lock row. */
export function toLimitState(row: Row): LimitState {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v))
  return {
    nowMs: Number(row.now_ms),
    settings: {
      dailyCap: n(row.daily_cap),
      warmupStart: n(row.warmup_start),
      warmupDays: n(row.warmup_days),
      firstContactCap: n(row.first_contact_cap),
      breakerFailures: n(row.breaker_failures),
      quietHours: (row.quiet_hours as string | null) ?? null,
      timeZone: (row.time_zone as string | null) ?? null,
      presence: toPresenceSetting(row.presence),
    },
    pairedAtMs: toDate(row.paired_at)?.getTime() ?? null,
    quotaDay: (row.quota_day as string | null) ?? null,
    sentToday: Number(row.sent_today ?? 0),
    firstContactToday: Number(row.first_contact_today ?? 0),
    holdUntil: toDate(row.hold_until),
    holdReason: (row.hold_reason as string | null) ?? null,
  }
}

// Rounds UP to whole milliseconds: a floor would report 0 while up to 999 µs of the gap remain, and the
// claim would then start that much early. CEIL makes `wait_ms = 0` mean "next_send_at ≤ now" exactly.
// LEAST(60000, …): a long pause is slept in one-minute steps so the loop still notices fencing and commands.
// The limit columns and the database clock (now_ms) come with the lock for the sending limits: no extra
// round trip. UNIX_TIMESTAMP reads NOW(6) in the session zone, which is UTC (db/README.md, The two dialects).
const LIMIT_COLUMNS = `daily_cap, warmup_start, warmup_days, first_contact_cap, breaker_failures, quiet_hours, time_zone,
       presence, paired_at, quota_day, sent_today, first_contact_today, hold_until, hold_reason`
const LOCK_SESSION_FOR_CLAIM = /* @__PURE__ */ each(
  `SELECT lease_epoch,
       LEAST(60000, GREATEST(0, CEIL(TIMESTAMPDIFF(MICROSECOND, NOW(6),
             GREATEST(next_send_at, COALESCE(paused_until, next_send_at))) / 1000))) AS wait_ms,
       LEAST(60000, GREATEST(0, CEIL(TIMESTAMPDIFF(MICROSECOND, NOW(6), COALESCE(paused_until, NOW(6))) / 1000))) AS pause_ms,
       FLOOR(UNIX_TIMESTAMP(NOW(6)) * 1000) AS now_ms,
       ${LIMIT_COLUMNS}
  FROM sessions FORCE INDEX (PRIMARY)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND lease_until > NOW(6)
   FOR UPDATE`,
  `SELECT lease_epoch,
       LEAST(60000, GREATEST(0, ceil(extract(epoch FROM
             GREATEST(next_send_at, COALESCE(paused_until, next_send_at)) - now()) * 1000)))::int AS wait_ms,
       LEAST(60000, GREATEST(0, ceil(extract(epoch FROM COALESCE(paused_until, now()) - now()) * 1000)))::int AS pause_ms,
       floor(extract(epoch FROM now()) * 1000)::float8 AS now_ms,
       ${LIMIT_COLUMNS}
  FROM sessions
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   AND lease_until > now()
   FOR UPDATE`,
)

/** The SQL of `lockSessionForClaim`, for the EXPLAIN tests and the scale benchmark (the first statement of a claim). */
export const LOCK_SESSION_FOR_CLAIM_SQL = LOCK_SESSION_FOR_CLAIM

/**
 * Locks the session row for a claim or a reconciliation, checking the lease: `null` when the lease is lost
 * (fence), else the milliseconds until the throttle slot and any pause are over (`waitMs`), until the pause alone is
 * over (`pauseMs`, 0 when none), and the row's limit state.
 */
export async function lockSessionForClaim(
  tx: Queryable,
  params: { session: string; owner: string; epoch: number },
): Promise<{ waitMs: number; pauseMs: number; limits: LimitState } | null> {
  const [row] = await tx.query(LOCK_SESSION_FOR_CLAIM[tx.dialect], [params.session, params.owner, params.epoch])
  return row ? { waitMs: Number(row.wait_ms), pauseMs: Number(row.pause_ms), limits: toLimitState(row) } : null
}

// MySQL only. NOW(6) is per statement there, so holding the gap before stamping sent_at would let two sent_at values
// come out closer than the minimum by the time between the two statements (measured: 49.925 ms for a 50 ms minimum).
// So on MySQL the finalize locks the session row first (lock order kept), stamps the message, then holds the gap from
// a NOW(6) that is not earlier than sent_at. Postgres' now() is fixed per transaction, so its two stamps are equal.
const LOCK_SESSION_ROW_MYSQL = `SELECT name
  FROM sessions FORCE INDEX (PRIMARY)
 WHERE name = ?
   FOR UPDATE`

/** MySQL only: locks the session row by primary key, with no fence (the writes that follow carry theirs). */
export async function lockSessionRowOnMysql(tx: Queryable, session: string): Promise<void> {
  if (tx.dialect !== 'mysql') throw new Error('lockSessionRowOnMysql is for MySQL/MariaDB only')
  await tx.query(LOCK_SESSION_ROW_MYSQL, [session])
}

const TAKE_SEND_SLOT = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
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
)

/** Takes the session's throttle slot (the session row must be locked by `lockSessionForClaim`). */
export async function takeSendSlot(tx: Queryable, p: { session: string; owner: string; epoch: number; gapMs: number }): Promise<void> {
  await tx.execute(TAKE_SEND_SLOT[tx.dialect], [p.gapMs, p.session, p.owner, p.epoch])
}

// The claim's slot statement: the throttle slot, today's counters and the hold in one write of the locked row. The
// next slot counts from the one this claim takes: now, or a little later when the claim came early to show typing
// first (claimNextMessage's presence lead); the two are the same for a claim made when the slot was due.
const TAKE_SEND_SLOT_COUNTING = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET next_send_at = GREATEST(next_send_at, NOW(6)) + INTERVAL ? * 1000 MICROSECOND,
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
   SET next_send_at = GREATEST(next_send_at, now()) + $1 * interval '1 millisecond',
       quota_day = $2,
       sent_today = $3,
       first_contact_today = $4,
       hold_until = $5,
       hold_reason = $6,
       updated_at = now()
 WHERE name = $7
   AND owner = $8
   AND lease_epoch = $9`,
)

/** Takes the throttle slot and writes today's counters and the hold the row should show, in one statement. */
export async function takeSendSlotCounting(
  tx: Queryable,
  p: LeaseFence & { gapMs: number; day: string; sent: number; firstContact: number; holdUntil: Date | null; holdReason: string | null },
): Promise<void> {
  await tx.execute(TAKE_SEND_SLOT_COUNTING[tx.dialect], [
    p.gapMs, p.day, p.sent, p.firstContact, p.holdUntil, p.holdReason, p.name, p.owner, p.epoch,
  ])
}

const HOLD_SEND_GAP = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
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
)

/** Keeps the next slot at least `gapMs` (whole ms) from now; never moves it earlier. */
export async function holdSendGap(tx: Queryable, fence: LeaseFence, gapMs: number): Promise<void> {
  await tx.execute(HOLD_SEND_GAP[tx.dialect], [gapMs, fence.name, fence.owner, fence.epoch])
}

const SET_HOLD = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET hold_until = ?,
       hold_reason = ?,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET hold_until = $1,
       hold_reason = $2,
       updated_at = now()
 WHERE name = $3
   AND owner = $4
   AND lease_epoch = $5`,
)

/** Records why and until when the session holds messages back (`null`s: it does not). */
export async function setHold(tx: Queryable, fence: LeaseFence, hold: { until: Date | null; reason: string | null }): Promise<void> {
  await tx.execute(SET_HOLD[tx.dialect], [hold.until, hold.reason, fence.name, fence.owner, fence.epoch])
}

// ---------------------------------------------------------------------------------------------------------------
// The circuit breaker's count

const LOCK_FOR_FAILURE = /* @__PURE__ */ each(
  `SELECT consecutive_failures, breaker_failures
  FROM sessions FORCE INDEX (PRIMARY)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   FOR UPDATE`,
  `SELECT consecutive_failures, breaker_failures
  FROM sessions
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   FOR UPDATE`,
)

/** Locks the session row under the lease and reads the failure streak and the session's own threshold. */
export async function lockFailureCount(
  tx: Queryable,
  fence: LeaseFence,
): Promise<{ failures: number; ownThreshold: number | null } | null> {
  const [row] = await tx.query(LOCK_FOR_FAILURE[tx.dialect], [fence.name, fence.owner, fence.epoch])
  if (!row) return null
  const own = row.breaker_failures === null || row.breaker_failures === undefined ? null : Number(row.breaker_failures)
  return { failures: Number(row.consecutive_failures), ownThreshold: own }
}

const SET_FAILURES = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET consecutive_failures = ?,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET consecutive_failures = $1,
       updated_at = now()
 WHERE name = $2
   AND owner = $3
   AND lease_epoch = $4`,
)

/** Writes the failure streak. */
export async function setFailureCount(tx: Queryable, fence: LeaseFence, failures: number): Promise<void> {
  await tx.execute(SET_FAILURES[tx.dialect], [failures, fence.name, fence.owner, fence.epoch])
}

const BREAKER_HOLD = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET hold_until = paused_until,
       hold_reason = CONCAT(?, DATE_FORMAT(paused_until, '%Y-%m-%d %H:%i:%s'), ' UTC'),
       detail = CONCAT(?, DATE_FORMAT(paused_until, '%Y-%m-%d %H:%i:%s'), ' UTC')
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET hold_until = paused_until,
       hold_reason = $1 || to_char(paused_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC',
       detail = $2 || to_char(paused_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
 WHERE name = $3
   AND owner = $4
   AND lease_epoch = $5`,
)

/** Shows a breaker pause: `hold_until` = `paused_until`, and `text` + that instant in `hold_reason` and `detail`. */
export async function showBreakerHold(tx: Queryable, fence: LeaseFence, text: string): Promise<void> {
  await tx.execute(BREAKER_HOLD[tx.dialect], [text, text, fence.name, fence.owner, fence.epoch])
}

const RESET_FAILURES = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET consecutive_failures = 0,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND consecutive_failures <> 0`,
  `UPDATE sessions
   SET consecutive_failures = 0,
       updated_at = now()
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   AND consecutive_failures <> 0`,
)

/** Ends a failure streak. Matches nothing (and costs one primary-key probe) when it was 0. */
export async function resetFailureCount(db: Queryable, fence: LeaseFence): Promise<void> {
  await db.execute(RESET_FAILURES[db.dialect], [fence.name, fence.owner, fence.epoch])
}
