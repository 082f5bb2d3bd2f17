/**
 * A contact changed by a person: `PATCH /api/contacts/:phone`, `POST /api/contacts/import` and the dashboard's
 * Contacts page. Each change is audited in `contact_changes` (who, before, after) in the transaction that makes it,
 * with its `contact.opted_in` / `contact.opted_out` event; setting `no` opts out that phone's pending messages in the
 * same transaction, as a STOP does (opt-out.ts).
 */
import type { Db, Queryable } from '../driver.js'
import { insertContactChange, insertContactChanges, lockContactRow, lockContactRows, setContactName, type ContactChange } from '../queries/contact-changes.js'
import { upsertOptIn } from '../queries/contacts.js'
import { anyWebhookFor, emitContactEvent } from '../queries/webhook-events.js'
import type { OptIn } from '../types.js'
import { markPendingOptedOut } from './opt-out.js'

export interface ContactUpdate {
  phone: string
  /** Absent: consent unchanged. */
  optIn?: OptIn
  /** Absent: name unchanged; null clears it. */
  name?: string | null
  /** `api:key-N` or `dashboard`. */
  actor: string
}

export interface ContactChangeResult {
  /** The contact had no row before. */
  created: boolean
  /** Consent or name differs from before (an audit row was written). */
  changed: boolean
  /** Pending messages moved to `opted_out` by this change. */
  optedOut: number
}

/** What the change needs to know before it starts: the row as it was (null: none), and who listens. */
interface ChangeContext {
  before: { optIn: OptIn; name: string | null } | null
  /** Whether some webhook wants contact events (false: no event statements at all). */
  events: boolean
  /** Where the audit row goes: written now, or collected for one multi-row INSERT. */
  audit: (c: ContactChange) => Promise<void>
}

async function applyChange(tx: Queryable, u: ContactUpdate, ctx: ChangeContext): Promise<ContactChangeResult> {
  const { before } = ctx
  const previousOptIn = before?.optIn ?? null
  const previousName = before?.name ?? null
  let optedOut = 0
  if (u.optIn !== undefined) {
    // Written even when unchanged: setting `yes` again renews `opt_in_at`.
    await upsertOptIn(tx, u.phone, u.optIn)
    if (ctx.events && u.optIn === 'yes' && previousOptIn !== 'yes') await emitContactEvent(tx, 'contact.opted_in', u.phone, null, 'api')
    if (u.optIn === 'no') {
      if (ctx.events && previousOptIn !== 'no') await emitContactEvent(tx, 'contact.opted_out', u.phone, null, 'api')
      optedOut = await markPendingOptedOut(tx, u.phone)
    }
  }
  // A phone given alone becomes a `pending` contact: an import of a plain list of numbers creates them.
  if (before === null && u.optIn === undefined) await upsertOptIn(tx, u.phone, 'pending')
  const nameChanges = u.name !== undefined && u.name !== previousName
  if (nameChanges) await setContactName(tx, u.phone, u.name ?? null)
  const optInChanges = u.optIn !== undefined && u.optIn !== previousOptIn
  const changed = before === null || optInChanges || nameChanges
  if (changed) {
    await ctx.audit({
      phone: u.phone,
      optInBefore: previousOptIn,
      optInAfter: u.optIn ?? previousOptIn ?? 'pending',
      nameBefore: previousName,
      nameAfter: u.name === undefined ? previousName : u.name,
      actor: u.actor,
    })
  }
  return { created: before === null, changed, optedOut }
}

/** Applies one update inside the caller's transaction (lock order: the contact row, then its messages). */
export async function changeContactIn(tx: Queryable, u: ContactUpdate): Promise<ContactChangeResult> {
  const before = await lockContactRow(tx, u.phone)
  return applyChange(tx, u, { before, events: true, audit: (c) => insertContactChange(tx, c) })
}

/** One contact's change in its own transaction. */
export function changeContact(db: Db, u: ContactUpdate): Promise<ContactChangeResult> {
  return db.transaction((tx) => changeContactIn(tx, u))
}

/** What an import did, row counts in total. */
export interface ImportResult {
  rows: number
  created: number
  changed: number
  optedOut: number
}

/**
 * Many contacts in one transaction: all of them or, on any error, none. Rows were validated by the caller. The rows
 * are locked up front in one statement per thousand, and the audit rows written 500 to a statement, so an import of
 * 10,000 costs about two statements a row instead of four; with no webhook on contact events none are attempted.
 */
export function importContacts(db: Db, updates: readonly ContactUpdate[]): Promise<ImportResult> {
  return db.transaction(async (tx) => {
    const rows = await lockContactRows(tx, updates.map((u) => u.phone))
    const events = (await anyWebhookFor(tx, 'contact.opted_in')) || (await anyWebhookFor(tx, 'contact.opted_out'))
    const audits: ContactChange[] = []
    const total: ImportResult = { rows: updates.length, created: 0, changed: 0, optedOut: 0 }
    for (const u of updates) {
      const before = rows.get(u.phone) ?? null
      const r = await applyChange(tx, u, { before, events, audit: (c) => Promise.resolve(void audits.push(c)) })
      // A phone listed twice sees its own earlier row.
      rows.set(u.phone, { optIn: u.optIn ?? before?.optIn ?? 'pending', name: u.name === undefined ? before?.name ?? null : u.name })
      total.created += r.created ? 1 : 0
      total.changed += r.changed ? 1 : 0
      total.optedOut += r.optedOut
    }
    await insertContactChanges(tx, audits)
    return total
  })
}
