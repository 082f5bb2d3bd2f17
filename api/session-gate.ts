import type { Queryable } from '../db/driver.js'
import { getSession } from '../db/queries/sessions.js'
import { ApiError } from './errors.js'

/**
 * Answers "may this session receive new messages?" (exists, not being deleted) before a send.
 * A positive answer is remembered for `ttlMs` so the send path needs no extra query per request;
 * this process forgets it at once when it deletes the session, other API processes within `ttlMs`.
 */
export interface SessionGate {
  /** Throws 404 `unknown_session` or 409 `session_deleting`. */
  assertSendable(db: Queryable, name: string): Promise<void>
  forget(name: string): void
}

export function createSessionGate({ ttlMs = 1000, now = () => Date.now() }: { ttlMs?: number; now?: () => number } = {}): SessionGate {
  const okUntil = new Map<string, number>()
  return {
    async assertSendable(db, name) {
      const until = okUntil.get(name)
      if (until !== undefined && until > now()) return
      const session = await getSession(db, name)
      if (!session) {
        throw new ApiError(404, 'unknown_session', `Session "${name}" does not exist; create it with POST /api/sessions or leave "session" out to use "default"`)
      }
      if (session.deleteRequestedAt) {
        throw new ApiError(409, 'session_deleting', `Session "${name}" is being deleted and accepts no new messages; send from another session`)
      }
      if (ttlMs > 0) {
        if (okUntil.size > 10_000) okUntil.clear()
        okUntil.set(name, now() + ttlMs)
      }
    },
    forget(name) {
      okUntil.delete(name)
    },
  }
}
