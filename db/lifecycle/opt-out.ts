/**
 * Opt-out: a contact's `pending` messages become `opted_out` when the contact says no (a STOP, or the API and the
 * dashboard setting `opt_in = 'no'`). The claim's own consent check (claim.ts) is the guarantee; this makes the
 * audit log honest at once (db/README.md, The message states).
 */
import type { Db, Queryable } from '../driver.js'
import { lockContactOptIn, upsertOptIn } from '../queries/contacts.js'
import { markOptedOut, markPendingOfPhoneOptedOut, selectPendingOfPhone } from '../queries/message-claim.js'
import { atomically, changeEachWithEvents, emitContactEvent } from '../queries/webhook-events.js'
import type { OptIn } from '../types.js'

/**
 * Turns `phone`'s `pending` rows into `opted_out` (via idx_messages_phone). A row a claim holds is waited for and by
 * then is `sending`, so it no longer matches. When a webhook wants `message.opted_out` the rows are changed one by
 * one, each with its event (`changeEachWithEvents`); otherwise in one statement. Returns how many rows changed.
 */
export async function markPendingOptedOut(db: Queryable, phone: string): Promise<number> {
  return atomically(db, (tx) =>
    changeEachWithEvents(tx, 'message.opted_out', {
      bulk: () => markPendingOfPhoneOptedOut(tx, phone),
      selectIds: () => selectPendingOfPhone(tx, phone),
      changeOne: (id) => markOptedOut(tx, id),
    }),
  )
}

/**
 * Sets a contact's consent from the API or the dashboard (`pending` clears `opt_in_at`, as the guide's
 * troubleshooting SQL does). Setting `no` also opts out that phone's pending messages in the same transaction.
 * A change to `no` or `yes` writes `contact.opted_out` / `contact.opted_in` (and `message.opted_out` per message)
 * in the same transaction. Returns how many pending messages were opted out.
 */
export async function setContactOptIn(db: Db, phone: string, optIn: OptIn): Promise<number> {
  return db.transaction(async (tx) => {
    const before = await lockContactOptIn(tx, phone)
    await upsertOptIn(tx, phone, optIn)
    if (optIn === 'yes' && before !== 'yes') await emitContactEvent(tx, 'contact.opted_in', phone, null, 'api')
    if (optIn !== 'no') return 0
    if (before !== 'no') await emitContactEvent(tx, 'contact.opted_out', phone, null, 'api')
    return markPendingOptedOut(tx, phone)
  })
}
