import type { Queryable } from '../db/driver.js'
import { inboundSessionOf } from '../db/queries/inbound.js'
import { invalid } from './validation.js'

/**
 * A send's `reply_to` must name a message received on the session that sends: a quote of a message the recipient's
 * chat with this number never had would show nothing on the phone. 404 `unknown_reply_to`, 409
 * `reply_to_other_session`.
 */
export async function assertReplyable(db: Queryable, replyTo: number | undefined | null, session: string): Promise<void> {
  if (replyTo === undefined || replyTo === null) return
  const on = await inboundSessionOf(db, replyTo)
  if (on === null) throw invalid('reply_to', 'unknown_reply_to', `names no received message (no inbound message ${replyTo})`, 404)
  if (on !== session) {
    throw invalid('reply_to', 'reply_to_other_session', `names a message received on session "${on}", not on "${session}"; reply from the session it arrived on`, 409)
  }
}
