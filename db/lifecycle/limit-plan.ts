/**
 * Sending limits that keep numbers alive (runner/README.md, Limits): a per-session daily cap with a warm-up ramp for a
 * newly linked number, a separate daily cap on first-contact messages (to numbers that never wrote to this session),
 * and quiet hours. This file decides, without SQL, what one claim does with them (`planLimits`); `claim.ts` carries
 * the decision out inside the claim transaction, from the columns of the session row it has already locked
 * (`lockSessionForClaim`). Times come from the database clock (`now_ms` read with the lock); the calendar (local
 * midnight, quiet hours, warm-up day) is computed by `db/local-time.ts`.
 *
 * Every cap counts claims: a retry after a transient error counts again (conservative: WhatsApp may have seen it).
 */
import {
  dailyCapToday, formatLocal, formatQuietHours, isValidTimeZone, localDate, nextLocalMidnight, parseQuietHours,
  quietUntil, type QuietWindow,
} from '../local-time.js'
import type { LimitState } from '../queries/send-slot.js'
import type { SessionSettings } from '../types.js'

export type { LimitState } from '../queries/send-slot.js'

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
