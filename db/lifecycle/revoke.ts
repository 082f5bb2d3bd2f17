/**
 * Revoke: take a `sent` message back for everyone on the phone (db/README.md, Message kinds). The request queues a
 * `revoke` row on the message's session, so it is paced by the same throttle, survives a crash like any send, and
 * is settled like one; when that row is sent, the original gets `revoked_at` and a `message.revoked` event.
 */
import type { Queryable } from '../driver.js'
import { findOpenRevoke, lockRevokeTarget, markRevoked } from '../queries/message-controls.js'
import { atomically, emitMessageEvent } from '../queries/webhook-events.js'
import type { MessageStatus } from '../types.js'
import { enqueueMessage } from './enqueue.js'

/**
 * How long after sending WhatsApp still lets a message be deleted for everyone: about two and a half days (60 h)
 * since 2022. The API refuses past it, and the runner checks again before sending a revoke that waited in the queue.
 */
export const REVOKE_WINDOW_SECONDS = 60 * 3600

export type RevokeRequestResult =
  /** The revoke row that will take it back (a new one, or the one already queued). */
  | { kind: 'queued'; revokeId: number }
  | { kind: 'not_found' }
  /** Only a `sent` message can be taken back; `status` says where this one is (or `revoke` rows themselves). */
  | { kind: 'not_revocable'; status: MessageStatus; reason: 'status' | 'kind' }
  | { kind: 'already_revoked' }
  | { kind: 'too_late' }

/** Queues the revoke of message `id` (one open revoke per message, whoever asks twice). */
export async function requestRevoke(db: Queryable, id: number, windowSeconds = REVOKE_WINDOW_SECONDS): Promise<RevokeRequestResult> {
  return atomically(db, async (tx): Promise<RevokeRequestResult> => {
    const target = await lockRevokeTarget(tx, id, windowSeconds)
    if (!target) return { kind: 'not_found' }
    if (target.type === 'revoke') return { kind: 'not_revocable', status: target.status, reason: 'kind' }
    if (target.revokedAt) return { kind: 'already_revoked' }
    if (target.status !== 'sent') return { kind: 'not_revocable', status: target.status, reason: 'status' }
    const open = await findOpenRevoke(tx, id)
    if (open !== null) return { kind: 'queued', revokeId: open }
    if (!target.withinWindow) return { kind: 'too_late' }
    const queued = await enqueueMessage(tx, { session: target.session, phone: target.phone, type: 'revoke', body: null, targetId: target.id })
    return { kind: 'queued', revokeId: queued.id }
  })
}

/**
 * A revoke row was sent: stamp its target's `revoked_at` and report `message.revoked` for the target. Runs inside
 * the transaction that settles the revoke row (`finalizeSent`, or a takeover's settle).
 */
export async function settleRevoke(tx: Queryable, targetId: number): Promise<void> {
  if (await markRevoked(tx, targetId)) await emitMessageEvent(tx, 'message.revoked', targetId)
}
