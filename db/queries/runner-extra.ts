/**
 * Runner statements that the queue helper's files (leases.ts, queue.ts) do not cover yet. Each says why it is here;
 * they can move into those files later without changing callers beyond the import.
 */
import type { Db, Queryable } from '../driver.js'
import { each, same } from '../sql.js'
import { lockSessionForClaim } from './queue.js'
import { markConsentRequested } from './contacts.js'

const HELD_PHONES = same(`SELECT DISTINCT m.phone
  FROM messages m
  LEFT JOIN contacts c ON c.phone = m.phone
 WHERE m.session = ?
   AND m.status = 'pending'
   AND m.error = 'awaiting opt-in'
   AND (c.phone IS NULL OR (c.opt_in = 'pending' AND c.consent_requested_at IS NULL))
 LIMIT 10`)

/**
 * Under `OPT_IN_MODE=confirm`: phones with messages held for consent (queue.ts `claimNextMessage` holds them with
 * error 'awaiting opt-in') that have not been sent the consent request yet.
 */
export async function findPhonesAwaitingConsentRequest(db: Queryable, session: string): Promise<string[]> {
  return (await db.query(HELD_PHONES[db.dialect], [session])).map((r) => String(r.phone))
}

const TAKE_SLOT = each(
  `UPDATE sessions
   SET next_send_at = NOW(6) + INTERVAL ? * 1000 MICROSECOND,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET next_send_at = now() + $1 * interval '1 millisecond',
       updated_at = now()
 WHERE name = $2
   AND owner = $3
   AND lease_epoch = $4`,
)

export type ConsentSlotResult = { kind: 'take' } | { kind: 'wait'; waitMs: number } | { kind: 'fenced' }

/**
 * Takes the session's throttle slot for a consent reply or request to `phone` (and, with `mark`, records that the
 * consent request was made), in one
 * transaction under the lease (session row first). The request itself is not a queue row: it is sent once per
 * contact, outside the audit log, and never retried (a lost request is repeated by nobody; the contact can still
 * write YES). queue.ts's takeSendSlot is private, hence this copy.
 */
export async function takeSlotForConsentRequest(
  db: Db,
  params: { session: string; owner: string; epoch: number; gapMs: number; phone: string; mark: boolean },
): Promise<ConsentSlotResult> {
  return db.transaction(async (tx): Promise<ConsentSlotResult> => {
    const lock = await lockSessionForClaim(tx, params)
    if (!lock) return { kind: 'fenced' }
    if (lock.waitMs > 0) return { kind: 'wait', waitMs: lock.waitMs }
    await tx.execute(TAKE_SLOT[tx.dialect], [Math.round(params.gapMs), params.session, params.owner, params.epoch])
    if (params.mark) await markConsentRequested(tx, params.phone)
    return { kind: 'take' }
  })
}
