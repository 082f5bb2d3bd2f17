/**
 * The INSERT statements of `messages`. The enqueue transition (idempotency, WhatsApp ids) is
 * `db/lifecycle/enqueue.ts`.
 */
import { toId, UniqueViolationError, type Queryable } from '../driver.js'
import { each } from '../sql.js'
import type { MessageDetails, MessageType } from '../types.js'
import { detailsText } from './messages.js'

/** One row to insert. */
export interface NewMessage {
  session: string
  phone: string
  type: MessageType
  body: string | null
  mediaId?: number | null
  /** Client-supplied key: a repeat returns the first message's id instead of a second row. */
  idempotencyKey?: string | null
  /** Hash of the request that carried the key, so a different body under the same key is a conflict. */
  requestHash?: string | null
  /** Send no earlier than this many ms from now; 0 or absent = now. */
  delayMs?: number
  /**
   * Scheduled send: not before this instant. The database computes `available_at = GREATEST(now, send_at)` with its
   * own clock (db/README.md, Tables), so a past instant means now; it is stored as `send_at` for the audit log.
   */
  sendAt?: Date | null
  /** Kind-specific fields (a document's name, a location, a contact card…), stored as JSON. */
  details?: MessageDetails | null
  /** The inbound message (`inbound_messages.id`) this one quotes. */
  replyTo?: number | null
  /** For a `revoke` row: the message it takes back. */
  targetId?: number | null
}

// available_at from a delay and an optional absolute instant, on the database clock. COALESCE: MySQL's GREATEST is
// NULL if any argument is. Two placeholders: the delay in ms, then send_at (or NULL).
const AVAILABLE_AT_MYSQL = 'GREATEST(NOW(6) + INTERVAL ? * 1000 MICROSECOND, COALESCE(?, NOW(6)))'
const availableAtPostgres = (n: number) =>
  `GREATEST(now() + $${n} * interval '1 millisecond', COALESCE($${n + 1}::timestamptz, now()))`

// MySQL: no ON CONFLICT … RETURNING; a 1062 on uq_messages_idempotency means "seen before" (api/README.md).
const INSERT_ONE = /* @__PURE__ */ each(
  `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, send_at, details, reply_to, target_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, GREATEST(NOW(6) + INTERVAL ? * 1000 MICROSECOND, COALESCE(?, NOW(6))), ?, ?, ?, ?, NOW(6), NOW(6))`,
  // Postgres: ON CONFLICT, because a raw 23505 would abort the surrounding transaction.
  `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, send_at, details, reply_to, target_id, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, GREATEST(now() + $9 * interval '1 millisecond', COALESCE($10::timestamptz, now())), $11::timestamptz,
        $12, $13, $14, now(), now())
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id`,
)

/** Bound values per row (`rowParams`). */
const ROW_PARAMS = 14

function rowParams(m: NewMessage, waMessageId: string): unknown[] {
  const sendAt = m.sendAt ?? null
  return [
    m.session, m.phone, m.type, m.body, m.mediaId ?? null, m.idempotencyKey ?? null, m.requestHash ?? null,
    waMessageId, Math.max(0, Math.round(m.delayMs ?? 0)), sendAt, sendAt,
    detailsText(m.details), m.replyTo ?? null, m.targetId ?? null,
  ]
}

/** Inserts one message; returns its id, or null when its idempotency key is already taken (nothing inserted). */
export async function insertMessage(db: Queryable, m: NewMessage, waMessageId: string): Promise<number | null> {
  const params = rowParams(m, waMessageId)
  if (db.dialect === 'mysql') {
    try {
      return toId((await db.execute(INSERT_ONE.mysql, params)).insertId)
    } catch (err) {
      if (err instanceof UniqueViolationError && m.idempotencyKey) return null
      throw err
    }
  }
  const [row] = await db.query(INSERT_ONE.postgres, params)
  if (row) return toId(row.id)
  if (!m.idempotencyKey) throw new Error('insert returned no row without an idempotency key')
  return null
}

const FIND_BY_WA_IDS = /* @__PURE__ */ each(
  `SELECT id, wa_message_id
  FROM messages
 WHERE wa_message_id IN (?)`,
  `SELECT id, wa_message_id
  FROM messages
 WHERE wa_message_id IN ($1)`,
)

/**
 * Inserts many messages with one multi-row INSERT and returns their ids by WhatsApp id. Rows are mapped back through
 * the pre-drawn WhatsApp ids, which is exact on every engine (MySQL 8's interleaved auto-increment does not promise
 * consecutive ids).
 */
export async function insertMessages(db: Queryable, rows: readonly NewMessage[], waIds: readonly string[]): Promise<Map<string, number>> {
  const params: unknown[] = []
  const values: string[] = []
  rows.forEach((m, i) => {
    params.push(...rowParams(m, waIds[i]!))
    if (db.dialect === 'mysql') {
      values.push(`(?, ?, ?, ?, ?, ?, ?, ?, ${AVAILABLE_AT_MYSQL}, ?, ?, ?, ?, NOW(6), NOW(6))`)
    } else {
      const b = i * ROW_PARAMS
      values.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, ${availableAtPostgres(b + 9)}, $${b + 11}::timestamptz, $${b + 12}, $${b + 13}, $${b + 14}, now(), now())`)
    }
  })
  const insert = `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, send_at, details, reply_to, target_id, created_at, updated_at)
VALUES ${values.join(',\n       ')}`
  const byWaId = new Map<string, number>()
  // INSERT … RETURNING (PostgreSQL, MariaDB) reads the ids back in the same round trip; MySQL 8 reads them by their
  // WhatsApp ids in a second statement.
  if (db.capabilities.insertReturning) {
    for (const row of await db.query(`${insert}\nRETURNING id, wa_message_id`, params)) {
      byWaId.set(String(row.wa_message_id), toId(row.id))
    }
  } else {
    await db.execute(insert, params)
    for (const row of await db.query(FIND_BY_WA_IDS[db.dialect], [waIds])) byWaId.set(String(row.wa_message_id), toId(row.id))
  }
  return byWaId
}
