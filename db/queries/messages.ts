/**
 * Reads of `messages`: the audit record, the audit log, counts, and lookups by idempotency key. Every change of a
 * message is a transition in `db/lifecycle/`; its statements are in message-inserts.ts, message-claim.ts,
 * message-outcomes.ts and message-receipts.ts.
 */
import { toDate, toId, toIdOrNull, type Queryable, type Row } from '../driver.js'
import { each, optionalFilters } from '../sql.js'
import type { MessageDetails, MessageHold, MessageRecord, MessageStatus, MessageType } from '../types.js'
import { MESSAGE_STATES } from '../types.js'

const COLUMNS = `id, session, phone, type, body, media_id, status, attempts, available_at, wa_message_id, claimed_by,
       claim_epoch, claimed_at, sent_at, delivered_at, read_at, error, hold, details, reply_to, target_id, revoked_at,
       idempotency_key, send_at, created_at, updated_at`

/** `messages.details` as stored (JSON text; PostgreSQL drivers may hand back text or an object). */
export function parseDetails(value: unknown): MessageDetails | null {
  if (value === null || value === undefined || value === '') return null
  if (typeof value === 'object') return value
  return JSON.parse(String(value)) as MessageDetails
}

/** What `messages.details` stores: the JSON text, or NULL for a kind that needs nothing beyond body and media. */
export function detailsText(details: MessageDetails | null | undefined): string | null {
  return details && Object.keys(details).length > 0 ? JSON.stringify(details) : null
}

/** Maps a `messages` row to the domain object. */
export function toMessage(row: Row): MessageRecord {
  return {
    id: toId(row.id),
    session: String(row.session),
    phone: String(row.phone),
    type: row.type as MessageType,
    body: (row.body as string | null) ?? null,
    mediaId: toIdOrNull(row.media_id),
    status: row.status as MessageStatus,
    attempts: Number(row.attempts),
    availableAt: toDate(row.available_at)!,
    waMessageId: (row.wa_message_id as string | null) ?? null,
    claimedBy: (row.claimed_by as string | null) ?? null,
    claimEpoch: row.claim_epoch === null || row.claim_epoch === undefined ? null : Number(row.claim_epoch),
    claimedAt: toDate(row.claimed_at),
    sentAt: toDate(row.sent_at),
    deliveredAt: toDate(row.delivered_at),
    readAt: toDate(row.read_at),
    error: (row.error as string | null) ?? null,
    hold: (row.hold as MessageHold | null) ?? null,
    details: parseDetails(row.details),
    replyTo: toIdOrNull(row.reply_to),
    targetId: toIdOrNull(row.target_id),
    revokedAt: toDate(row.revoked_at),
    idempotencyKey: (row.idempotency_key as string | null) ?? null,
    sendAt: toDate(row.send_at),
    createdAt: toDate(row.created_at)!,
    updatedAt: toDate(row.updated_at)!,
  }
}

const FIND_BY_KEY = /* @__PURE__ */ each(
  `SELECT id, request_hash
  FROM messages
 WHERE idempotency_key = ?`,
  `SELECT id, request_hash
  FROM messages
 WHERE idempotency_key = $1`,
)

/** The message stored under an idempotency key, as `{id, requestHash}`, or null. */
export async function findMessageByKey(db: Queryable, key: string): Promise<{ id: number; requestHash: string | null } | null> {
  const [row] = await db.query(FIND_BY_KEY[db.dialect], [key])
  return row ? { id: toId(row.id), requestHash: (row.request_hash as string | null) ?? null } : null
}

const GET = /* @__PURE__ */ each(
  `SELECT ${COLUMNS}
  FROM messages
 WHERE id = ?`,
  `SELECT ${COLUMNS}
  FROM messages
 WHERE id = $1`,
)

/** One message (the audit record), or null. */
export async function getMessage(db: Queryable, id: number): Promise<MessageRecord | null> {
  const [row] = await db.query(GET[db.dialect], [id])
  return row ? toMessage(row) : null
}

export interface MessageFilter {
  status?: MessageStatus
  session?: string
  phone?: string
  /** created_at ≥ since */
  since?: Date
  /** created_at < until */
  until?: Date
  /** Keyset cursor: only ids below this one (newest first). */
  beforeId?: number
  limit: number
}

/**
 * The audit log, newest first, with keyset pagination on `id` (stable under concurrent inserts,
 * no OFFSET scans). Every filter is a bound parameter; the WHERE clause only grows by constant text.
 */
export async function listMessages(db: Queryable, filter: MessageFilter): Promise<MessageRecord[]> {
  const f = optionalFilters(db.dialect)
  f.add(filter.status, (ph) => `status = ${ph}`)
  f.add(filter.session, (ph) => `session = ${ph}`)
  f.add(filter.phone, (ph) => `phone = ${ph}`)
  f.add(filter.since, (ph) => `created_at >= ${ph}`)
  f.add(filter.until, (ph) => `created_at < ${ph}`)
  f.add(filter.beforeId, (ph) => `id < ${ph}`)
  const sql = `SELECT ${COLUMNS}
  FROM messages
${f.whereText()} ORDER BY id DESC
 LIMIT ${f.bind(filter.limit)}`
  return (await db.query(sql, f.params)).map(toMessage)
}

const COUNT_BY_STATUS = /* @__PURE__ */ each(
  `SELECT status, COUNT(*) AS n
  FROM messages
 GROUP BY status`,
  `SELECT status, COUNT(*) AS n
  FROM messages
 GROUP BY status`,
)

/** Queue depth per status (every status present, zeros included). */
export async function countMessagesByStatus(db: Queryable): Promise<Record<MessageStatus, number>> {
  const counts = Object.fromEntries(MESSAGE_STATES.map((s) => [s, 0])) as Record<MessageStatus, number>
  for (const row of await db.query(COUNT_BY_STATUS[db.dialect])) counts[row.status as MessageStatus] = Number(row.n)
  return counts
}

const COUNT_SENT_SINCE = /* @__PURE__ */ each(
  `SELECT COUNT(*) AS n
  FROM messages
 WHERE status = 'sent'
   AND sent_at >= NOW(6) - INTERVAL ? SECOND`,
  `SELECT COUNT(*) AS n
  FROM messages
 WHERE status = 'sent'
   AND sent_at >= now() - $1 * interval '1 second'`,
)

/** Messages sent in the last `seconds` (dashboard: last 24 h). */
export async function countSentSince(db: Queryable, seconds: number): Promise<number> {
  const [row] = await db.query(COUNT_SENT_SINCE[db.dialect], [seconds])
  return Number(row?.n ?? 0)
}

const FIND_BY_KEYS = /* @__PURE__ */ each(
  `SELECT id, idempotency_key, request_hash
  FROM messages
 WHERE idempotency_key IN (?)`,
  // Postgres: one array parameter instead of a variable-length IN list.
  `SELECT id, idempotency_key, request_hash
  FROM messages
 WHERE idempotency_key = ANY($1::text[])`,
)

/**
 * The messages stored under any of `keys` (a batch's per-item keys), by key.
 * @example const found = await findMessagesByKeys(db, ['k #0', 'k #1'])
 */
export async function findMessagesByKeys(
  db: Queryable,
  keys: readonly string[],
): Promise<Map<string, { id: number; requestHash: string | null }>> {
  const out = new Map<string, { id: number; requestHash: string | null }>()
  if (keys.length === 0) return out
  for (const row of await db.query(FIND_BY_KEYS[db.dialect], [keys])) {
    out.set(String(row.idempotency_key), { id: toId(row.id), requestHash: (row.request_hash as string | null) ?? null })
  }
  return out
}

// A group message's member receipts, read beside the message for GET /api/messages/{id} (written by
// message-receipts.ts, where the receipt transitions' statements are).
const COUNT_MEMBER_RECEIPTS = /* @__PURE__ */ each(
  `SELECT COUNT(delivered_at) AS delivered, COUNT(read_at) AS readers
  FROM message_receipts
 WHERE wa_message_id = ?`,
  `SELECT COUNT(delivered_at) AS delivered, COUNT(read_at) AS readers
  FROM message_receipts
 WHERE wa_message_id = $1`,
)

/** How many members have received and read group message `waMessageId`. */
export async function countMemberReceipts(db: Queryable, waMessageId: string): Promise<{ delivered: number; read: number }> {
  const [row] = await db.query(COUNT_MEMBER_RECEIPTS[db.dialect], [waMessageId])
  return { delivered: Number(row?.delivered ?? 0), read: Number(row?.readers ?? 0) }
}
