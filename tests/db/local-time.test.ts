import { describe, expect, it } from 'vitest'
import {
  dailyCapToday, formatLocal, isValidTimeZone, localDate, localDaysBetween, nextLocalMidnight, offsetAt, parseQuietHours,
  quietUntil, zonedInstant,
} from '../../db/local-time.js'

const at = (iso: string) => Date.parse(iso)
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

describe('zone arithmetic (db/local-time.ts)', () => {
  it('knows IANA names and refuses anything else', () => {
    expect(isValidTimeZone('Asia/Beirut')).toBe(true)
    expect(isValidTimeZone('UTC')).toBe(true)
    expect(isValidTimeZone('Mars/Olympus')).toBe(false)
    expect(isValidTimeZone('')).toBe(false)
  })

  it('reads offsets on both sides of a DST change', () => {
    expect(offsetAt(at('2026-01-15T12:00:00Z'), 'Europe/Berlin')).toBe(3_600_000)
    expect(offsetAt(at('2026-07-15T12:00:00Z'), 'Europe/Berlin')).toBe(7_200_000)
    expect(offsetAt(at('2026-07-15T12:00:00.999Z'), 'Asia/Kolkata')).toBe(19_800_000)
  })

  it('maps a local time that exists once, and picks the earlier instant when it exists twice (fall back)', () => {
    expect(iso(zonedInstant(2026, 7, 1, 9, 0, 'Europe/Berlin'))).toBe('2026-07-01T07:00:00.000Z')
    // Berlin 2026-10-25: 03:00 CEST → 02:00 CET, so 02:30 happens at 00:30Z and again at 01:30Z.
    expect(iso(zonedInstant(2026, 10, 25, 2, 30, 'Europe/Berlin'))).toBe('2026-10-25T00:30:00.000Z')
  })

  it('moves a local time inside a spring-forward gap forward by the gap (Temporal "compatible")', () => {
    // Berlin 2026-03-29: 02:00 CET → 03:00 CEST; 02:30 does not exist and becomes 03:30 CEST.
    expect(iso(zonedInstant(2026, 3, 29, 2, 30, 'Europe/Berlin'))).toBe('2026-03-29T01:30:00.000Z')
    // New York 2026-03-08: 02:00 EST → 03:00 EDT.
    expect(iso(zonedInstant(2026, 3, 8, 2, 15, 'America/New_York'))).toBe('2026-03-08T07:15:00.000Z')
  })

  it('finds the next midnight in zones whose clocks jump at midnight (Asia/Beirut)', () => {
    // Beirut springs forward at 00:00 on the last Sunday of March (2026-03-29): that day starts at 01:00 EEST.
    const saturdayEvening = at('2026-03-28T20:00:00Z') // 22:00 EET
    const next = nextLocalMidnight(saturdayEvening, 'Asia/Beirut')
    expect(iso(next)).toBe('2026-03-28T22:00:00.000Z')
    expect(formatLocal(next, 'Asia/Beirut')).toBe('2026-03-29 01:00')
    expect(localDate(next, 'Asia/Beirut')).toBe('2026-03-29')
    // And falls back at 00:00 on the last Sunday of October (2026-10-25): 00:00 EEST → 23:00 EET of the 24th.
    const beforeFallBack = at('2026-10-24T19:00:00Z') // 22:00 EEST
    const midnight = nextLocalMidnight(beforeFallBack, 'Asia/Beirut')
    expect(localDate(midnight, 'Asia/Beirut')).toBe('2026-10-25')
    expect(localDate(midnight - 1, 'Asia/Beirut')).toBe('2026-10-24')
    expect(midnight).toBeGreaterThan(beforeFallBack)
  })

  it('next midnight is always ahead, also a second before it and at it', () => {
    const justBefore = at('2026-06-01T20:59:59Z') // 23:59:59 in Beirut (EEST)
    expect(iso(nextLocalMidnight(justBefore, 'Asia/Beirut'))).toBe('2026-06-01T21:00:00.000Z')
    expect(iso(nextLocalMidnight(at('2026-06-01T21:00:00Z'), 'Asia/Beirut'))).toBe('2026-06-02T21:00:00.000Z')
  })

  it('counts local calendar days, not 24-hour periods', () => {
    expect(localDaysBetween(at('2026-06-01T20:50:00Z'), at('2026-06-01T21:10:00Z'), 'Asia/Beirut')).toBe(1)
    expect(localDaysBetween(at('2026-06-01T20:50:00Z'), at('2026-06-01T21:10:00Z'), 'UTC')).toBe(0)
    expect(localDaysBetween(at('2026-03-27T12:00:00Z'), at('2026-03-30T12:00:00Z'), 'Europe/Berlin')).toBe(3)
  })
})

describe('quiet hours', () => {
  const night = parseQuietHours('22:00-08:00')!
  const lunch = parseQuietHours('12:00-13:30')!

  it('parses HH:MM-HH:MM and "off", and names the shape when refusing', () => {
    expect(night).toEqual({ start: 22 * 60, end: 8 * 60 })
    expect(parseQuietHours('off')).toBeNull()
    expect(parseQuietHours('')).toBeNull()
    expect(() => parseQuietHours('22-08')).toThrow(/22:00-08:00/)
    expect(() => parseQuietHours('24:00-08:00')).toThrow(RangeError)
    expect(() => parseQuietHours('08:00-08:00')).toThrow(/same time/)
  })

  it('an overnight window holds from its start (included) to its end (excluded), on both sides of midnight', () => {
    const tz = 'Asia/Beirut' // UTC+3 in June
    expect(quietUntil(at('2026-06-01T18:59:00Z'), night, tz)).toBeNull() // 21:59
    expect(iso(quietUntil(at('2026-06-01T19:00:00Z'), night, tz))).toBe('2026-06-02T05:00:00.000Z') // 22:00 → 08:00
    expect(iso(quietUntil(at('2026-06-01T23:30:00Z'), night, tz))).toBe('2026-06-02T05:00:00.000Z') // 02:30 → 08:00
    expect(quietUntil(at('2026-06-02T05:00:00Z'), night, tz)).toBeNull() // 08:00
  })

  it('a daytime window ends the same day', () => {
    expect(iso(quietUntil(at('2026-06-01T12:10:00Z'), lunch, 'UTC'))).toBe('2026-06-01T13:30:00.000Z')
    expect(quietUntil(at('2026-06-01T13:30:00Z'), lunch, 'UTC')).toBeNull()
  })

  it('a window crossing a spring-forward night is shorter, and one crossing a fall-back night longer', () => {
    // Berlin: the night of 2026-03-28/29 loses an hour, 22:00 CET = 21:00Z to 08:00 CEST = 06:00Z (9 h).
    expect(iso(quietUntil(at('2026-03-28T21:00:00Z'), night, 'Europe/Berlin'))).toBe('2026-03-29T06:00:00.000Z')
    // The night of 2026-10-24/25 gains one: 22:00 CEST = 20:00Z to 08:00 CET = 07:00Z (11 h).
    expect(iso(quietUntil(at('2026-10-24T20:00:00Z'), night, 'Europe/Berlin'))).toBe('2026-10-25T07:00:00.000Z')
  })

  it('a window ending inside a DST gap ends when the clock has moved past it', () => {
    const toHalfTwo = parseQuietHours('22:00-02:30')!
    // Berlin 2026-03-29 02:30 does not exist: the window ends at 03:30 CEST (01:30Z), never earlier.
    expect(iso(quietUntil(at('2026-03-29T00:45:00Z'), toHalfTwo, 'Europe/Berlin'))).toBe('2026-03-29T01:30:00.000Z')
    // 01:45Z is 03:45 CEST: outside the window.
    expect(quietUntil(at('2026-03-29T01:45:00Z'), toHalfTwo, 'Europe/Berlin')).toBeNull()
  })
})

describe('warm-up schedule', () => {
  const base = { cap: 200, warmupStart: 20, warmupDays: 14, timeZone: 'UTC' }
  const paired = at('2026-06-01T10:00:00Z')
  const day = (n: number) => paired + n * 86_400_000

  it('starts at warmupStart on the pairing day and grows in a straight line to the cap on day warmupDays', () => {
    expect(dailyCapToday({ ...base, pairedAtMs: paired, nowMs: day(0) })).toEqual({ cap: 20, warmupDay: 0 })
    expect(dailyCapToday({ ...base, pairedAtMs: paired, nowMs: day(7) })).toEqual({ cap: 110, warmupDay: 7 })
    expect(dailyCapToday({ ...base, pairedAtMs: paired, nowMs: day(13) })).toEqual({ cap: 187, warmupDay: 13 })
    expect(dailyCapToday({ ...base, pairedAtMs: paired, nowMs: day(14) })).toEqual({ cap: 200, warmupDay: null })
    expect(dailyCapToday({ ...base, pairedAtMs: paired, nowMs: day(400) })).toEqual({ cap: 200, warmupDay: null })
  })

  it('cap 0 turns the daily limit off; warm-up 0 days, start 0 or an unknown pairing time skip the ramp', () => {
    expect(dailyCapToday({ ...base, cap: 0, pairedAtMs: paired, nowMs: day(0) })).toBeNull()
    expect(dailyCapToday({ ...base, warmupDays: 0, pairedAtMs: paired, nowMs: day(0) })).toEqual({ cap: 200, warmupDay: null })
    expect(dailyCapToday({ ...base, warmupStart: 0, pairedAtMs: paired, nowMs: day(0) })).toEqual({ cap: 200, warmupDay: null })
    expect(dailyCapToday({ ...base, pairedAtMs: null, nowMs: day(0) })).toEqual({ cap: 200, warmupDay: null })
  })
})
