/**
 * Opt-out: a contact's `pending` messages become `opted_out` when the contact says no (a STOP, or the API and the
 * dashboard setting `opt_in = 'no'`). The claim's own consent check (claim.ts) is the guarantee; this makes the
 * audit log honest at once (db/README.md, The message states).
 */
import type { Db, Queryable } from '../driver.js'
import { markOptedOut, markPendingOfPhoneOptedOut, selectPendingOfPhone } from '../queries/message-claim.js'
import { atomically, changeEachWithEvents } from '../queries/webhook-events.js'
import { changeContact } from './contact-change.js'
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
 * Sets a contact's consent from the dashboard (`pending` clears `opt_in_at`, as the guide's troubleshooting SQL does):
 * `changeContact` (contact-change.ts) with the dashboard as the actor. Setting `no` also opts out that phone's
 * pending messages in the same transaction, with `contact.opted_out` (and `message.opted_out` per message). Returns how
 * many pending messages were opted out.
 */
export async function setContactOptIn(db: Db, phone: string, optIn: OptIn, actor = 'dashboard'): Promise<number> {
  return (await changeContact(db, { phone, optIn, actor })).optedOut
}
