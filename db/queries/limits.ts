/**
 * Sending limits that keep numbers alive (runner/README.md, Limits): a per-session daily cap with a warm-up ramp for a
 * newly linked number, a separate daily cap on first-contact messages (to numbers that never wrote to this session),
 * quiet hours, and a circuit breaker that pauses a session after N consecutive send failures.
 *
 * The caps and quiet hours are enforced inside the claim transaction (`claimNextMessage`, queue.ts), from columns of
 * the session row the claim has already locked: the counters (`quota_day`, `sent_today`, `first_contact_today`) are
 * written by the same statement that takes the send slot, so they cost no extra round trip and cannot lose an update.
 * Only the first-contact check reads another table, one probe of idx_inbound_session_phone, and only while that cap
 * is on. Times come from the database clock (`now_ms` read with the lock); the calendar (local midnight, quiet
 * hours, warm-up day) is computed by `db/local-time.ts`.
 *
 * Every cap counts claims: a retry after a transient error counts again (conservative: WhatsApp may have seen it).
 */
import type { Db, Queryable, Row } from '../driver.js'
import { toDate } from '../driver.js'
import {
  dailyCapToday, formatLocal, formatQuietHours, isValidTimeZone, localDate, nextLocalMidnight, parseQuietHours,
  quietUntil, type QuietWindow,
} from '../local-time.js'
import { each, same } from '../sql.js'
import type { SessionSettings } from '../types.js'
import { forceIndexOnMysql } from './mysql-hints.js'
import { pauseSession, type LeaseFence } from './leases.js'

/** The runner's defaults (`.env`), used where a session's own setting is NULL. Caps and thresholds: 0 = off. */
export interface LimitDefaults {
  dailyCap: number
  warmupStart: number
  warmupDays: number
  firstContactCap: number
  breakerFailures: number
  /** How long the circuit breaker pauses a session. */
  breakerPauseMinutes: number
  /** `HH:MM-HH:MM` or `off`. */
  quietHours: string
  /** IANA zone of quiet hours and of the counters' midnight. */
  timeZone: string
}

/** Everything off: what a claim without `limits` uses (counters are still kept). */
export const NO_LIMITS: LimitDefaults = {
  dailyCap: 0,
  warmupStart: 0,
  warmupDays: 0,
  firstContactCap: 0,
  breakerFailures: 0,
  breakerPauseMinutes: 30,
  quietHours: 'off',
  timeZone: 'UTC',
}

/** A session's settings with the defaults filled in. */
export interface EffectiveLimits {
  dailyCap: number
  warmupStart: number
  warmupDays: number
  firstContactCap: number
  breakerFailures: number
  quiet: QuietWindow | null
  timeZone: string
}

/**
 * Fills a session's NULL settings from the defaults. A stored value the API would not accept (an unknown zone, a
 * malformed window: the API validates, but a hand-edited row might not) falls back to the default, never throws in
 * the claim.
 */
export function effectiveLimits(settings: SessionSettings, defaults: LimitDefaults): EffectiveLimits {
  const pick = (own: number | null, fallback: number) => (own === null || own < 0 ? fallback : own)
  const zone = settings.timeZone && isValidTimeZone(settings.timeZone) ? settings.timeZone : defaults.timeZone
  let quiet: QuietWindow | null
  try {
    quiet = parseQuietHours(settings.quietHours ?? defaults.quietHours)
  } catch {
    quiet = safeWindow(defaults.quietHours)
  }
  return {
    dailyCap: pick(settings.dailyCap, defaults.dailyCap),
    warmupStart: pick(settings.warmupStart, defaults.warmupStart),
    warmupDays: pick(settings.warmupDays, defaults.warmupDays),
    firstContactCap: pick(settings.firstContactCap, defaults.firstContactCap),
    breakerFailures: pick(settings.breakerFailures, defaults.breakerFailures),
    quiet,
    timeZone: zone,
  }
}

function safeWindow(text: string): QuietWindow | null {
  try {
    return parseQuietHours(text)
  } catch {
    return null
  }
}

/** The limit columns read with the claim's session lock (see `LOCK_SESSION_FOR_CLAIM` in queue.ts). */
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
    },
    pairedAtMs: toDate(row.paired_at)?.getTime() ?? null,
    quotaDay: (row.quota_day as string | null) ?? null,
    sentToday: Number(row.sent_today ?? 0),
    firstContactToday: Number(row.first_contact_today ?? 0),
    holdUntil: toDate(row.hold_until),
    holdReason: (row.hold_reason as string | null) ?? null,
  }
}

/** Prefixes of `hold_reason`, so code can tell the kinds apart. */
export const HOLD_PREFIX = {
  quiet: 'quiet hours',
  daily: 'daily cap reached',
  firstContact: 'first-contact cap reached',
  breaker: 'circuit breaker',
} as const

/** What the claim does with a session's limits, decided from the locked row (pure: no SQL). */
export interface LimitPlan {
  limits: EffectiveLimits
  /** Today's local date and the counts that belong to it (0 when the stored day is another one). */
  today: string
  sent: number
  firstContact: number
  /** Set when the whole session must hold: the claim commits the hold and answers `wait`. */
  hold: { until: number; reason: string } | null
  /** First-contact messages wait until this instant (the next local midnight) once their cap is reached. */
  firstContactFull: { until: number; reason: string } | null
}

/**
 * Decides, for one claim: is the session in quiet hours or over today's cap (hold it, and until when, with the
 * sentence the dashboard shows), and is the first-contact cap reached (hold those messages).
 */
export function planLimits(state: LimitState, defaults: LimitDefaults): LimitPlan {
  const limits = effectiveLimits(state.settings, defaults)
  const { nowMs } = state
  const tz = limits.timeZone
  const today = localDate(nowMs, tz)
  const sameDay = state.quotaDay === today
  const sent = sameDay ? state.sentToday : 0
  const firstContact = sameDay ? state.firstContactToday : 0
  const plan: LimitPlan = { limits, today, sent, firstContact, hold: null, firstContactFull: null }
  if (limits.quiet) {
    const until = quietUntil(nowMs, limits.quiet, tz)
    if (until !== null) {
      plan.hold = {
        until,
        reason: `${HOLD_PREFIX.quiet} (${formatQuietHours(limits.quiet)} ${tz}): nothing is sent until ${formatLocal(until, tz)} ${tz}`,
      }
      return plan
    }
  }
  const cap = dailyCapToday({
    cap: limits.dailyCap, warmupStart: limits.warmupStart, warmupDays: limits.warmupDays,
    pairedAtMs: state.pairedAtMs, nowMs, timeZone: tz,
  })
  if (cap && sent >= cap.cap) {
    const until = nextLocalMidnight(nowMs, tz)
    const warm = cap.warmupDay === null ? '' : `, warm-up day ${cap.warmupDay + 1} of ${limits.warmupDays}`
    plan.hold = { until, reason: `${HOLD_PREFIX.daily} (${sent}/${cap.cap}${warm}), resumes at ${formatLocal(until, tz)} ${tz}` }
    return plan
  }
  if (limits.firstContactCap > 0 && firstContact >= limits.firstContactCap) {
    const until = nextLocalMidnight(nowMs, tz)
    plan.firstContactFull = {
      until,
      reason: `${HOLD_PREFIX.firstContact} (${firstContact}/${limits.firstContactCap}): messages to numbers that never wrote to this session wait until ${formatLocal(until, tz)} ${tz}`,
    }
  }
  return plan
}

/**
 * The hold the session row should show after a successful claim: a first-contact hold that still applies today is
 * kept (messages to known contacts go on while new contacts wait); anything else is over.
 */
export function holdAfterClaim(state: LimitState, plan: LimitPlan): { until: Date | null; reason: string | null } {
  if (plan.firstContactFull) return { until: new Date(plan.firstContactFull.until), reason: plan.firstContactFull.reason }
  const kept = state.holdReason?.startsWith(HOLD_PREFIX.firstContact) && state.holdUntil && state.holdUntil.getTime() > state.nowMs
  return kept ? { until: state.holdUntil, reason: state.holdReason } : { until: null, reason: null }
}

// ---------------------------------------------------------------------------------------------------------------
// Statements used inside the claim transaction (the session row is locked by lockSessionForClaim)

// "Never wrote to this number": no inbound message from this phone to this session. One probe of
// idx_inbound_session_phone (session, phone); inbound rows whose sender could not be resolved have phone NULL.
const HAS_WRITTEN = forceIndexOnMysql(same(`SELECT 1 AS x
  FROM inbound_messages
 WHERE session = ?
   AND phone = ?
 LIMIT 1`), 'inbound_messages', 'idx_inbound_session_phone')

/** The SQL of the first-contact check, for the EXPLAIN tests. */
export const HAS_WRITTEN_SQL = HAS_WRITTEN

/** True when `phone` never wrote to `session` (a message to it is a first contact). */
export async function isFirstContact(tx: Queryable, session: string, phone: string): Promise<boolean> {
  const rows = await tx.query(HAS_WRITTEN[tx.dialect], [session, phone])
  return rows.length === 0
}

const SET_HOLD = forceIndexOnMysql(same(`UPDATE sessions
   SET hold_until = ?,
       hold_reason = ?,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`), 'sessions')

/** Records why and until when the session holds (lease-guarded); skipped when the row already says so. */
export async function writeHold(
  tx: Queryable,
  fence: LeaseFence,
  state: LimitState,
  hold: { until: Date | null; reason: string | null },
): Promise<void> {
  if ((state.holdUntil?.getTime() ?? null) === (hold.until?.getTime() ?? null) && state.holdReason === hold.reason) return
  await tx.execute(SET_HOLD[tx.dialect], [hold.until, hold.reason, fence.name, fence.owner, fence.epoch])
}

// Like the opt-in hold in queue.ts: the message stays `pending`, moved out of the claim's way until `available_at`
// (the next local midnight) with the reason in `error`; markSending clears it.
const HOLD_MESSAGE = forceIndexOnMysql(same(`UPDATE messages
   SET available_at = ?,
       hold = 'limit',
       error = ?,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`), 'messages')

/** Moves one pending message to `until` with the reason (first-contact cap). */
export async function holdMessageUntil(tx: Queryable, id: number, until: Date, reason: string): Promise<void> {
  await tx.execute(HOLD_MESSAGE[tx.dialect], [until, reason.slice(0, 1000), id])
}

// ---------------------------------------------------------------------------------------------------------------
// Circuit breaker (outside the claim: after a send's outcome is recorded)

const LOCK_FOR_FAILURE = forceIndexOnMysql(same(`SELECT consecutive_failures, breaker_failures
  FROM sessions
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   FOR UPDATE`), 'sessions')

const SET_FAILURES = forceIndexOnMysql(same(`UPDATE sessions
   SET consecutive_failures = ?,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`), 'sessions')

const BREAKER_HOLD = forceIndexOnMysql(each(
  `UPDATE sessions
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
), 'sessions')

export interface SendFailureResult {
  /** Consecutive failures now on record (0 after the breaker tripped). */
  failures: number
  /** The breaker tripped: the session is paused. */
  paused: boolean
  /** false: the lease is gone, nothing was written. */
  held: boolean
}

/**
 * One more failed send: counts it and, at the session's threshold (its own setting or `defaults.breakerFailures`;
 * 0 = off), pauses the session for `defaults.breakerPauseMinutes` with the reason in `detail` and `hold_reason`, and
 * starts counting again. One transaction, session row first.
 */
export async function recordSendFailure(
  db: Db,
  fence: LeaseFence,
  params: { defaults: LimitDefaults; lastError: string },
): Promise<SendFailureResult> {
  return db.transaction(async (tx): Promise<SendFailureResult> => {
    const [row] = await tx.query(LOCK_FOR_FAILURE[tx.dialect], [fence.name, fence.owner, fence.epoch])
    if (!row) return { failures: 0, paused: false, held: false }
    const failures = Number(row.consecutive_failures) + 1
    const own = row.breaker_failures === null || row.breaker_failures === undefined ? null : Number(row.breaker_failures)
    const threshold = own === null || own < 0 ? params.defaults.breakerFailures : own
    if (threshold > 0 && failures >= threshold) {
      const minutes = Math.max(1, Math.round(params.defaults.breakerPauseMinutes))
      await pauseSession(tx, { ...fence, seconds: minutes * 60, detail: HOLD_PREFIX.breaker })
      const text = `${HOLD_PREFIX.breaker}: ${failures} consecutive send failures (last: ${params.lastError.slice(0, 200)}); sending paused until `
      await tx.execute(BREAKER_HOLD[tx.dialect], [text, text, fence.name, fence.owner, fence.epoch])
      await tx.execute(SET_FAILURES[tx.dialect], [0, fence.name, fence.owner, fence.epoch])
      return { failures: 0, paused: true, held: true }
    }
    await tx.execute(SET_FAILURES[tx.dialect], [failures, fence.name, fence.owner, fence.epoch])
    return { failures, paused: false, held: true }
  })
}

const RESET_FAILURES = forceIndexOnMysql(same(`UPDATE sessions
   SET consecutive_failures = 0,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND consecutive_failures <> 0`), 'sessions')

/** A send succeeded: the failure streak is over. Matches nothing (and costs one primary-key probe) when it was 0. */
export async function recordSendSuccess(db: Queryable, fence: LeaseFence): Promise<void> {
  await db.execute(RESET_FAILURES[db.dialect], [fence.name, fence.owner, fence.epoch])
}
