/**
 * Statements of a contact changed by the API or the dashboard: its name, the audit row of every change, and the
 * counts `GET /api/contacts/:phone` shows. The transition that combines them is `db/lifecycle/contact-change.ts`.
 */
import { toDate, toId, type Queryable } from '../driver.js'
import { each } from '../sql.js'
import type { OptIn } from '../types.js'

const LOCK_ROW = /* @__PURE__ */ each(
  `SELECT opt_in, name
  FROM contacts
 WHERE phone = ?
   FOR UPDATE`,
  `SELECT opt_in, name
  FROM contacts
 WHERE phone = $1
   FOR UPDATE`,
)

/** The contact's consent and name, locked for the change (null: no row yet). Lock order: contacts before messages. */
export async function lockContactRow(tx: Queryable, phone: string): Promise<{ optIn: OptIn; name: string | null } | null> {
  const [row] = await tx.query(LOCK_ROW[tx.dialect], [phone])
  return row ? { optIn: row.opt_in as OptIn, name: (row.name as string | null) ?? null } : null
}

/**
 * Many contacts' consent and names, locked for an import, keyed by phone (absent: no row yet). `IN (…)` by primary
 * key, in the order of the key, so two imports of overlapping lists lock in one order.
 */
export async function lockContactRows(tx: Queryable, phones: readonly string[]): Promise<Map<string, { optIn: OptIn; name: string | null }>> {
  const out = new Map<string, { optIn: OptIn; name: string | null }>()
  const sorted = [...new Set(phones)].sort()
  for (let i = 0; i < sorted.length; i += 1000) {
    const part = sorted.slice(i, i + 1000)
    const sql = tx.dialect === 'mysql'
      ? 'SELECT phone, opt_in, name FROM contacts WHERE phone IN (?) ORDER BY phone FOR UPDATE'
      : 'SELECT phone, opt_in, name FROM contacts WHERE phone = ANY($1::text[]) ORDER BY phone FOR UPDATE'
    for (const r of await tx.query(sql, [part])) out.set(String(r.phone), { optIn: r.opt_in as OptIn, name: (r.name as string | null) ?? null })
  }
  return out
}

const SET_NAME = /* @__PURE__ */ each(
  `INSERT INTO contacts (phone, name, created_at, updated_at)
VALUES (?, ?, NOW(6), NOW(6))
ON DUPLICATE KEY UPDATE name = VALUES(name), updated_at = NOW(6)`,
  `INSERT INTO contacts (phone, name, created_at, updated_at)
VALUES ($1, $2, now(), now())
ON CONFLICT (phone) DO UPDATE SET name = EXCLUDED.name, updated_at = now()`,
)

/** Sets (or clears, with null) the name the gateway keeps for a contact, creating a `pending` contact if needed. */
export async function setContactName(tx: Queryable, phone: string, name: string | null): Promise<void> {
  await tx.execute(SET_NAME[tx.dialect], [phone, name])
}

const INSERT_CHANGE = /* @__PURE__ */ each(
  `INSERT INTO contact_changes (phone, opt_in_before, opt_in_after, name_before, name_after, actor, changed_at)
VALUES (?, ?, ?, ?, ?, ?, NOW(6))`,
  `INSERT INTO contact_changes (phone, opt_in_before, opt_in_after, name_before, name_after, actor, changed_at)
VALUES ($1, $2, $3, $4, $5, $6, now())`,
)

export interface ContactChange {
  phone: string
  optInBefore: OptIn | null
  optInAfter: OptIn | null
  nameBefore: string | null
  nameAfter: string | null
  /** `api:key-N` (the key's position in API_SECRET) or `dashboard`. */
  actor: string
}

/** The audit row of one change. */
export async function insertContactChange(tx: Queryable, c: ContactChange): Promise<void> {
  await tx.execute(INSERT_CHANGE[tx.dialect], [c.phone, c.optInBefore, c.optInAfter, c.nameBefore, c.nameAfter, c.actor])
}

/** Many audit rows, 500 to a multi-row INSERT. */
export async function insertContactChanges(tx: Queryable, changes: readonly ContactChange[]): Promise<void> {
  for (let i = 0; i < changes.length; i += 500) {
    const part = changes.slice(i, i + 500)
    const params = part.flatMap((c) => [c.phone, c.optInBefore, c.optInAfter, c.nameBefore, c.nameAfter, c.actor])
    const values = part.map((_, k) => (tx.dialect === 'mysql'
      ? '(?, ?, ?, ?, ?, ?, NOW(6))'
      : `($${k * 6 + 1}, $${k * 6 + 2}, $${k * 6 + 3}, $${k * 6 + 4}, $${k * 6 + 5}, $${k * 6 + 6}, now())`))
    await tx.execute(`INSERT INTO contact_changes (phone, opt_in_before, opt_in_after, name_before, name_after, actor, changed_at)
VALUES ${values.join(',\n       ')}`, params)
  }
}

const LIST_CHANGES = /* @__PURE__ */ each(
  `SELECT id, phone, opt_in_before, opt_in_after, name_before, name_after, actor, changed_at
  FROM contact_changes
 WHERE phone = ?
 ORDER BY id DESC
 LIMIT ?`,
  `SELECT id, phone, opt_in_before, opt_in_after, name_before, name_after, actor, changed_at
  FROM contact_changes
 WHERE phone = $1
 ORDER BY id DESC
 LIMIT $2`,
)

/** A contact's latest changes, newest first. */
export async function listContactChanges(db: Queryable, phone: string, limit: number): Promise<Array<ContactChange & { id: number; changedAt: Date }>> {
  return (await db.query(LIST_CHANGES[db.dialect], [phone, limit])).map((r) => ({
    id: toId(r.id),
    phone: String(r.phone),
    optInBefore: (r.opt_in_before as OptIn | null) ?? null,
    optInAfter: (r.opt_in_after as OptIn | null) ?? null,
    nameBefore: (r.name_before as string | null) ?? null,
    nameAfter: (r.name_after as string | null) ?? null,
    actor: String(r.actor),
    changedAt: toDate(r.changed_at)!,
  }))
}

// idx_messages_phone_id (phone, id): the phone's rows only, whatever their number in the table.
const COUNT_BY_STATUS = /* @__PURE__ */ each(
  `SELECT status, COUNT(*) AS n
  FROM messages FORCE INDEX (idx_messages_phone_id)
 WHERE phone = ?
 GROUP BY status`,
  `SELECT status, COUNT(*) AS n
  FROM messages
 WHERE phone = $1
 GROUP BY status`,
)

/** How many of a phone's messages are in each state (absent states: none). */
export async function countMessagesOfPhone(db: Queryable, phone: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const r of await db.query(COUNT_BY_STATUS[db.dialect], [phone])) out[String(r.status)] = Number(r.n)
  return out
}
