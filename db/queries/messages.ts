import { toDate, toId, toIdOrNull, UniqueViolationError, type Queryable, type Row } from '../driver.js'
import { each, same } from '../sql.js'
import { forceIndexOnMysql } from './mysql-hints.js'
import type { MessageHold, MessageRecord, MessageStatus, MessageType } from '../types.js'
import { MESSAGE_STATES } from '../types.js'

const COLUMNS = `id, session, phone, type, body, media_id, status, attempts, available_at, wa_message_id, claimed_by,
       claim_epoch, claimed_at, sent_at, delivered_at, read_at, error, hold, idempotency_key, send_at, created_at, updated_at`

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
    idempotencyKey: (row.idempotency_key as string | null) ?? null,
    sendAt: toDate(row.send_at),
    createdAt: toDate(row.created_at)!,
    updatedAt: toDate(row.updated_at)!,
  }
}

/**
 * A WhatsApp message id in the shape WhatsApp Web uses (`3EB0` + 18 upper-case hex digits), drawn
 * at enqueue so that every retry, resend and post-crash resend goes out under one id, and so that a
 * multi-row insert can map its rows back to ids without relying on AUTO_INCREMENT being consecutive.
 */
export function newWaMessageId(): string {
  if (entropyAt + WA_ID_BYTES > entropy.length) {
    // One getRandomValues call per 455 ids: a call per id was 5% of the API's CPU under load.
    // Web Crypto, not node:crypto: this file is bundled into the Workers API too.
    crypto.getRandomValues(entropy)
    entropyAt = 0
  }
  let id = '3EB0'
  for (let i = 0; i < WA_ID_BYTES; i++) id += HEX[entropy[entropyAt++]!]
  return id
}

const WA_ID_BYTES = 9
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0').toUpperCase())
const entropy = new Uint8Array(4096)
// Starts exhausted, so the first id draws fresh bytes.
let entropyAt = entropy.length

export interface EnqueueInput {
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
}

export type EnqueueResult =
  | { kind: 'created'; id: number }
  /** The idempotency key was seen before with the same request: same id, no new row. */
  | { kind: 'repeat'; id: number }
  /** The idempotency key was seen before with a different request. */
  | { kind: 'conflict'; id: number }

// available_at from a delay and an optional absolute instant, on the database clock. COALESCE: MySQL's GREATEST is
// NULL if any argument is. Two placeholders: the delay in ms, then send_at (or NULL).
const AVAILABLE_AT_MYSQL = 'GREATEST(NOW(6) + INTERVAL ? * 1000 MICROSECOND, COALESCE(?, NOW(6)))'
const availableAtPostgres = (n: number) =>
  `GREATEST(now() + $${n} * interval '1 millisecond', COALESCE($${n + 1}::timestamptz, now()))`

// MySQL: no ON CONFLICT … RETURNING; a 1062 on uq_messages_idempotency means "seen before" (api/README.md).
const INSERT_ONE = each(
  `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, send_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ${AVAILABLE_AT_MYSQL}, ?, NOW(6), NOW(6))`,
  // Postgres: ON CONFLICT, because a raw 23505 would abort the surrounding transaction.
  `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, send_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ${availableAtPostgres(9)}, $11::timestamptz, now(), now())
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id`,
)

const FIND_BY_KEY = same(`SELECT id, request_hash
  FROM messages
 WHERE idempotency_key = ?`)

/** The message stored under an idempotency key, as `{id, requestHash}`, or null. */
export async function findMessageByKey(db: Queryable, key: string): Promise<{ id: number; requestHash: string | null } | null> {
  const [row] = await db.query(FIND_BY_KEY[db.dialect], [key])
  return row ? { id: toId(row.id), requestHash: (row.request_hash as string | null) ?? null } : null
}

function repeatOrConflict(found: { id: number; requestHash: string | null }, requestHash: string | null | undefined): EnqueueResult {
  return found.requestHash === (requestHash ?? null) ? { kind: 'repeat', id: found.id } : { kind: 'conflict', id: found.id }
}

/**
 * Queues one message (the committed row is the promise that it will be sent or accounted for).
 * With an idempotency key, a repeat of the same request returns the existing id.
 * @example const r = await enqueueMessage(db, { session: 'default', phone: '9611234567', type: 'text', body: 'Hi' })
 */
export async function enqueueMessage(db: Queryable, input: EnqueueInput): Promise<EnqueueResult> {
  const params = [
    input.session, input.phone, input.type, input.body, input.mediaId ?? null, input.idempotencyKey ?? null,
    input.requestHash ?? null, newWaMessageId(), Math.max(0, Math.round(input.delayMs ?? 0)), input.sendAt ?? null,
    input.sendAt ?? null,
  ]
  if (db.dialect === 'mysql') {
    try {
      const res = await db.execute(INSERT_ONE.mysql, params)
      return { kind: 'created', id: toId(res.insertId) }
    } catch (err) {
      if (!(err instanceof UniqueViolationError) || !input.idempotencyKey) throw err
    }
  } else {
    const [row] = await db.query(INSERT_ONE.postgres, params)
    if (row) return { kind: 'created', id: toId(row.id) }
    if (!input.idempotencyKey) throw new Error('insert returned no row without an idempotency key')
  }
  // A separate statement: under READ COMMITTED it sees a concurrent committer's row.
  const found = await findMessageByKey(db, input.idempotencyKey!)
  if (!found) throw new Error('idempotency key vanished between insert and lookup')
  return repeatOrConflict(found, input.requestHash)
}

const FIND_BY_WA_IDS = same(`SELECT id, wa_message_id
  FROM messages
 WHERE wa_message_id IN (?)`)

/**
 * Queues many messages with one multi-row INSERT and returns their ids in input order.
 * Rows are mapped back through their pre-drawn WhatsApp ids, which is exact on every engine
 * (MySQL 8's interleaved auto-increment does not promise consecutive ids).
 * Idempotency keys are not accepted here; callers check a batch key first.
 */
export async function enqueueMessages(db: Queryable, inputs: readonly EnqueueInput[]): Promise<number[]> {
  if (inputs.length === 0) return []
  const waIds = inputs.map(() => newWaMessageId())
  const params: unknown[] = []
  const rows: string[] = []
  inputs.forEach((m, i) => {
    const delay = Math.max(0, Math.round(m.delayMs ?? 0))
    const sendAt = m.sendAt ?? null
    params.push(m.session, m.phone, m.type, m.body, m.mediaId ?? null, m.idempotencyKey ?? null, m.requestHash ?? null, waIds[i], delay, sendAt, sendAt)
    if (db.dialect === 'mysql') {
      rows.push(`(?, ?, ?, ?, ?, ?, ?, ?, ${AVAILABLE_AT_MYSQL}, ?, NOW(6), NOW(6))`)
    } else {
      const b = i * 11
      rows.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, ${availableAtPostgres(b + 9)}, $${b + 11}::timestamptz, now(), now())`)
    }
  })
  const insert = `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, send_at, created_at, updated_at)
VALUES ${rows.join(',\n       ')}`
  const byWaId = new Map<string, number>()
  // MariaDB (10.5+; the queue needs 10.6) has INSERT … RETURNING: one round trip instead of two.
  // MySQL 8 has not. A transaction's Queryable carries no server version and takes the long way.
  const serverVersion = (db as Queryable & { serverVersion?: string }).serverVersion
  if (db.dialect === 'mysql' && serverVersion && /mariadb/i.test(serverVersion)) {
    for (const row of await db.query(`${insert}\nRETURNING id, wa_message_id`, params)) {
      byWaId.set(String(row.wa_message_id), toId(row.id))
    }
  } else if (db.dialect === 'mysql') {
    await db.execute(insert, params)
    for (const row of await db.query(FIND_BY_WA_IDS.mysql, [waIds])) byWaId.set(String(row.wa_message_id), toId(row.id))
  } else {
    for (const row of await db.query(`${insert}\nRETURNING id, wa_message_id`, params)) {
      byWaId.set(String(row.wa_message_id), toId(row.id))
    }
  }
  return waIds.map((w) => {
    const id = byWaId.get(w)
    if (id === undefined) throw new Error(`inserted row for ${w} not found`)
    return id
  })
}

const GET = same(`SELECT ${COLUMNS}
  FROM messages
 WHERE id = ?`)

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
  const where: string[] = []
  const params: unknown[] = []
  const p = () => (db.dialect === 'mysql' ? '?' : `$${params.length}`)
  const add = (clause: (ph: string) => string, value: unknown) => {
    params.push(value)
    where.push(clause(p()))
  }
  if (filter.status) add((ph) => `status = ${ph}`, filter.status)
  if (filter.session) add((ph) => `session = ${ph}`, filter.session)
  if (filter.phone) add((ph) => `phone = ${ph}`, filter.phone)
  if (filter.since) add((ph) => `created_at >= ${ph}`, filter.since)
  if (filter.until) add((ph) => `created_at < ${ph}`, filter.until)
  if (filter.beforeId !== undefined) add((ph) => `id < ${ph}`, filter.beforeId)
  params.push(filter.limit)
  const sql = `SELECT ${COLUMNS}
  FROM messages
${where.length ? ` WHERE ${where.join('\n   AND ')}\n` : ''} ORDER BY id DESC
 LIMIT ${p()}`
  return (await db.query(sql, params)).map(toMessage)
}

const COUNT_BY_STATUS = same(`SELECT status, COUNT(*) AS n
  FROM messages
 GROUP BY status`)

/** Queue depth per status (every status present, zeros included). */
export async function countMessagesByStatus(db: Queryable): Promise<Record<MessageStatus, number>> {
  const counts = Object.fromEntries(MESSAGE_STATES.map((s) => [s, 0])) as Record<MessageStatus, number>
  for (const row of await db.query(COUNT_BY_STATUS[db.dialect])) counts[row.status as MessageStatus] = Number(row.n)
  return counts
}

const COUNT_SENT_SINCE = each(
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

// Keyed by primary key: on MySQL name it, or MariaDB may walk idx_messages_status_id and lock in the
// opposite order to a claim (see mysql-hints.ts).
const RESEND = forceIndexOnMysql(same(`UPDATE messages
   SET status = 'pending', attempts = 0, available_at = NOW(6), error = NULL, updated_at = NOW(6)
 WHERE id = ?
   AND status IN ('failed', 'opted_out')`), 'messages')

export type ResendResult = 'ok' | 'not_found' | 'wrong_status'

/**
 * Puts a `failed` or `opted_out` message back in the queue (db/README.md). Its WhatsApp id is
 * kept, so a message that may have reached the phone goes out again under the same id.
 */
export async function resendMessage(db: Queryable, id: number): Promise<ResendResult> {
  const res = await db.execute(RESEND[db.dialect], [id])
  if (res.affectedRows === 1) return 'ok'
  return (await getMessage(db, id)) ? 'wrong_status' : 'not_found'
}

const FIND_BY_KEYS = each(
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
