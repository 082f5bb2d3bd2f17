/**
 * The Send form's optional "Send at": a `datetime-local` value (wall-clock time, no zone) and the browser's UTC
 * offset for that moment in minutes (`utc_offset`, filled in by assets/send.js; absent without JavaScript, when
 * the time is read as UTC and the page says so). The result is the ISO 8601 time with its zone that the API's
 * own `send_at` schema then judges, so the dashboard and `POST /api/send` share the "at most a year ahead" rule.
 *
 * One difference from the API, on purpose: the API sends a past `send_at` now (a late job is still wanted); a
 * person who picks a time that has passed has usually picked the wrong day, so the form asks again.
 */
const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?$/

/** The largest real UTC offsets are −12:00 and +14:00. */
const MAX_OFFSET_MINUTES = 14 * 60

/** How far in the past a picked time may be (the minute being typed) before it is refused. */
const PAST_GRACE_MS = 60_000

const pad = (n: number) => String(n).padStart(2, '0')

export type FormSendAt = { ok: true; iso: string | null } | { ok: false; error: string }

/**
 * Reads the two fields. `iso` is null for "now" (the field left empty), else e.g. `2026-12-24T09:00:00+02:00`.
 * @example parseFormSendAt('2026-12-24T09:00', '120', Date.now()) // { ok: true, iso: '2026-12-24T09:00:00+02:00' }
 */
export function parseFormSendAt(local: string | undefined, utcOffset: string | undefined, now: number): FormSendAt {
  const value = (local ?? '').trim()
  if (value === '') return { ok: true, iso: null }
  const m = LOCAL.exec(value)
  if (!m) return { ok: false, error: 'Pick a date and time, e.g. 2026-12-24 09:00, or leave it empty to send now.' }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number]
  const wall = Date.UTC(year, month - 1, day, hour, minute, second)
  const back = new Date(wall)
  if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, error: `There is no ${value.replace('T', ' ')}; pick a date and time from the calendar.` }
  }
  const offsetText = (utcOffset ?? '').trim()
  const offset = offsetText === '' ? 0 : Number(offsetText)
  if (!/^-?\d{1,3}$/.test(offsetText || '0') || Math.abs(offset) > MAX_OFFSET_MINUTES) {
    return { ok: false, error: 'The time zone offset sent with the form is not valid; reload the page and pick the time again.' }
  }
  const at = wall - offset * 60_000
  const zone = offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`
  const iso = `${year}-${pad(month)}-${pad(day)}T${pad(hour)}:${pad(minute)}:${pad(second)}${zone}`
  if (at < now - PAST_GRACE_MS) {
    return { ok: false, error: `${value.replace('T', ' ')} (${offset === 0 ? 'UTC' : `UTC${zone}`}) has already passed; pick a later time, or leave it empty to send now.` }
  }
  return { ok: true, iso }
}
