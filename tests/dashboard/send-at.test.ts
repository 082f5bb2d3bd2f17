/** The Send form's "Send at" fields read into an ISO time with its zone (api/dashboard/send-at.ts). */
import { describe, expect, it } from 'vitest'
import { parseFormSendAt } from '../../api/dashboard/send-at.js'

const NOW = Date.parse('2026-12-04T10:00:00Z')

describe('parseFormSendAt', () => {
  it('is "now" when the field is empty, whatever the offset', () => {
    expect(parseFormSendAt(undefined, undefined, NOW)).toEqual({ ok: true, iso: null })
    expect(parseFormSendAt('  ', '120', NOW)).toEqual({ ok: true, iso: null })
  })

  it('attaches the browser offset to the wall-clock time (east, west, half-hour zones)', () => {
    expect(parseFormSendAt('2026-12-24T09:00', '120', NOW)).toEqual({ ok: true, iso: '2026-12-24T09:00:00+02:00' })
    expect(parseFormSendAt('2026-12-24T09:00', '-300', NOW)).toEqual({ ok: true, iso: '2026-12-24T09:00:00-05:00' })
    expect(parseFormSendAt('2026-12-24T09:15:30', '330', NOW)).toEqual({ ok: true, iso: '2026-12-24T09:15:30+05:30' })
    expect(Date.parse((parseFormSendAt('2026-12-24T09:00', '120', NOW) as { iso: string }).iso)).toBe(Date.parse('2026-12-24T07:00:00Z'))
  })

  it('reads the time as UTC when no offset came with it (no JavaScript)', () => {
    expect(parseFormSendAt('2026-12-24T09:00', '', NOW)).toEqual({ ok: true, iso: '2026-12-24T09:00:00Z' })
    expect(parseFormSendAt('2026-12-24T09:00', undefined, NOW)).toEqual({ ok: true, iso: '2026-12-24T09:00:00Z' })
  })

  it('refuses malformed and impossible dates and offsets with a sentence that says what to do', () => {
    for (const bad of ['tomorrow', '2026-12-24', '2026-12-24 09:00', '24/12/2026 09:00', '2026-12-24T9:00']) {
      expect(parseFormSendAt(bad, '0', NOW)).toEqual({ ok: false, error: expect.stringContaining('Pick a date and time') })
    }
    expect(parseFormSendAt('2027-02-30T09:00', '0', NOW)).toEqual({ ok: false, error: expect.stringContaining('There is no 2027-02-30 09:00') })
    expect(parseFormSendAt('2026-12-24T24:00', '0', NOW)).toEqual({ ok: false, error: expect.stringContaining('There is no') })
    for (const offset of ['900', '-841', '1.5', 'abc', '+60']) {
      expect(parseFormSendAt('2026-12-24T09:00', offset, NOW)).toEqual({ ok: false, error: expect.stringContaining('offset') })
    }
  })

  it('refuses a time that has passed (beyond the current minute) in the zone it was picked in', () => {
    // 11:30 in UTC+02:00 is 09:30 UTC: half an hour ago.
    expect(parseFormSendAt('2026-12-04T11:30', '120', NOW)).toEqual({ ok: false, error: expect.stringMatching(/^2026-12-04 11:30 \(UTC\+02:00\) has already passed/) })
    // 11:30 UTC is still ahead.
    expect(parseFormSendAt('2026-12-04T11:30', '', NOW)).toEqual({ ok: true, iso: '2026-12-04T11:30:00Z' })
    // The minute being typed is fine.
    expect(parseFormSendAt('2026-12-04T09:59:30', '0', NOW)).toMatchObject({ ok: true })
  })
})
