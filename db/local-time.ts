/**
 * Wall-clock arithmetic in a named IANA time zone, for quiet hours, the daily caps' midnight and the warm-up day
 * count. Pure functions over epoch milliseconds: the instant always comes from the database clock (db/README.md);
 * only the calendar is computed here, with `Intl` (available on Node and Workers, no tz library).
 *
 * A local time that does not exist (a spring-forward gap) or exists twice (a fall-back overlap) is resolved as
 * Temporal's `disambiguation: 'compatible'` does: a time in a gap moves forward by the gap's length (02:30 in a
 * 02:00→03:00 gap is 03:30), an ambiguous time takes the earlier instant. So "resume at 08:00" and "next midnight"
 * are always real instants, even in zones whose clocks jump at midnight (Asia/Beirut, America/Santiago).
 */

export interface LocalParts {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

/** Quiet hours as minutes after local midnight; `start > end` spans midnight (22:00-08:00). */
export interface QuietWindow {
  start: number
  end: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    formatters.set(timeZone, f)
  }
  return f
}

/** True when `timeZone` is an IANA name this runtime knows (e.g. `Asia/Beirut`, `UTC`). */
export function isValidTimeZone(timeZone: string): boolean {
  if (!timeZone || timeZone.length > 64) return false
  try {
    formatterFor(timeZone)
    return true
  } catch {
    return false
  }
}

/** The wall-clock reading of instant `ms` in `timeZone`. */
export function localParts(ms: number, timeZone: string): LocalParts {
  const out: Record<string, number> = {}
  for (const p of formatterFor(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value)
  }
  return {
    year: out.year!,
    month: out.month!,
    day: out.day!,
    // Some engines print midnight as 24 even with h23.
    hour: out.hour! % 24,
    minute: out.minute!,
    second: out.second!,
  }
}

/** The zone's offset from UTC at instant `ms`, in ms (whole seconds). */
export function offsetAt(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone)
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second)
  return asUtc - Math.floor(ms / 1000) * 1000
}

/**
 * The instant at which the wall clock of `timeZone` reads the given local date and time ('compatible'
 * disambiguation, see the file comment). Month and day may overflow (day 32 is the next month's 1st).
 */
export function zonedInstant(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute)
  // Every real transition is less than a day apart from any other and shifts by less than a day, so the offsets
  // half a day either side of the wall time are the ones before and after any transition near it.
  const before = offsetAt(wall - 12 * 3_600_000, timeZone)
  const after = offsetAt(wall + 12 * 3_600_000, timeZone)
  const reads = (t: number) => t + offsetAt(t, timeZone) === wall
  const early = wall - before
  const late = wall - after
  const valid = [early, late].filter(reads)
  if (valid.length > 0) return Math.min(...valid)
  // In a gap: keep the offset from before the jump, which lands as far past the jump as the time was into the gap.
  return early
}

/** `YYYY-MM-DD` of instant `ms` in `timeZone` (the day the daily counters belong to). */
export function localDate(ms: number, timeZone: string): string {
  const p = localParts(ms, timeZone)
  return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`
}

/** `YYYY-MM-DD HH:MM` of instant `ms` in `timeZone`, for messages such as "resumes at …". */
export function formatLocal(ms: number, timeZone: string): string {
  const p = localParts(ms, timeZone)
  return `${localDate(ms, timeZone)} ${String(p.hour).padStart(2, '0')}:${String(p.minute).padStart(2, '0')}`
}

/** The first instant of the local day after the one containing `ms` (the next midnight, or what stands for it). */
export function nextLocalMidnight(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone)
  const next = zonedInstant(p.year, p.month, p.day + 1, 0, 0, timeZone)
  // A zone whose midnight falls in a gap starts its day later; never answer an instant that is not ahead.
  return next > ms ? next : ms + 60_000
}

/** Whole local calendar days from the day of `fromMs` to the day of `toMs` (0 on the same day). */
export function localDaysBetween(fromMs: number, toMs: number, timeZone: string): number {
  const a = localParts(fromMs, timeZone)
  const b = localParts(toMs, timeZone)
  return Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / 86_400_000)
}

const WINDOW = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/

/**
 * Parses `HH:MM-HH:MM` (24 h; `22:00-08:00` spans midnight). `off` (or empty) is no quiet hours: null.
 * Throws a RangeError naming the expected shape for anything else, and for a window that starts where it ends.
 */
export function parseQuietHours(text: string): QuietWindow | null {
  const v = text.trim().toLowerCase()
  if (v === '' || v === 'off') return null
  const m = WINDOW.exec(v)
  if (!m) throw new RangeError(`quiet hours must look like "22:00-08:00" (24-hour HH:MM-HH:MM) or "off" (got "${text}")`)
  const start = Number(m[1]) * 60 + Number(m[2])
  const end = Number(m[3]) * 60 + Number(m[4])
  if (start === end) throw new RangeError(`quiet hours "${text}" start and end at the same time; use "off" for none`)
  return { start, end }
}

/** `HH:MM-HH:MM` of a window. */
export function formatQuietHours(w: QuietWindow): string {
  const hm = (n: number) => `${String(Math.floor(n / 60)).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}`
  return `${hm(w.start)}-${hm(w.end)}`
}

/**
 * If instant `ms` falls in the quiet window (local time of `timeZone`, start included, end excluded), the instant
 * the window ends; otherwise null. The end is the next time the wall clock reads `end` after `ms`.
 */
export function quietUntil(ms: number, window: QuietWindow, timeZone: string): number | null {
  const p = localParts(ms, timeZone)
  const now = p.hour * 60 + p.minute
  const inside = window.start < window.end ? now >= window.start && now < window.end : now >= window.start || now < window.end
  if (!inside) return null
  const hour = Math.floor(window.end / 60)
  const minute = window.end % 60
  // The end is later today, or (after the start of an overnight window) tomorrow.
  let end = zonedInstant(p.year, p.month, p.day + (now < window.end ? 0 : 1), hour, minute, timeZone)
  if (end <= ms) end = zonedInstant(p.year, p.month, p.day + 1, hour, minute, timeZone)
  return end > ms ? end : ms + 60_000
}

/**
 * Today's send cap under a warm-up schedule: a number paired on local day 0 may send `start` messages that day,
 * rising in a straight line to `cap` on day `days` and staying there. `cap = 0` means no daily cap at all (null);
 * `start = 0`, `days = 0` or an unknown pairing time (a number linked before this feature) means no warm-up.
 */
export function dailyCapToday(params: {
  cap: number
  warmupStart: number
  warmupDays: number
  pairedAtMs: number | null
  nowMs: number
  timeZone: string
}): { cap: number; warmupDay: number | null } | null {
  const { cap, warmupStart, warmupDays, pairedAtMs, nowMs, timeZone } = params
  if (cap <= 0) return null
  if (warmupStart <= 0 || warmupDays <= 0 || pairedAtMs === null || warmupStart >= cap) return { cap, warmupDay: null }
  const day = Math.max(0, localDaysBetween(pairedAtMs, nowMs, timeZone))
  if (day >= warmupDays) return { cap, warmupDay: null }
  return { cap: Math.round(warmupStart + ((cap - warmupStart) * day) / warmupDays), warmupDay: day }
}
