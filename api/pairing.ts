/**
 * `POST /api/sessions/:name/pairing-code` and the dashboard's "link with phone number" both come here. The API never
 * talks to the runner (api/README.md): it records the request on the session row and polls the row until the
 * session's lease holder has written a code (or why there is none), for at most `waitMs`. Web-standard timers only.
 */
import type { Queryable } from '../db/driver.js'
import { cancelPairingRequest, getSession, readPairing, requestPairingCode } from '../db/queries/sessions.js'
import { ApiError } from './errors.js'

export interface PairingCodeOptions {
  /** How long to wait for a runner's answer (PAIRING_CODE_WAIT_MS, 15 s by default). */
  waitMs: number
  /** Poll interval. */
  pollMs?: number
  sleep?: (ms: number) => Promise<void>
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Asks the lease holder of `session` for an 8-character pairing code for `phone` (digits) and returns it as
 * `XXXX-XXXX`. Throws ApiError: 404 unknown session, 409 already linked / being deleted / runner refused,
 * 504 no runner answered in time (the request is withdrawn).
 */
export async function obtainPairingCode(db: Queryable, session: string, phone: string, options: PairingCodeOptions): Promise<string> {
  const found = await getSession(db, session)
  if (!found || found.deleteRequestedAt) {
    if (found) throw new ApiError(409, 'session_deleting', `Session "${session}" is being deleted`)
    throw new ApiError(404, 'unknown_session', `Session "${session}" does not exist; GET /api/sessions lists the sessions`)
  }
  if (found.status === 'online') {
    throw new ApiError(409, 'session_linked', `Session "${session}" is already linked to +${found.phone ?? '?'}; POST /api/regenerate-qr first to link another number`)
  }
  const recorded = await requestPairingCode(db, session, phone)
  if (recorded === 'not_found') throw new ApiError(404, 'unknown_session', `Session "${session}" does not exist; GET /api/sessions lists the sessions`)
  if (recorded === 'deleting') throw new ApiError(409, 'session_deleting', `Session "${session}" is being deleted`)
  const sleep = options.sleep ?? defaultSleep
  const pollMs = options.pollMs ?? 250
  const deadline = Date.now() + options.waitMs
  for (;;) {
    const answer = await readPairing(db, session)
    if (!answer || answer.phone !== phone) {
      throw new ApiError(409, 'pairing_replaced', `Another pairing request for session "${session}" replaced this one; try again`)
    }
    if (answer.code) return answer.code
    if (answer.error) throw new ApiError(409, 'pairing_refused', `The runner could not get a pairing code: ${answer.error}`)
    if (Date.now() >= deadline) break
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())))
  }
  await cancelPairingRequest(db, session, phone)
  throw new ApiError(
    504,
    'runner_timeout',
    `No runner produced a pairing code for session "${session}" within ${Math.round(options.waitMs / 1000)} s. ` +
      'Check that a runner is running and holds this session (GET /api/status shows it connecting), then try again.',
  )
}
