/**
 * The circuit breaker (runner/README.md, Limits): after N consecutive failed sends a session pauses, with the reason
 * on its row; a successful send ends the streak. Outside the claim: after a send's outcome is recorded.
 */
import type { Db, Queryable } from '../driver.js'
import { pauseSession, type LeaseFence } from '../queries/leases.js'
import { lockFailureCount, resetFailureCount, setFailureCount, showBreakerHold } from '../queries/send-slot.js'
import { HOLD_PREFIX, type LimitDefaults } from './limit-plan.js'

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
    const row = await lockFailureCount(tx, fence)
    if (!row) return { failures: 0, paused: false, held: false }
    const failures = row.failures + 1
    const threshold = row.ownThreshold === null || row.ownThreshold < 0 ? params.defaults.breakerFailures : row.ownThreshold
    if (threshold > 0 && failures >= threshold) {
      const minutes = Math.max(1, Math.round(params.defaults.breakerPauseMinutes))
      await pauseSession(tx, { ...fence, seconds: minutes * 60, detail: HOLD_PREFIX.breaker })
      await showBreakerHold(tx, fence, `${HOLD_PREFIX.breaker}: ${failures} consecutive send failures (last: ${params.lastError.slice(0, 200)}); sending paused until `)
      await setFailureCount(tx, fence, 0)
      return { failures: 0, paused: true, held: true }
    }
    await setFailureCount(tx, fence, failures)
    return { failures, paused: false, held: true }
  })
}

/** A send succeeded: the failure streak is over. */
export async function recordSendSuccess(db: Queryable, fence: LeaseFence): Promise<void> {
  await resetFailureCount(db, fence)
}
