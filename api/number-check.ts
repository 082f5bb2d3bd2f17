/**
 * `GET /api/sessions/:name/check/:phone`: is one number on WhatsApp? The API never talks to the runner
 * (api/README.md): a fresh answer comes from the cache row, otherwise the check is counted against the session's
 * limit and requested on a row the session's lease holder answers (db/queries/number-checks.ts), polled here.
 */
import type { Queryable } from '../db/driver.js'
import { countNumberCheck, dropNumberCheck, NUMBER_CHECK_WAIT_S, readNumberCheck, requestNumberCheck } from '../db/queries/number-checks.js'
import { getSession } from '../db/queries/sessions.js'
import { ApiError } from './errors.js'

/** The answer, or throws 404 (`unknown`), 409 (not online), 429 (the seconds to wait given to `onLimit` first), 502 or 504. */
export async function checkNumber(db: Queryable, session: string, phone: string, perMinute: number, onLimit: (seconds: number) => void, unknown: (session: string) => ApiError, pollMs = 250): Promise<{ exists: boolean; jid?: string }> {
  const s = await getSession(db, session)
  if (!s || s.deleteRequestedAt) throw unknown(session)
  let row = await readNumberCheck(db, session, phone)
  // Served from the cache without a runner, and not counted: the limit guards what WhatsApp sees.
  if (!row?.answered || row.error) {
    if (s.status !== 'online') throw new ApiError(409, 'session_offline', `Session "${session}" is ${s.status}, not online`)
    const wait = await countNumberCheck(db, session, perMinute)
    if (wait) {
      onLimit(wait)
      throw new ApiError(429, 'rate_limited', `${perMinute} checks a minute at most; retry in ${wait} s`)
    }
    await requestNumberCheck(db, session, phone)
    const deadline = Date.now() + NUMBER_CHECK_WAIT_S * 1000
    do {
      await new Promise((r) => setTimeout(r, pollMs))
      row = await readNumberCheck(db, session, phone)
    } while (!row?.answered && Date.now() < deadline)
    if (!row?.answered || row.error) {
      await dropNumberCheck(db, session, phone)
      if (row?.error) throw new ApiError(502, 'check_failed', row.error)
      throw new ApiError(504, 'runner_timeout', `No runner answered in ${NUMBER_CHECK_WAIT_S} s`)
    }
  }
  return row.jid ? { exists: true, jid: row.jid } : { exists: false }
}
