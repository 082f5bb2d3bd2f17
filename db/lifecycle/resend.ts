/** Resend: the API puts a `failed` or `opted_out` message back in the queue (db/README.md, The message states). */
import type { Queryable } from '../driver.js'
import { markResent } from '../queries/message-outcomes.js'
import { getMessage } from '../queries/messages.js'

export type ResendResult = 'ok' | 'not_found' | 'wrong_status'

/**
 * `failed` / `opted_out` → `pending`, due now, attempts reset. Its WhatsApp id is kept, so a message that may have
 * reached the phone goes out again under the same id. No event: the message has not ended.
 */
export async function resendMessage(db: Queryable, id: number): Promise<ResendResult> {
  if (await markResent(db, id)) return 'ok'
  return (await getMessage(db, id)) ? 'wrong_status' : 'not_found'
}
