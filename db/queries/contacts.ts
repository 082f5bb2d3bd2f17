import { toDate, type Db, type Queryable, type Row } from '../driver.js'
import { each, same } from '../sql.js'
import type { ContactRecord, OptIn } from '../types.js'

const COLUMNS = 'phone, opt_in, opt_in_at, name, lid, last_inbound_at, created_at, updated_at'

/** Maps a `contacts` row to the domain object. */
export function toContact(row: Row): ContactRecord {
  return {
    phone: String(row.phone),
    optIn: row.opt_in as OptIn,
    optInAt: toDate(row.opt_in_at),
    name: (row.name as string | null) ?? null,
    lid: (row.lid as string | null) ?? null,
    lastInboundAt: toDate(row.last_inbound_at),
    createdAt: toDate(row.created_at)!,
    updatedAt: toDate(row.updated_at)!,
  }
}

const GET = same(`SELECT ${COLUMNS}
  FROM contacts
 WHERE phone = ?`)

/** A contact's consent record, or null when the number never wrote and was never set. */
export async function getContact(db: Queryable, phone: string): Promise<ContactRecord | null> {
  const [row] = await db.query(GET[db.dialect], [phone])
  return row ? toContact(row) : null
}

export interface ContactSearch {
  /** Digits the phone starts with (the dashboard's search box). */
  phonePrefix?: string
  optIn?: OptIn
  /** Keyset cursor: phones after this one. */
  afterPhone?: string
  limit: number
}

/** Contacts ordered by phone, filtered by prefix and state. The prefix is bound, never interpolated. */
export async function searchContacts(db: Queryable, search: ContactSearch): Promise<ContactRecord[]> {
  const where: string[] = []
  const params: unknown[] = []
  const p = () => (db.dialect === 'mysql' ? '?' : `$${params.length}`)
  if (search.phonePrefix) {
    // Prefix of digits only (validated by callers), so LIKE wildcards cannot appear in it.
    params.push(`${search.phonePrefix}%`)
    where.push(`phone LIKE ${p()}`)
  }
  if (search.optIn) {
    params.push(search.optIn)
    where.push(`opt_in = ${p()}`)
  }
  if (search.afterPhone) {
    params.push(search.afterPhone)
    where.push(`phone > ${p()}`)
  }
  params.push(search.limit)
  const sql = `SELECT ${COLUMNS}
  FROM contacts
${where.length ? ` WHERE ${where.join('\n   AND ')}\n` : ''} ORDER BY phone
 LIMIT ${p()}`
  return (await db.query(sql, params)).map(toContact)
}

const UPSERT_OPT_IN = each(
  `INSERT INTO contacts (phone, opt_in, opt_in_at, created_at, updated_at)
VALUES (?, ?, CASE WHEN ? = 'pending' THEN NULL ELSE NOW(6) END, NOW(6), NOW(6))
ON DUPLICATE KEY UPDATE opt_in = VALUES(opt_in), opt_in_at = VALUES(opt_in_at), updated_at = NOW(6)`,
  `INSERT INTO contacts (phone, opt_in, opt_in_at, created_at, updated_at)
VALUES ($1, $2, CASE WHEN $2 = 'pending' THEN NULL ELSE now() END, now(), now())
ON CONFLICT (phone) DO UPDATE SET opt_in = EXCLUDED.opt_in, opt_in_at = EXCLUDED.opt_in_at, updated_at = now()`,
)

const MARK_PENDING_OPTED_OUT = same(`UPDATE messages
   SET status = 'opted_out', error = 'contact opted out', updated_at = NOW(6)
 WHERE phone = ?
   AND status = 'pending'`)

/**
 * Sets a contact's consent (`pending` clears `opt_in_at`, as the guide's troubleshooting SQL does).
 * Setting `no` also moves that phone's pending messages to `opted_out` in the same transaction;
 * the claim re-checks consent anyway (QUEUE.md §2), this only makes the audit log honest at once.
 * Returns how many pending messages were opted out.
 */
export async function setContactOptIn(db: Db, phone: string, optIn: OptIn): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.execute(UPSERT_OPT_IN[tx.dialect], tx.dialect === 'mysql' ? [phone, optIn, optIn] : [phone, optIn])
    if (optIn !== 'no') return 0
    return (await tx.execute(MARK_PENDING_OPTED_OUT[tx.dialect], [phone])).affectedRows
  })
}
