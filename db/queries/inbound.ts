/**
 * `inbound_messages`: what people wrote to the gateway's numbers, stored once per (session, WhatsApp id), and the
 * consent decision each one carries (runner/README.md, STOP and YES). Live (`notify`) and offline-backlog (`append`)
 * deliveries, and redeliveries after a crash, all land here; the unique key makes each count once. The statements
 * only: what an inbound message does to consent and to messages is `db/lifecycle/inbound.ts`.
 */
import { toId, UniqueViolationError, type Queryable } from '../driver.js'
import { each } from '../sql.js'
import type { OptIn } from '../types.js'

/** What an inbound message did to consent. */
export type InboundAction =
  /** STOP or a synonym: opt_in = no, pending messages opted out. */
  | 'stop'
  /** YES or a synonym: opt_in = yes. */
  | 'start'
  /** Any other text from a pending (or unknown) contact: opt_in = yes. */
  | 'opt-in'
  /** Any other text from a contact who already decided. */
  | 'none'
  /** The sender's phone is not known yet (a LID without a mapping): stored, decided later. */
  | 'unresolved'

export interface InboundInput {
  session: string
  /** Sender phone digits, or null when only a LID is known. */
  phone: string | null
  senderJid: string
  body: string | null
  waMessageId: string
  /** The keyword the runner matched in `body` (runner/whatsapp/consent.ts), or null. */
  keyword: 'stop' | 'start' | null
  pushName?: string | null
}

/**
 * The longest body stored (UTF-16 code units). WhatsApp's own limit is far below it; a longer text can only come from
 * a modified client. Its start is kept rather than the message refused: it may be a STOP, and a write that fails
 * every time would be retried and then dropped. 262,144 units are at most 1 MiB of UTF-8 and stay within MEDIUMTEXT
 * also inside the `message.received` webhook payload, where JSON escaping can grow a character to 6 bytes.
 */
export const INBOUND_BODY_MAX_CHARS = 262_144

/** `body` cut to `INBOUND_BODY_MAX_CHARS`, never between the two halves of a surrogate pair. */
export function fitInboundBody(body: string | null): string | null {
  if (body === null || body.length <= INBOUND_BODY_MAX_CHARS) return body
  const cut = body.slice(0, INBOUND_BODY_MAX_CHARS)
  const last = cut.charCodeAt(cut.length - 1)
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut
}

export type InboundResult =
  | { kind: 'duplicate' }
  | { kind: 'stored'; action: InboundAction; optIn: OptIn | null; optedOut: number; released: number }

const INSERT = /* @__PURE__ */ each(
  `INSERT INTO inbound_messages (session, phone, sender_jid, body, wa_message_id, action, received_at, processed_at)
VALUES (?, ?, ?, ?, ?, ?, NOW(6), CASE WHEN ? THEN NOW(6) ELSE NULL END)`,
  // ON CONFLICT: a raw 23505 would abort the transaction on Postgres.
  `INSERT INTO inbound_messages (session, phone, sender_jid, body, wa_message_id, action, received_at, processed_at)
VALUES ($1, $2, $3, $4, $5, $6, now(), CASE WHEN $7 THEN now() ELSE NULL END)
ON CONFLICT (session, wa_message_id) DO NOTHING
RETURNING id`,
)

/** Stores an inbound message with its decided action; `false` when that (session, WhatsApp id) is already stored. */
export async function insertInbound(tx: Queryable, input: InboundInput, action: InboundAction): Promise<boolean> {
  const processed = action !== 'unresolved'
  const params = [
    input.session, input.phone, input.senderJid, fitInboundBody(input.body), input.waMessageId, action,
    tx.dialect === 'mysql' ? (processed ? 1 : 0) : processed,
  ]
  if (tx.dialect === 'mysql') {
    try {
      await tx.execute(INSERT.mysql, params)
      return true
    } catch (err) {
      // 1062 rolls back only the statement on InnoDB; the transaction stays usable.
      if (err instanceof UniqueViolationError) return false
      throw err
    }
  }
  return (await tx.query(INSERT.postgres, params)).length > 0
}

const ALREADY_STORED = /* @__PURE__ */ each(
  `SELECT 1 AS x
  FROM inbound_messages
 WHERE session = ?
   AND wa_message_id = ?`,
  `SELECT 1 AS x
  FROM inbound_messages
 WHERE session = $1
   AND wa_message_id = $2`,
)

/** Whether that (session, WhatsApp id) is already stored. */
export async function isInboundStored(tx: Queryable, session: string, waMessageId: string): Promise<boolean> {
  return (await tx.query(ALREADY_STORED[tx.dialect], [session, waMessageId])).length > 0
}

const UNRESOLVED = /* @__PURE__ */ each(
  `SELECT wa_message_id, sender_jid, body
  FROM inbound_messages
 WHERE session = ?
   AND sender_jid = ?
   AND processed_at IS NULL
 ORDER BY id`,
  `SELECT wa_message_id, sender_jid, body
  FROM inbound_messages
 WHERE session = $1
   AND sender_jid = $2
   AND processed_at IS NULL
 ORDER BY id`,
)

const RESOLVE = /* @__PURE__ */ each(
  `UPDATE inbound_messages
   SET phone = ?,
       action = ?,
       processed_at = NOW(6)
 WHERE session = ?
   AND wa_message_id = ?
   AND processed_at IS NULL`,
  `UPDATE inbound_messages
   SET phone = $1,
       action = $2,
       processed_at = now()
 WHERE session = $3
   AND wa_message_id = $4
   AND processed_at IS NULL`,
)

/** The stored, undecided messages of a LID sender, in arrival order. */
export async function selectUnresolvedInbound(
  tx: Queryable,
  session: string,
  senderJid: string,
): Promise<{ waMessageId: string; body: string | null }[]> {
  return (await tx.query(UNRESOLVED[tx.dialect], [session, senderJid])).map((r) => ({
    waMessageId: String(r.wa_message_id),
    body: r.body === null ? null : String(r.body),
  }))
}

/** Records the decision of a formerly unresolved message. `false`: it was decided already. */
export async function markInboundResolved(
  tx: Queryable,
  p: { session: string; waMessageId: string; phone: string; action: InboundAction },
): Promise<boolean> {
  return (await tx.execute(RESOLVE[tx.dialect], [p.phone, p.action, p.session, p.waMessageId])).affectedRows > 0
}

const LIST_FOR_PHONE = /* @__PURE__ */ each(
  `SELECT session, phone, sender_jid, body, wa_message_id, action, received_at, processed_at
  FROM inbound_messages
 WHERE phone = ?
 ORDER BY id`,
  `SELECT session, phone, sender_jid, body, wa_message_id, action, received_at, processed_at
  FROM inbound_messages
 WHERE phone = $1
 ORDER BY id`,
)

/** Inbound messages of a phone, oldest first (tests, dashboard). */
export async function listInboundForPhone(db: Queryable, phone: string) {
  return (await db.query(LIST_FOR_PHONE[db.dialect], [phone])).map((r) => ({
    session: String(r.session),
    phone: r.phone === null ? null : String(r.phone),
    senderJid: String(r.sender_jid),
    body: r.body === null ? null : String(r.body),
    waMessageId: String(r.wa_message_id),
    action: (r.action ?? null) as InboundAction | null,
  }))
}

// "Never wrote to this number": no inbound message from this phone to this session. One probe of
// idx_inbound_session_phone (session, phone); inbound rows whose sender could not be resolved have phone NULL.
const HAS_WRITTEN = /* @__PURE__ */ each(
  `SELECT 1 AS x
  FROM inbound_messages FORCE INDEX (idx_inbound_session_phone)
 WHERE session = ?
   AND phone = ?
 LIMIT 1`,
  `SELECT 1 AS x
  FROM inbound_messages
 WHERE session = $1
   AND phone = $2
 LIMIT 1`,
)

/** The SQL of the first-contact check, for the EXPLAIN tests. */
export const HAS_WRITTEN_SQL = HAS_WRITTEN

/** True when `phone` never wrote to `session` (a message to it is a first contact; the first-contact cap). */
export async function isFirstContact(tx: Queryable, session: string, phone: string): Promise<boolean> {
  return (await tx.query(HAS_WRITTEN[tx.dialect], [session, phone])).length === 0
}

const BY_ID = /* @__PURE__ */ each(
  `SELECT id, session, sender_jid, body, wa_message_id
  FROM inbound_messages
 WHERE id = ?`,
  `SELECT id, session, sender_jid, body, wa_message_id
  FROM inbound_messages
 WHERE id = $1`,
)

/** An inbound message as a reply quotes it (`messages.reply_to` names its id), or null if it is gone. */
export interface QuotableInbound {
  id: number
  session: string
  senderJid: string
  body: string | null
  waMessageId: string
}

export async function getInboundById(db: Queryable, id: number): Promise<QuotableInbound | null> {
  const [row] = await db.query(BY_ID[db.dialect], [id])
  if (!row) return null
  return {
    id: toId(row.id),
    session: String(row.session),
    senderJid: String(row.sender_jid),
    body: row.body === null || row.body === undefined ? null : String(row.body),
    waMessageId: String(row.wa_message_id),
  }
}

const SESSION_OF = /* @__PURE__ */ each(
  `SELECT session
  FROM inbound_messages
 WHERE id = ?`,
  `SELECT session
  FROM inbound_messages
 WHERE id = $1`,
)

/** The session a received message arrived on, or null when there is no such inbound id (a send's `reply_to`). */
export async function inboundSessionOf(db: Queryable, id: number): Promise<string | null> {
  const [row] = await db.query(SESSION_OF[db.dialect], [id])
  return row ? String(row.session) : null
}
