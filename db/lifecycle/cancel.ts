/** Cancel: the API takes a `pending` message (scheduled or due) out of the queue (db/README.md, The message states). */
import type { Queryable } from '../driver.js'
import { markCancelled, statusOf } from '../queries/message-controls.js'
import { atomically, emitMessageEvent } from '../queries/webhook-events.js'
import type { MessageStatus } from '../types.js'

export type CancelResult =
  /** It left the queue now (or had already been cancelled: a repeat changes nothing). */
  | { kind: 'cancelled' }
  | { kind: 'not_found' }
  /** It is `sending` or later: too late, `status` says where it is. */
  | { kind: 'not_cancellable'; status: MessageStatus }

/**
 * `pending` → `cancelled`, final, with its `message.cancelled` event in the same transaction. Against a runner
 * claiming the same row at the same moment exactly one wins: either the claim took it (`not_cancellable`, status
 * `sending`) or the cancel did (the claim never sees it). A message held for consent or a limit is `pending` too.
 */
export async function cancelMessage(db: Queryable, id: number): Promise<CancelResult> {
  return atomically(db, async (tx): Promise<CancelResult> => {
    if (await markCancelled(tx, id)) {
      await emitMessageEvent(tx, 'message.cancelled', id)
      return { kind: 'cancelled' }
    }
    const status = await statusOf(tx, id)
    if (status === null) return { kind: 'not_found' }
    if (status === 'cancelled') return { kind: 'cancelled' }
    return { kind: 'not_cancellable', status }
  })
}
