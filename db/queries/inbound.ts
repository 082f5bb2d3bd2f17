/**
 * `inbound_messages`: what people wrote to the gateway's numbers, stored once per (session, WhatsApp id), and the
 * consent decision each one carries (runner/README.md, STOP and YES). Live (`notify`) and offline-backlog (`append`)
 * deliveries, and redeliveries after a crash, all land here; the unique key makes each count once. The statements
 * only: what an inbound message does to consent and to messages is `db/lifecycle/inbound.ts`.
 */
import { toId, toIdOrNull, UniqueViolationError, type Queryable, type Row } from '../driver.js'
import { each, optionalFilters } from '../sql.js'
import type { InboundType, OptIn } from '../types.js'

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
  /** A text message's text, a reaction's emoji; null for the other kinds. */
  body: string | null
  waMessageId: string
  /** Absent: 'text'. */
  type?: InboundType
  /** An image's, video's or document's caption. */
  caption?: string | null
  mimetype?: string | null
  fileName?: string | null
  /** Bytes, as the message declared them. */
  size?: number | null
  /** The sender's LID user part, when known. */
  lid?: string | null
  /** WhatsApp id of the message it quotes (`contextInfo.stanzaId`): resolved to our `messages.id`, if it is ours. */
  quotedWaId?: string | null
  /** The keyword the runner matched in a text message's `body` (runner/whatsapp/consent.ts), or null. */
  keyword: 'stop' | 'start' | null
  pushName?: string | null
  /** For an image, video, audio or document: what became of its file (db/README.md, Inbound media). */
  media?: InboundMedia
}

/** An inbound file as the runner fetched it: its decrypted bytes, or why there are none. */
export type InboundMedia =
  | { status: 'stored'; bytes: Uint8Array; mime: string; sha256: string }
  | { status: 'too_large' | 'failed' }

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

/** A declared mimetype or file name within its 255-character column (whole code points). */
function fitShort(s: string | null | undefined): string | null {
  return s ? Array.from(s).slice(0, 255).join('') : null
}

export type InboundResult =
  | { kind: 'duplicate' }
  | { kind: 'stored'; action: InboundAction; optIn: OptIn | null; optedOut: number; released: number }

// reply_to_message_id: the quoted WhatsApp id is ours when a sent message carries it (uq_messages_wa_id).
const INSERT = /* @__PURE__ */ each(
  `INSERT INTO inbound_messages (session, phone, sender_jid, body, wa_message_id, action, received_at, processed_at,
                              type, caption, mimetype, file_name, size, lid, reply_to_message_id, media_id, media_status)
VALUES (?, ?, ?, ?, ?, ?, NOW(6), CASE WHEN ? THEN NOW(6) ELSE NULL END,
        ?, ?, ?, ?, ?, ?, (SELECT id FROM messages WHERE wa_message_id = ?), ?, ?)`,
  // ON CONFLICT: a raw 23505 would abort the transaction on Postgres.
  `INSERT INTO inbound_messages (session, phone, sender_jid, body, wa_message_id, action, received_at, processed_at,
                              type, caption, mimetype, file_name, size, lid, reply_to_message_id, media_id, media_status)
VALUES ($1, $2, $3, $4, $5, $6, now(), CASE WHEN $7 THEN now() ELSE NULL END,
        $8, $9, $10, $11, $12, $13, (SELECT id FROM messages WHERE wa_message_id = $14), $15, $16)
ON CONFLICT (session, wa_message_id) DO NOTHING
RETURNING id`,
)

/**
 * Stores an inbound message with its decided action and, when its file was stored first (`insertMedia` in the same
 * transaction), that file's id; `false` when that (session, WhatsApp id) is already stored.
 */
export async function insertInbound(tx: Queryable, input: InboundInput, action: InboundAction, mediaId: number | null = null): Promise<boolean> {
  const processed = action !== 'unresolved'
  const params = [
    input.session, input.phone, input.senderJid, fitInboundBody(input.body), input.waMessageId, action,
    tx.dialect === 'mysql' ? (processed ? 1 : 0) : processed,
    input.type ?? 'text', fitInboundBody(input.caption ?? null), fitShort(input.mimetype), fitShort(input.fileName),
    input.size ?? null, input.lid ?? null, input.quotedWaId ?? null, mediaId, input.media?.status ?? null,
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
  `SELECT wa_message_id, sender_jid, body, type
  FROM inbound_messages
 WHERE session = ?
   AND sender_jid = ?
   AND processed_at IS NULL
 ORDER BY id`,
  `SELECT wa_message_id, sender_jid, body, type
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

/** The stored, undecided messages of a LID sender, in arrival order; `text` is the body of text messages only. */
export async function selectUnresolvedInbound(
  tx: Queryable,
  session: string,
  senderJid: string,
): Promise<{ waMessageId: string; text: string | null }[]> {
  return (await tx.query(UNRESOLVED[tx.dialect], [session, senderJid])).map((r) => ({
    waMessageId: String(r.wa_message_id),
    text: r.body === null || r.type !== 'text' ? null : String(r.body),
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
  `SELECT id, session, sender_jid, COALESCE(body, caption) AS body, wa_message_id
  FROM inbound_messages
 WHERE id = ?`,
  `SELECT id, session, sender_jid, COALESCE(body, caption) AS body, wa_message_id
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

/**
 * A received message as `GET /api/inbound` answers it and the `message.received` webhook carries it (with the
 * original payload fields besides): times already `YYYY-MM-DD HH:MM:SS` UTC, like every time the API prints.
 */
export interface InboundItem {
  id: number
  session: string
  phone: string | null
  lid: string | null
  type: InboundType
  /** The text, a reaction's emoji, or a caption. */
  text: string | null
  mimetype: string | null
  file_name: string | null
  /** Bytes, as the message declared them. */
  size: number | null
  reply_to_message_id: number | null
  received_at: string
  /** The consent keyword it carried. */
  consent: 'stop' | 'start' | null
  /** For a file: 'stored', 'expired' (pruned after MEDIA_RETENTION_DAYS), 'too_large' or 'failed'; else null. */
  media_status: 'stored' | 'expired' | 'too_large' | 'failed' | null
  /** The path that streams the stored file (`GET /api/inbound/{id}/media`), while it is stored. */
  media_url: string | null
}

export interface InboundFilter {
  session?: string
  phone?: string
  type?: InboundType
  /** received_at ≥ since */
  since?: Date
  /** received_at < until */
  until?: Date
  /** Keyset cursor: only ids below this one (newest first). */
  beforeId?: number
  limit: number
}

// The item's shape in SQL, as EMIT_INBOUND (webhook-events.ts) builds it.
const LISTED = /* @__PURE__ */ each(
  `SELECT id, session, phone, lid, type, COALESCE(body, caption) AS text, mimetype, file_name, size, reply_to_message_id,
       DATE_FORMAT(received_at, '%Y-%m-%d %H:%i:%s') AS received_at,
       CASE WHEN action IN ('stop', 'start') THEN action END AS consent,
       CASE WHEN media_status = 'stored' AND NOT EXISTS (SELECT 1 FROM media md WHERE md.id = inbound_messages.media_id)
            THEN 'expired' ELSE media_status END AS media_status
  FROM inbound_messages`,
  `SELECT id, session, phone, lid, type, COALESCE(body, caption) AS text, mimetype, file_name, size, reply_to_message_id,
       to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS received_at,
       CASE WHEN action IN ('stop', 'start') THEN action END AS consent,
       CASE WHEN media_status = 'stored' AND NOT EXISTS (SELECT 1 FROM media md WHERE md.id = inbound_messages.media_id)
            THEN 'expired' ELSE media_status END AS media_status
  FROM inbound_messages`,
)

// Postgres hands BIGINT back as text.
const toItem = (r: Row) => {
  const id = toId(r.id)
  return {
    ...r, id, size: toIdOrNull(r.size), reply_to_message_id: toIdOrNull(r.reply_to_message_id),
    media_status: r.media_status ?? null, media_url: r.media_status === 'stored' ? inboundMediaPath(id) : null,
  } as InboundItem
}

/** Where the API streams a received file (the webhook builds the same path in SQL, EMIT_INBOUND). */
export const inboundMediaPath = (id: number) => `/api/inbound/${id}/media`

/**
 * Received messages, newest first, with keyset pagination on `id` (stable under concurrent inserts, which only add
 * higher ids). Every filter is a bound parameter.
 */
export async function listInbound(db: Queryable, filter: InboundFilter): Promise<InboundItem[]> {
  const f = optionalFilters(db.dialect)
  f.add(filter.session, (ph) => `session = ${ph}`)
  f.add(filter.phone, (ph) => `phone = ${ph}`)
  f.add(filter.type, (ph) => `type = ${ph}`)
  f.add(filter.since, (ph) => `received_at >= ${ph}`)
  f.add(filter.until, (ph) => `received_at < ${ph}`)
  f.add(filter.beforeId, (ph) => `id < ${ph}`)
  return (await db.query(`${LISTED[db.dialect]}\n${f.whereText()} ORDER BY id DESC\n LIMIT ${f.bind(filter.limit)}`, f.params)).map(toItem)
}

/** One received message as the listing shows it, or null. */
export async function getInbound(db: Queryable, id: number): Promise<InboundItem | null> {
  const [row] = await db.query(`${LISTED[db.dialect]}\n WHERE id = ${db.dialect === 'mysql' ? '?' : '$1'}`, [id])
  return row ? toItem(row) : null
}

const MEDIA_OF = /* @__PURE__ */ each(
  `SELECT i.media_status, i.mimetype, i.file_name, md.id AS media_id, md.mime, md.size, md.chunks
  FROM inbound_messages i
  LEFT JOIN media md ON md.id = i.media_id
 WHERE i.id = ?`,
  `SELECT i.media_status, i.mimetype, i.file_name, md.id AS media_id, md.mime, md.size, md.chunks
  FROM inbound_messages i
  LEFT JOIN media md ON md.id = i.media_id
 WHERE i.id = $1`,
)

/** A received message's file as `GET /api/inbound/{id}/media` streams it: `file` is null when none is stored (any more). */
export interface InboundFile {
  status: InboundItem['media_status']
  file: { id: number; mime: string; size: number; chunks: number; fileName: string | null } | null
}

/** The stored file of received message `id`, or null when there is no such message. */
export async function getInboundFile(db: Queryable, id: number): Promise<InboundFile | null> {
  const [r] = await db.query(MEDIA_OF[db.dialect], [id])
  if (!r) return null
  const file = r.media_id === null || r.media_id === undefined ? null : {
    id: toId(r.media_id), mime: String(r.mime), size: Number(r.size), chunks: Number(r.chunks), fileName: r.file_name === null ? null : String(r.file_name),
  }
  const status = (r.media_status ?? null) as InboundFile['status']
  return { status: status === 'stored' && !file ? 'expired' : status, file }
}
