/**
 * Enqueue: a new message becomes `pending` (db/README.md, The message states). The committed row is the promise that
 * it will be sent or accounted for.
 */
import type { Queryable } from '../driver.js'
import { insertMessage, insertMessages, type NewMessage } from '../queries/message-inserts.js'
import { findMessageByKey } from '../queries/messages.js'

export type EnqueueInput = NewMessage

export type EnqueueResult =
  | { kind: 'created'; id: number }
  /** The idempotency key was seen before with the same request: same id, no new row. */
  | { kind: 'repeat'; id: number }
  /** The idempotency key was seen before with a different request. */
  | { kind: 'conflict'; id: number }

/**
 * A WhatsApp message id in the shape WhatsApp Web uses (`3EB0` + 18 upper-case hex digits), drawn
 * at enqueue so that every retry, resend and post-crash resend goes out under one id, and so that a
 * multi-row insert can map its rows back to ids without relying on AUTO_INCREMENT being consecutive.
 */
export function newWaMessageId(): string {
  if (entropyAt + WA_ID_BYTES > entropy.length) {
    // One getRandomValues call per 455 ids: a call per id was 5% of the API's CPU under load.
    // Web Crypto, not node:crypto: this file is bundled into the Workers API too.
    crypto.getRandomValues(entropy)
    entropyAt = 0
  }
  let id = '3EB0'
  for (let i = 0; i < WA_ID_BYTES; i++) id += HEX[entropy[entropyAt++]!]
  return id
}

const WA_ID_BYTES = 9
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0').toUpperCase())
const entropy = new Uint8Array(4096)
// Starts exhausted, so the first id draws fresh bytes.
let entropyAt = entropy.length

/**
 * Queues one message. With an idempotency key, a repeat of the same request returns the existing id, and the same
 * key with a different request is a `conflict`. Writes no webhook event (no event type reports enqueueing).
 * @example const r = await enqueueMessage(db, { session: 'default', phone: '9611234567', type: 'text', body: 'Hi' })
 */
export async function enqueueMessage(db: Queryable, input: EnqueueInput): Promise<EnqueueResult> {
  const id = await insertMessage(db, input, newWaMessageId())
  if (id !== null) return { kind: 'created', id }
  // A separate statement: under READ COMMITTED it sees a concurrent committer's row.
  const found = await findMessageByKey(db, input.idempotencyKey!)
  if (!found) throw new Error('idempotency key vanished between insert and lookup')
  return found.requestHash === (input.requestHash ?? null) ? { kind: 'repeat', id: found.id } : { kind: 'conflict', id: found.id }
}

/**
 * Queues many messages with one multi-row INSERT and returns their ids in input order. Idempotency keys are not
 * accepted here; callers check a batch key first.
 */
export async function enqueueMessages(db: Queryable, inputs: readonly EnqueueInput[]): Promise<number[]> {
  if (inputs.length === 0) return []
  const waIds = inputs.map(() => newWaMessageId())
  const byWaId = await insertMessages(db, inputs, waIds)
  return waIds.map((w) => {
    const id = byWaId.get(w)
    if (id === undefined) throw new Error(`inserted row for ${w} not found`)
    return id
  })
}
