/** Statements on `contacts` (consent, names, LIDs). Changing a contact's consent and its messages: `db/lifecycle/opt-out.ts`. */
import { toDate, type Queryable, type Row } from '../driver.js'
import { each, optionalFilters } from '../sql.js'
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

const GET = /* @__PURE__ */ each(
  `SELECT ${COLUMNS}
  FROM contacts
 WHERE phone = ?`,
  `SELECT ${COLUMNS}
  FROM contacts
 WHERE phone = $1`,
)

/** A contact's consent record, or null when the number never wrote and was never set. */
export async function getContact(db: Queryable, phone: string): Promise<ContactRecord | null> {
  const [row] = await db.query(GET[db.dialect], [phone])
  return row ? toContact(row) : null
}

export interface ContactSearch {
  /** Digits the phone starts with (the dashboard's search box). */
  phonePrefix?: string
  /** Text the name contains, any case (`GET /api/contacts?q=`). */
  nameContains?: string
  optIn?: OptIn
  /** Keyset cursor: phones after this one. */
  afterPhone?: string
  limit: number
}

/** Contacts ordered by phone, filtered by prefix and state. The prefix is bound, never interpolated. */
export async function searchContacts(db: Queryable, search: ContactSearch): Promise<ContactRecord[]> {
  const f = optionalFilters(db.dialect)
  // Prefix of digits only (validated by callers), so LIKE wildcards cannot appear in it.
  f.add(search.phonePrefix && `${search.phonePrefix}%`, (ph) => `phone LIKE ${ph}`)
  // LIKE's wildcards and escape in the name are matched literally. MySQL's utf8mb4 collation ignores case; ILIKE does.
  const nameLike = search.nameContains && `%${search.nameContains.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`
  f.add(nameLike, (ph) => (db.dialect === 'mysql' ? `name LIKE ${ph}` : `name ILIKE ${ph}`))
  f.add(search.optIn, (ph) => `opt_in = ${ph}`)
  f.add(search.afterPhone, (ph) => `phone > ${ph}`)
  const sql = `SELECT ${COLUMNS}
  FROM contacts
${f.whereText()} ORDER BY phone
 LIMIT ${f.bind(search.limit)}`
  return (await db.query(sql, f.params)).map(toContact)
}

const UPSERT_OPT_IN = /* @__PURE__ */ each(
  `INSERT INTO contacts (phone, opt_in, opt_in_at, created_at, updated_at)
VALUES (?, ?, CASE WHEN ? = 'pending' THEN NULL ELSE NOW(6) END, NOW(6), NOW(6))
ON DUPLICATE KEY UPDATE opt_in = VALUES(opt_in), opt_in_at = VALUES(opt_in_at), updated_at = NOW(6)`,
  `INSERT INTO contacts (phone, opt_in, opt_in_at, created_at, updated_at)
VALUES ($1, $2, CASE WHEN $2 = 'pending' THEN NULL ELSE now() END, now(), now())
ON CONFLICT (phone) DO UPDATE SET opt_in = EXCLUDED.opt_in, opt_in_at = EXCLUDED.opt_in_at, updated_at = now()`,
)

/** Sets a contact's consent, creating the row if needed (`pending` clears `opt_in_at`). */
export async function upsertOptIn(tx: Queryable, phone: string, optIn: OptIn): Promise<void> {
  await tx.execute(UPSERT_OPT_IN[tx.dialect], tx.dialect === 'mysql' ? [phone, optIn, optIn] : [phone, optIn])
}

const READ_OPT_IN = /* @__PURE__ */ each(
  `SELECT opt_in
  FROM contacts
 WHERE phone = ?`,
  `SELECT opt_in
  FROM contacts
 WHERE phone = $1`,
)

/** A contact's consent without locking it (the claim's check), or null for a phone with no row. */
export async function readOptIn(tx: Queryable, phone: string): Promise<OptIn | null> {
  const [row] = await tx.query<{ opt_in: OptIn }>(READ_OPT_IN[tx.dialect], [phone])
  return row ? row.opt_in : null
}

// ---------------------------------------------------------------------------------------------------------------
// Runner: inbound consent and LID mappings

const LOCK_CONTACT = /* @__PURE__ */ each(
  `SELECT opt_in
  FROM contacts
 WHERE phone = ?
   FOR UPDATE`,
  `SELECT opt_in
  FROM contacts
 WHERE phone = $1
   FOR UPDATE`,
)

// opt_in_at moves only when opt_in is set (explicitly or by a first message); last_inbound_at on every message.
const RECORD_INBOUND_CONSENT = /* @__PURE__ */ each(
  `INSERT INTO contacts (phone, opt_in, opt_in_at, name, last_inbound_at, created_at, updated_at)
VALUES (?, ?, CASE WHEN ? = 'pending' THEN NULL ELSE NOW(6) END, ?, NOW(6), NOW(6), NOW(6))
ON DUPLICATE KEY UPDATE opt_in = VALUES(opt_in),
                        opt_in_at = IF(?, NOW(6), opt_in_at),
                        name = COALESCE(VALUES(name), name),
                        last_inbound_at = NOW(6),
                        updated_at = NOW(6)`,
  `INSERT INTO contacts (phone, opt_in, opt_in_at, name, last_inbound_at, created_at, updated_at)
VALUES ($1, $2, CASE WHEN $2 = 'pending' THEN NULL ELSE now() END, $3, now(), now(), now())
ON CONFLICT (phone) DO UPDATE SET opt_in = EXCLUDED.opt_in,
                                  opt_in_at = CASE WHEN $4 THEN now() ELSE contacts.opt_in_at END,
                                  name = COALESCE(EXCLUDED.name, contacts.name),
                                  last_inbound_at = now(),
                                  updated_at = now()`,
)

/**
 * Inside the inbound transaction: locks the contact row (if any) and returns its consent, `null` for an unknown
 * phone. Lock order: contacts before messages (db/lifecycle/opt-out.ts, inbound.ts).
 */
export async function lockContactOptIn(tx: Queryable, phone: string): Promise<OptIn | null> {
  const [row] = await tx.query<{ opt_in: OptIn }>(LOCK_CONTACT[tx.dialect], [phone])
  return row ? row.opt_in : null
}

/**
 * Records an inbound message's effect on consent: `optIn` is the resulting state; `changed` says whether
 * `opt_in_at` moves (a STOP, a YES, or a pending contact's first message) or stays (an ordinary message from a
 * contact who already decided). Always stamps `last_inbound_at`; keeps a known name unless a new one is given.
 */
export async function recordInboundConsent(
  tx: Queryable,
  params: { phone: string; optIn: OptIn; changed: boolean; name?: string | null },
): Promise<void> {
  const name = params.name?.slice(0, 200) ?? null
  await tx.execute(
    RECORD_INBOUND_CONSENT[tx.dialect],
    tx.dialect === 'mysql'
      ? [params.phone, params.optIn, params.optIn, name, params.changed ? 1 : 0]
      : [params.phone, params.optIn, name, params.changed],
  )
}

const RECORD_LID = /* @__PURE__ */ each(
  `INSERT INTO contacts (phone, lid, created_at, updated_at)
VALUES (?, ?, NOW(6), NOW(6))
ON DUPLICATE KEY UPDATE lid = VALUES(lid), updated_at = NOW(6)`,
  `INSERT INTO contacts (phone, lid, created_at, updated_at)
VALUES ($1, $2, now(), now())
ON CONFLICT (phone) DO UPDATE SET lid = EXCLUDED.lid, updated_at = now()
 WHERE contacts.lid IS DISTINCT FROM EXCLUDED.lid`,
)

/**
 * Remembers a LID ↔ phone pair WhatsApp revealed (WhatsApp offers no LID → phone lookup,
 * so every observed pair is kept). Creates a `pending` contact if the phone is new.
 */
export async function recordContactLid(db: Queryable, phone: string, lid: string): Promise<void> {
  await db.execute(RECORD_LID[db.dialect], [phone, lid])
}

const FIND_BY_LID = /* @__PURE__ */ each(
  `SELECT phone
  FROM contacts
 WHERE lid = ?
 LIMIT 1`,
  `SELECT phone
  FROM contacts
 WHERE lid = $1
 LIMIT 1`,
)

/** The phone of a LID user part, from the pairs recorded so far, or null. */
export async function findPhoneByLid(db: Queryable, lid: string): Promise<string | null> {
  const [row] = await db.query(FIND_BY_LID[db.dialect], [lid])
  return row ? String(row.phone) : null
}

const MARK_CONSENT_REQUESTED = /* @__PURE__ */ each(
  `INSERT INTO contacts (phone, consent_requested_at, created_at, updated_at)
VALUES (?, NOW(6), NOW(6), NOW(6))
ON DUPLICATE KEY UPDATE consent_requested_at = COALESCE(consent_requested_at, NOW(6)), updated_at = NOW(6)`,
  `INSERT INTO contacts (phone, consent_requested_at, created_at, updated_at)
VALUES ($1, now(), now(), now())
ON CONFLICT (phone) DO UPDATE SET consent_requested_at = COALESCE(contacts.consent_requested_at, now()),
                                  updated_at = now()`,
)

/** Under `OPT_IN_MODE=confirm`: the consent request went (or is about to go) to this phone. */
export async function markConsentRequested(db: Queryable, phone: string): Promise<void> {
  await db.execute(MARK_CONSENT_REQUESTED[db.dialect], [phone])
}
