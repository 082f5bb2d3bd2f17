/**
 * Consent under `OPT_IN_MODE=confirm` (runner/README.md, STOP and YES): messages held for a contact's YES are
 * released when it comes, and the consent request itself takes the session's throttle slot like any send.
 */
import type { Db, Queryable } from '../driver.js'
import { markConsentRequested } from '../queries/contacts.js'
import { releaseConsentHolds } from '../queries/message-claim.js'
import { lockSessionForClaim, takeSendSlot } from '../queries/send-slot.js'

export { findPhonesAwaitingConsentRequest } from '../queries/message-claim.js'

/**
 * Makes the messages held for a contact's consent (`hold = 'consent'`) due now; call it when the contact opts in
 * (YES, or any other inbound message from a `pending` contact). Rows in transient backoff are not touched (they hold
 * for no one). Returns how many were released.
 */
export async function releaseHeldMessages(db: Queryable, phone: string): Promise<number> {
  return releaseConsentHolds(db, phone)
}

export type ConsentSlotResult = { kind: 'take' } | { kind: 'wait'; waitMs: number } | { kind: 'fenced' }

/**
 * Takes the session's throttle slot for a consent reply or request to `phone` (and, with `mark`, records that
 * the consent request was made), in one transaction under the lease (session row first), so these messages
 * keep the same human pace as queued sends. The request itself is not a queue row: it is sent once per
 * contact, outside the audit log; a lost request is not repeated, and the contact can still write YES.
 */
export async function takeSlotForConsentRequest(
  db: Db,
  params: { session: string; owner: string; epoch: number; gapMs: number; phone: string; mark: boolean },
): Promise<ConsentSlotResult> {
  return db.transaction(async (tx): Promise<ConsentSlotResult> => {
    const lock = await lockSessionForClaim(tx, params)
    if (!lock) return { kind: 'fenced' }
    if (lock.waitMs > 0) return { kind: 'wait', waitMs: lock.waitMs }
    await takeSendSlot(tx, { ...params, gapMs: Math.round(params.gapMs) })
    if (params.mark) await markConsentRequested(tx, params.phone)
    return { kind: 'take' }
  })
}
