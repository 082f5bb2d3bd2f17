/**
 * How a claim ends, fenced by `claim_epoch` and `claimed_by` (db/README.md, Claim and throttle): sent (the socket
 * write succeeded), retry (a transient error with attempts left), failed (a permanent error or the last attempt).
 * `false` from any of them: the claim was taken over, so stop; the new lease holder reconciles the row.
 */
import type { Db, Queryable } from '../driver.js'
import { markFailed, markSent, requeue, type ClaimFence } from '../queries/message-outcomes.js'
import { holdSendGap, lockSessionRowOnMysql } from '../queries/send-slot.js'
import { atomically, emitMessageEvent } from '../queries/webhook-events.js'
import { wholeMs } from './claim.js'
import { settleRevoke } from './revoke.js'

export type { ClaimFence } from '../queries/message-outcomes.js'

/**
 * The socket write succeeded: `sending` → `sent` with `message.sent`, and the session's next slot is held at least
 * `minGapMs` after now, so a slow upload cannot bring two stanzas closer than the minimum (db/README.md). One
 * transaction, session row first.
 */
export async function finalizeSent(
  db: Db,
  params: ClaimFence & { session: string; minGapMs: number; /** For a `revoke` row: the message it took back. */ revokes?: number | null },
): Promise<boolean> {
  const gap = wholeMs(params.minGapMs)
  // The slot hold is guarded by the lease: a runner that lost it must not move the new owner's slot. The message
  // update is fenced separately, by the claim.
  const lease = { name: params.session, owner: params.owner, epoch: params.epoch }
  return db.transaction(async (tx) => {
    let sent: boolean
    if (tx.dialect === 'mysql') {
      // NOW(6) is per statement on MySQL: stamp sent_at first, then hold the gap from a later NOW(6) (send-slot.ts).
      await lockSessionRowOnMysql(tx, params.session)
      sent = await markSent(tx, params)
      await holdSendGap(tx, lease, gap)
    } else {
      await holdSendGap(tx, lease, gap)
      sent = await markSent(tx, params)
    }
    if (sent) await emitMessageEvent(tx, 'message.sent', params.id)
    if (sent && params.revokes) await settleRevoke(tx, params.revokes)
    return sent
  })
}

/**
 * Transient error with attempts left: back to `pending`, due after `backoffMs` (see `backoffMs()`), keeping its
 * WhatsApp id. No event: the message has not ended.
 */
export async function requeueWithBackoff(db: Queryable, params: ClaimFence & { backoffMs: number; error: string }): Promise<boolean> {
  return requeue(db, { ...params, backoffMs: wholeMs(params.backoffMs) })
}

/**
 * Permanent error, or the last attempt failed: `sending` → `failed` with the reason, and its `message.failed` event
 * in the same transaction (its own, or the caller's when given one).
 */
export async function finalizeFailed(db: Queryable, params: ClaimFence & { error: string }): Promise<boolean> {
  return atomically(db, async (tx) => {
    const failed = await markFailed(tx, params)
    if (failed) await emitMessageEvent(tx, 'message.failed', params.id)
    return failed
  })
}

/** Backoff constants (db/README.md, Claim and throttle). */
export const BACKOFF_BASE_MS = 30_000
export const BACKOFF_CAP_MS = 30 * 60_000
export const BACKOFF_JITTER = 0.2

/**
 * Delay before retry number `attempts` (the claim count after the failed one): 30 s × 2^(attempts−1), capped at
 * 30 min, then ±20 % jitter. `random` is injectable for tests.
 */
export function backoffMs(attempts: number, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempts))
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (n - 1))
  return Math.round(base * (1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * random()))
}
