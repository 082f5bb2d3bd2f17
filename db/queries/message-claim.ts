/**
 * Statements on `messages` that the claim and the consent flow run: one named function per statement. The
 * transactions that combine them, and their webhook events, are in `db/lifecycle/` (claim.ts, opt-out.ts,
 * consent.ts). Lock order: the caller has locked the session row first (db/README.md, Claim and throttle); on
 * MySQL/MariaDB each row is reached through the index the statement names (db/README.md, Index hints).
 */
import { toId, type Queryable, type Row } from '../driver.js'
import { each } from '../sql.js'

// FORCE INDEX: the equality prefix (session, status) plus ORDER BY available_at, id lets LIMIT 1 stop at the first
// index entry with no filesort (db/README.md). Postgres gets the same from the partial index, provided the status
// literal stays in the text (db/README.md, The two dialects).
const SELECT_NEXT_PENDING = /* @__PURE__ */ each(
  `SELECT id, phone, type, body, media_id, attempts, wa_message_id, details, reply_to, target_id
  FROM messages FORCE INDEX (idx_messages_claim)
 WHERE session = ?
   AND status = 'pending'
   AND available_at <= NOW(6)
 ORDER BY available_at, id
 LIMIT 1
   FOR UPDATE SKIP LOCKED`,
  `SELECT id, phone, type, body, media_id, attempts, wa_message_id, details, reply_to, target_id
  FROM messages
 WHERE session = $1
   AND status = 'pending'
   AND available_at <= now()
 ORDER BY available_at, id
 LIMIT 1
   FOR UPDATE SKIP LOCKED`,
)

/** The SQL of `selectNextPending`, for the EXPLAIN tests and the benchmark. */
export const SELECT_NEXT_PENDING_SQL = SELECT_NEXT_PENDING

/** The session's next due `pending` row, locked (rows other claims hold are skipped), or null. */
export async function selectNextPending(tx: Queryable, session: string): Promise<Row | null> {
  const [row] = await tx.query(SELECT_NEXT_PENDING[tx.dialect], [session])
  return row ?? null
}

const MARK_OPTED_OUT = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'opted_out',
       error = 'contact opted out',
       hold = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`,
  `UPDATE messages
   SET status = 'opted_out',
       error = 'contact opted out',
       hold = NULL,
       updated_at = now()
 WHERE id = $1
   AND status = 'pending'`,
)

/** One `pending` message → `opted_out`. `false`: it was no longer pending. */
export async function markOptedOut(tx: Queryable, id: number): Promise<boolean> {
  return (await tx.execute(MARK_OPTED_OUT[tx.dialect], [id])).affectedRows > 0
}

const MARK_PENDING_OPTED_OUT = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (idx_messages_phone)
   SET status = 'opted_out',
       error = 'contact opted out',
       hold = NULL,
       updated_at = NOW(6)
 WHERE phone = ?
   AND status = 'pending'
   AND type <> 'revoke'`,
  `UPDATE messages
   SET status = 'opted_out',
       error = 'contact opted out',
       hold = NULL,
       updated_at = now()
 WHERE phone = $1
   AND status = 'pending'
   AND type <> 'revoke'`,
)

/** The SQL of `markPendingOfPhoneOptedOut`, for the EXPLAIN tests. */
export const MARK_PENDING_OPTED_OUT_SQL = MARK_PENDING_OPTED_OUT

/**
 * Every `pending` message to `phone` → `opted_out`, in one statement. Returns how many. A queued revoke stays: taking a
 * message back is what a contact who wrote STOP would want.
 */
export async function markPendingOfPhoneOptedOut(tx: Queryable, phone: string): Promise<number> {
  return (await tx.execute(MARK_PENDING_OPTED_OUT[tx.dialect], [phone])).affectedRows
}

const SELECT_PENDING_OF_PHONE = /* @__PURE__ */ each(
  `SELECT id
  FROM messages FORCE INDEX (idx_messages_phone)
 WHERE phone = ?
   AND status = 'pending'
   AND type <> 'revoke'
 ORDER BY id
   FOR UPDATE`,
  `SELECT id
  FROM messages
 WHERE phone = $1
   AND status = 'pending'
   AND type <> 'revoke'
 ORDER BY id
   FOR UPDATE`,
)

/** Ids of the `pending` messages to `phone`, locked, oldest first. */
export async function selectPendingOfPhone(tx: Queryable, phone: string): Promise<number[]> {
  return (await tx.query(SELECT_PENDING_OF_PHONE[tx.dialect], [phone])).map((r) => toId(r.id))
}

// The message stays `pending` but is moved out of the claim's way: available_at goes `holdMs` ahead, `hold` says why
// (migration 0008) and `error` carries the sentence the audit log shows. The claim index then never walks over a
// pile of held rows, the rest of the session's queue keeps flowing, and a held row is looked at again after `holdMs`
// (so it goes out even if nobody calls releaseConsentHolds). markSending clears both.
const HOLD_FOR_CONSENT = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET available_at = NOW(6) + INTERVAL ? * 1000 MICROSECOND,
       hold = 'consent',
       error = 'awaiting opt-in',
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`,
  `UPDATE messages
   SET available_at = now() + $1 * interval '1 millisecond',
       hold = 'consent',
       error = 'awaiting opt-in',
       updated_at = now()
 WHERE id = $2
   AND status = 'pending'`,
)

/** Holds one `pending` message for its contact's consent (`OPT_IN_MODE=confirm`) for `holdMs`. */
export async function holdForConsent(tx: Queryable, id: number, holdMs: number): Promise<void> {
  await tx.execute(HOLD_FOR_CONSENT[tx.dialect], [holdMs, id])
}

// Like the consent hold: moved out of the claim's way until `available_at` (the next local midnight), with the
// cap's sentence in `error`.
const HOLD_FOR_LIMIT = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET available_at = ?,
       hold = 'limit',
       error = ?,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`,
  `UPDATE messages
   SET available_at = $1,
       hold = 'limit',
       error = $2,
       updated_at = now()
 WHERE id = $3
   AND status = 'pending'`,
)

/** Holds one `pending` message until `until` for a sending limit (the first-contact cap), with the reason. */
export async function holdForLimit(tx: Queryable, id: number, until: Date, reason: string): Promise<void> {
  await tx.execute(HOLD_FOR_LIMIT[tx.dialect], [until, reason.slice(0, 1000), id])
}

const MARK_SENDING = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (PRIMARY)
   SET status = 'sending',
       attempts = attempts + 1,
       claimed_by = ?,
       claim_epoch = ?,
       claimed_at = NOW(6),
       wa_message_id = COALESCE(wa_message_id, ?),
       hold = NULL,
       error = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'pending'`,
  `UPDATE messages
   SET status = 'sending',
       attempts = attempts + 1,
       claimed_by = $1,
       claim_epoch = $2,
       claimed_at = now(),
       wa_message_id = COALESCE(wa_message_id, $3),
       hold = NULL,
       error = NULL,
       updated_at = now()
 WHERE id = $4
   AND status = 'pending'`,
)

/** `pending` → `sending` under the claim (`owner`, `epoch`), keeping a stored WhatsApp id. `false`: not pending. */
export async function markSending(tx: Queryable, p: { id: number; owner: string; epoch: number; waMessageId: string }): Promise<boolean> {
  return (await tx.execute(MARK_SENDING[tx.dialect], [p.owner, p.epoch, p.waMessageId, p.id])).affectedRows > 0
}

const RELEASE_CONSENT_HOLDS = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (idx_messages_phone)
   SET available_at = NOW(6),
       hold = NULL,
       error = NULL,
       updated_at = NOW(6)
 WHERE phone = ?
   AND status = 'pending'
   AND hold = 'consent'`,
  `UPDATE messages
   SET available_at = now(),
       hold = NULL,
       error = NULL,
       updated_at = now()
 WHERE phone = $1
   AND status = 'pending'
   AND hold = 'consent'`,
)

/** Makes the messages held for `phone`'s consent due now. Returns how many. */
export async function releaseConsentHolds(tx: Queryable, phone: string): Promise<number> {
  return (await tx.execute(RELEASE_CONSENT_HOLDS[tx.dialect], [phone])).affectedRows
}

const RELEASE_LIMIT_HOLDS = /* @__PURE__ */ each(
  `UPDATE messages
   SET available_at = NOW(6),
       hold = NULL,
       error = NULL,
       updated_at = NOW(6)
 WHERE session = ?
   AND status = 'pending'
   AND hold = 'limit'`,
  `UPDATE messages
   SET available_at = now(),
       hold = NULL,
       error = NULL,
       updated_at = now()
 WHERE session = $1
   AND status = 'pending'
   AND hold = 'limit'`,
)

/** Makes the messages of `session` held by a sending limit due now. Returns how many. */
export async function releaseLimitHolds(tx: Queryable, session: string): Promise<number> {
  return (await tx.execute(RELEASE_LIMIT_HOLDS[tx.dialect], [session])).affectedRows
}

const HELD_PHONES = /* @__PURE__ */ each(
  `SELECT DISTINCT m.phone
  FROM messages m
  LEFT JOIN contacts c ON c.phone = m.phone
 WHERE m.session = ?
   AND m.status = 'pending'
   AND m.hold = 'consent'
   AND (c.phone IS NULL OR (c.opt_in = 'pending' AND c.consent_requested_at IS NULL))
 LIMIT 10`,
  `SELECT DISTINCT m.phone
  FROM messages m
  LEFT JOIN contacts c ON c.phone = m.phone
 WHERE m.session = $1
   AND m.status = 'pending'
   AND m.hold = 'consent'
   AND (c.phone IS NULL OR (c.opt_in = 'pending' AND c.consent_requested_at IS NULL))
 LIMIT 10`,
)

/**
 * Under `OPT_IN_MODE=confirm`: phones with messages held for consent that have not been sent the consent request
 * yet (at most 10).
 */
export async function findPhonesAwaitingConsentRequest(db: Queryable, session: string): Promise<string[]> {
  return (await db.query(HELD_PHONES[db.dialect], [session])).map((r) => String(r.phone))
}

// ---------------------------------------------------------------------------------------------------------------
// Wake-up probe (db/README.md, Claim and throttle): MIN(available_at) per owned session, read from idx_messages_claim.

/** Per owned session, how long until its earliest `pending` row is due (`null`: none pending). */
export interface SessionDue {
  name: string
  dueInMs: number | null
}

const PROBE_DUE = /* @__PURE__ */ each(
  `SELECT s.name,
       CEIL(TIMESTAMPDIFF(MICROSECOND, NOW(6),
            (SELECT MIN(m.available_at) FROM messages m WHERE m.session = s.name AND m.status = 'pending')) / 1000) AS due_in_ms
  FROM sessions s
 WHERE s.owner = ?
   AND s.lease_until > NOW(6)`,
  `SELECT s.name,
       ceil(extract(epoch FROM
            (SELECT MIN(m.available_at) FROM messages m WHERE m.session = s.name AND m.status = 'pending') - now()) * 1000)::bigint AS due_in_ms
  FROM sessions s
 WHERE s.owner = $1
   AND s.lease_until > now()`,
)

/** The SQL of `probeDue`, for the EXPLAIN tests. */
export const PROBE_DUE_SQL = PROBE_DUE

/**
 * For each session `owner` holds: milliseconds until its earliest `pending` row is due (0 if due already), or
 * `null` if none is pending. Runners without LISTEN/NOTIFY call it every second; it does not look at the throttle
 * (the claim returns `wait` for that).
 */
export async function probeDue(db: Queryable, owner: string): Promise<SessionDue[]> {
  const rows = await db.query(PROBE_DUE[db.dialect], [owner])
  return rows.map((r) => ({
    name: String(r.name),
    dueInMs: r.due_in_ms === null || r.due_in_ms === undefined ? null : Math.max(0, Number(r.due_in_ms)),
  }))
}
