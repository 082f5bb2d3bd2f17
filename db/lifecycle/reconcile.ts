/**
 * Reconciliation on takeover (db/README.md, Crash windows): what a new lease holder does with the one `sending` row
 * a previous holder left behind.
 */
import type { Db } from '../driver.js'
import { adoptInflight, failInflight, findInflight, settleInflightSent } from '../queries/message-outcomes.js'
import { lockSessionForClaim, takeSendSlot } from '../queries/send-slot.js'
import { emitMessageEvent } from '../queries/webhook-events.js'
import { settleRevoke } from './revoke.js'
import { wholeMs, type ClaimedMessage } from './claim.js'

/** Result of `reconcileInflight`. */
export type ReconcileResult =
  /** No `sending` row: start the claim loop. */
  | { kind: 'none' }
  /** A receipt was on record: the row is now `sent`. */
  | { kind: 'settled'; id: number }
  /** Resend once under the stored id, then finalize with this lease's epoch. */
  | { kind: 'resend'; message: ClaimedMessage }
  /** Interrupted twice: the row is now `failed` and is not resent. */
  | { kind: 'failed'; id: number }
  /** The row must be resent but the throttle slot is not due: sleep `waitMs`, then reconcile again. */
  | { kind: 'wait'; waitMs: number }
  /** The lease is gone. */
  | { kind: 'fenced' }

/**
 * Reconciles the session's `sending` row once per acquired lease, after the socket is up and pending notifications
 * (receipts) have landed (db/README.md). One transaction opened by lockSessionForClaim. First match wins:
 * 1. a receipt is on record → `settled` (`message.sent`);
 * 2. `error` IS NULL (not resent yet) → adopt it, take the send slot (`gapMs`) → `resend` (or `wait` while the
 *    slot is not due);
 * 3. otherwise → `failed` (`message.failed`).
 * A row already claimed under this very lease is handed back as `resend` unchanged: the caller lost its claim result
 * (a COMMIT whose reply never came), and no send has started for it.
 */
export async function reconcileInflight(
  db: Db,
  params: { session: string; owner: string; epoch: number; gapMs: number },
): Promise<ReconcileResult> {
  const { session, owner, epoch } = params
  const gapMs = wholeMs(params.gapMs)
  return db.transaction(async (tx): Promise<ReconcileResult> => {
    const lock = await lockSessionForClaim(tx, { session, owner, epoch })
    if (!lock) return { kind: 'fenced' }
    const row = await findInflight(tx, session)
    if (!row) return { kind: 'none' }
    const asClaimed = (attempts: number): ClaimedMessage => ({
      id: row.id,
      session,
      phone: row.phone,
      type: row.type,
      body: row.body,
      mediaId: row.mediaId,
      details: row.details,
      replyTo: row.replyTo,
      targetId: row.targetId,
      attempts,
      waMessageId: row.waMessageId ?? '',
      claimEpoch: epoch,
    })
    if (row.claimEpoch !== null && row.claimEpoch >= epoch) {
      if (row.claimedBy === owner && row.claimEpoch === epoch && row.waMessageId) {
        return { kind: 'resend', message: asClaimed(row.attempts) }
      }
      // A higher epoch than our lease cannot be written under a lease we still hold: treat as lost.
      return { kind: 'fenced' }
    }
    const fence = { id: row.id, owner, epoch }
    if (row.deliveredAt || row.readAt) {
      if (await settleInflightSent(tx, fence)) {
        await emitMessageEvent(tx, 'message.sent', row.id)
        if (row.type === 'revoke' && row.targetId !== null) await settleRevoke(tx, row.targetId)
      }
      return { kind: 'settled', id: row.id }
    }
    if (row.error === null) {
      if (lock.waitMs > 0) return { kind: 'wait', waitMs: lock.waitMs }
      await adoptInflight(tx, fence)
      await takeSendSlot(tx, { session, owner, epoch, gapMs })
      return { kind: 'resend', message: asClaimed(row.attempts + 1) }
    }
    if (await failInflight(tx, fence)) await emitMessageEvent(tx, 'message.failed', row.id)
    return { kind: 'failed', id: row.id }
  })
}
