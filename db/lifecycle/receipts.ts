/**
 * What WhatsApp reports about a sent message, keyed by its WhatsApp id and not fenced (db/README.md, The message
 * states): the server ack, delivery and read receipts (first time kept, first time reported), and a negative ack,
 * which fails the message.
 */
import type { Db, Queryable } from '../driver.js'
import type { PauseSessionParams } from '../queries/leases.js'
import { pauseSession } from '../queries/leases.js'
import * as receipts from '../queries/message-receipts.js'
import { atomically, emitMessageEventByWaId } from '../queries/webhook-events.js'

/** WhatsApp's server acknowledged the stanza. Keeps the first time; no event. `false`: no message has that id. */
export async function recordServerAck(db: Queryable, waMessageId: string): Promise<boolean> {
  return receipts.recordServerAck(db, waMessageId)
}

/**
 * A delivery receipt. Keeps the first time; the first one also writes `message.delivered` in the same transaction
 * (a repeated receipt writes no event). `false`: no message has that id (e.g. pruned).
 */
export async function recordDelivered(db: Queryable, waMessageId: string): Promise<boolean> {
  return atomically(db, async (tx) => {
    if (await receipts.recordFirstDelivered(tx, waMessageId)) {
      await emitMessageEventByWaId(tx, 'message.delivered', waMessageId)
      return true
    }
    // Already delivered (or unknown): the plain statement, for its answer and updated_at.
    return receipts.recordDelivered(tx, waMessageId)
  })
}

/**
 * A read receipt; implies delivery. Keeps the first times. In the same transaction, the first read writes
 * `message.read`, preceded by `message.delivered` when no delivery receipt came first. `false`: no message has that id.
 */
export async function recordRead(db: Queryable, waMessageId: string): Promise<boolean> {
  return atomically(db, async (tx) => {
    const before = await receipts.lockReceipts(tx, waMessageId)
    if (!before) return false
    await receipts.recordRead(tx, waMessageId)
    if (before.delivered_at === null) await emitMessageEventByWaId(tx, 'message.delivered', waMessageId)
    if (before.read_at === null) await emitMessageEventByWaId(tx, 'message.read', waMessageId)
    return true
  })
}

/** A group member's receipt: counted once per member (`countMemberReceipts`) beside the message's first times. */
export async function recordMemberReceipt(db: Queryable, waMessageId: string, participant: string, read: boolean): Promise<void> {
  await receipts.recordMemberReceipt(db, waMessageId, participant, read)
}

export interface FailByWaIdParams {
  waMessageId: string
  /** e.g. `negative ack 463: account restricted from reaching out`. */
  error: string
  /** For 463 only: pause the session (fenced by its lease) in the same transaction. */
  pause?: PauseSessionParams
}

/**
 * A negative ack: the message fails (`message.failed`); on 463 the session also pauses (24 h by default, reason in
 * `detail`), in one transaction, session row first (db/README.md, Claim and throttle). Returns what matched.
 */
export async function failByWaId(db: Db, params: FailByWaIdParams): Promise<{ failed: boolean; paused: boolean }> {
  return db.transaction(async (tx) => {
    const paused = params.pause ? await pauseSession(tx, params.pause) : false
    const failed = await receipts.failByWaId(tx, params.waMessageId, params.error)
    if (failed) await emitMessageEventByWaId(tx, 'message.failed', params.waMessageId)
    return { failed, paused }
  })
}
