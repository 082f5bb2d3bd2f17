/**
 * Webhook events: `INSERT INTO webhook_deliveries`, one row per matching endpoint, written by the queue, the inbound
 * handler and the session supervisor.
 *
 * **Events are rows written in the same transaction as the change they report.** Each `emit…` function is one
 * `INSERT INTO webhook_deliveries … SELECT … FROM webhooks JOIN <the changed row>`: one row per enabled webhook
 * whose `events` list names the type and whose session filter matches, with the event's data built by the database
 * from the row as the transaction now sees it. With no matching webhook it writes nothing, so the price on the
 * queue's hot paths is one cheap statement (an empty or tiny `webhooks` table), and nothing is cached outside the
 * transaction. A rolled-back change takes its events with it; a committed one cannot lose them.
 */
import type { Db, Queryable } from '../driver.js'
import { each, type Statement } from '../sql.js'
import type { WebhookEvent } from './webhook-endpoints.js'

/**
 * Runs `fn` in a transaction of its own when given the pool, or inside the caller's transaction when given one:
 * the state-change functions that now also write events keep accepting either.
 */
export async function atomically<T>(db: Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const maybeDb = db as Queryable & Partial<Pick<Db, 'transaction'>>
  return typeof maybeDb.transaction === 'function' ? (maybeDb as Db).transaction(fn) : fn(db)
}

// The event's data is built by the database from the row as the transaction sees it. Times are
// `YYYY-MM-DD HH:MM:SS` UTC, the API's format (NULL stays NULL). MySQL binds, in order: event id, type, the payload's
// parameters, the joined row's key, the type again, then the session filter's parameter; PostgreSQL binds event id
// ($1) and type ($2), then the rest in the same order without repeating the type.
const EMIT_MESSAGE = /* @__PURE__ */ each(
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, ?, ?,
       JSON_OBJECT('message_id', m.id, 'session', m.session, 'phone', m.phone, 'type', m.type, 'status', m.status,
                   'wa_message_id', m.wa_message_id, 'attempts', m.attempts, 'error', m.error,
                   'created_at', DATE_FORMAT(m.created_at, '%Y-%m-%d %H:%i:%s'),
                   'sent_at', DATE_FORMAT(m.sent_at, '%Y-%m-%d %H:%i:%s'),
                   'delivered_at', DATE_FORMAT(m.delivered_at, '%Y-%m-%d %H:%i:%s'),
                   'read_at', DATE_FORMAT(m.read_at, '%Y-%m-%d %H:%i:%s')),
       NOW(6), NOW(6), NOW(6)
  FROM webhooks w
  JOIN messages m ON m.id = ?
 WHERE w.enabled = 1
   AND FIND_IN_SET(?, w.events) > 0
   AND (w.session IS NULL OR w.session = m.session)`,
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, $1, $2,
       json_build_object('message_id', m.id, 'session', m.session, 'phone', m.phone, 'type', m.type, 'status', m.status,
                         'wa_message_id', m.wa_message_id, 'attempts', m.attempts, 'error', m.error,
                         'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                         'sent_at', to_char(m.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                         'delivered_at', to_char(m.delivered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                         'read_at', to_char(m.read_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))::text,
       now(), now(), now()
  FROM webhooks w
  JOIN messages m ON m.id = $3
 WHERE w.enabled
   AND $2 = ANY(string_to_array(w.events, ','))
   AND (w.session IS NULL OR w.session = m.session)`,
)

// Receipts and negative acks know the WhatsApp id, not the row id (uq_messages_wa_id).
const EMIT_MESSAGE_BY_WA_ID = /* @__PURE__ */ each(
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, ?, ?,
       JSON_OBJECT('message_id', m.id, 'session', m.session, 'phone', m.phone, 'type', m.type, 'status', m.status,
                   'wa_message_id', m.wa_message_id, 'attempts', m.attempts, 'error', m.error,
                   'created_at', DATE_FORMAT(m.created_at, '%Y-%m-%d %H:%i:%s'),
                   'sent_at', DATE_FORMAT(m.sent_at, '%Y-%m-%d %H:%i:%s'),
                   'delivered_at', DATE_FORMAT(m.delivered_at, '%Y-%m-%d %H:%i:%s'),
                   'read_at', DATE_FORMAT(m.read_at, '%Y-%m-%d %H:%i:%s')),
       NOW(6), NOW(6), NOW(6)
  FROM webhooks w
  JOIN messages m ON m.wa_message_id = ?
 WHERE w.enabled = 1
   AND FIND_IN_SET(?, w.events) > 0
   AND (w.session IS NULL OR w.session = m.session)`,
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, $1, $2,
       json_build_object('message_id', m.id, 'session', m.session, 'phone', m.phone, 'type', m.type, 'status', m.status,
                         'wa_message_id', m.wa_message_id, 'attempts', m.attempts, 'error', m.error,
                         'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                         'sent_at', to_char(m.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                         'delivered_at', to_char(m.delivered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                         'read_at', to_char(m.read_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))::text,
       now(), now(), now()
  FROM webhooks w
  JOIN messages m ON m.wa_message_id = $3
 WHERE w.enabled
   AND $2 = ANY(string_to_array(w.events, ','))
   AND (w.session IS NULL OR w.session = m.session)`,
)

// `message.received`: the fields GET /api/inbound/{id} answers, after the original ones (sender, action, and body,
// which was an image's or video's caption before captions had their own column, and still is).
const EMIT_INBOUND = /* @__PURE__ */ each(
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, ?, ?,
       JSON_OBJECT('session', i.session, 'phone', i.phone, 'sender', i.sender_jid, 'body', COALESCE(i.body, i.caption),
                   'wa_message_id', i.wa_message_id, 'action', i.action,
                   'received_at', DATE_FORMAT(i.received_at, '%Y-%m-%d %H:%i:%s'),
                   'id', i.id, 'lid', i.lid, 'type', i.type, 'text', COALESCE(i.body, i.caption),
                   'mimetype', i.mimetype, 'file_name', i.file_name, 'size', i.size,
                   'reply_to_message_id', i.reply_to_message_id,
                   'consent', CASE WHEN i.action IN ('stop', 'start') THEN i.action END,
                   'media_status', i.media_status,
                   'media_url', CASE WHEN i.media_status = 'stored' THEN CONCAT('/api/inbound/', i.id, '/media') END),
       NOW(6), NOW(6), NOW(6)
  FROM webhooks w
  JOIN inbound_messages i ON i.session = ? AND i.wa_message_id = ?
 WHERE w.enabled = 1
   AND FIND_IN_SET(?, w.events) > 0
   AND (w.session IS NULL OR w.session = i.session)`,
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, $1, $2,
       json_build_object('session', i.session, 'phone', i.phone, 'sender', i.sender_jid, 'body', COALESCE(i.body, i.caption),
                         'wa_message_id', i.wa_message_id, 'action', i.action,
                         'received_at', to_char(i.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                         'id', i.id, 'lid', i.lid, 'type', i.type, 'text', COALESCE(i.body, i.caption),
                         'mimetype', i.mimetype, 'file_name', i.file_name, 'size', i.size,
                         'reply_to_message_id', i.reply_to_message_id,
                         'consent', CASE WHEN i.action IN ('stop', 'start') THEN i.action END,
                         'media_status', i.media_status,
                         'media_url', CASE WHEN i.media_status = 'stored' THEN '/api/inbound/' || i.id || '/media' END)::text,
       now(), now(), now()
  FROM webhooks w
  JOIN inbound_messages i ON i.session = $3 AND i.wa_message_id = $4
 WHERE w.enabled
   AND $2 = ANY(string_to_array(w.events, ','))
   AND (w.session IS NULL OR w.session = i.session)`,
)

// The session and source are parameters (the contact row has neither), and so is the session filter: a contact event
// carries the number the reply came through, or none.
const EMIT_CONTACT = /* @__PURE__ */ each(
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, ?, ?,
       JSON_OBJECT('phone', c.phone, 'opt_in', c.opt_in, 'opt_in_at', DATE_FORMAT(c.opt_in_at, '%Y-%m-%d %H:%i:%s'),
                   'name', c.name, 'session', ?, 'source', ?),
       NOW(6), NOW(6), NOW(6)
  FROM webhooks w
  JOIN contacts c ON c.phone = ?
 WHERE w.enabled = 1
   AND FIND_IN_SET(?, w.events) > 0
   AND (w.session IS NULL OR w.session = ?)`,
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, $1, $2,
       json_build_object('phone', c.phone, 'opt_in', c.opt_in,
                         'opt_in_at', to_char(c.opt_in_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                         'name', c.name, 'session', $3::text, 'source', $4::text)::text,
       now(), now(), now()
  FROM webhooks w
  JOIN contacts c ON c.phone = $5
 WHERE w.enabled
   AND $2 = ANY(string_to_array(w.events, ','))
   AND (w.session IS NULL OR w.session = $6::text)`,
)

const EMIT_SESSION_STATUS = /* @__PURE__ */ each(
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, ?, ?,
       JSON_OBJECT('session', s.name, 'status', s.status, 'previous_status', ?, 'phone', s.phone, 'detail', s.detail,
                   'last_seen', DATE_FORMAT(s.last_seen, '%Y-%m-%d %H:%i:%s')),
       NOW(6), NOW(6), NOW(6)
  FROM webhooks w
  JOIN sessions s ON s.name = ?
 WHERE w.enabled = 1
   AND FIND_IN_SET(?, w.events) > 0
   AND (w.session IS NULL OR w.session = s.name)`,
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, $1, $2,
       json_build_object('session', s.name, 'status', s.status, 'previous_status', $3::text, 'phone', s.phone,
                         'detail', s.detail, 'last_seen', to_char(s.last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))::text,
       now(), now(), now()
  FROM webhooks w
  JOIN sessions s ON s.name = $4
 WHERE w.enabled
   AND $2 = ANY(string_to_array(w.events, ','))
   AND (w.session IS NULL OR w.session = s.name)`,
)

const EMIT_SESSION_QR = /* @__PURE__ */ each(
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, ?, ?,
       JSON_OBJECT('session', s.name, 'status', s.status, 'qr', s.qr, 'qr_code', s.qr_code),
       NOW(6), NOW(6), NOW(6)
  FROM webhooks w
  JOIN sessions s ON s.name = ?
 WHERE w.enabled = 1
   AND FIND_IN_SET(?, w.events) > 0
   AND (w.session IS NULL OR w.session = s.name)`,
  `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)
SELECT w.id, $1, $2,
       json_build_object('session', s.name, 'status', s.status, 'qr', s.qr, 'qr_code', s.qr_code)::text,
       now(), now(), now()
  FROM webhooks w
  JOIN sessions s ON s.name = $3
 WHERE w.enabled
   AND $2 = ANY(string_to_array(w.events, ','))
   AND (w.session IS NULL OR w.session = s.name)`,
)

const newEventId = () => globalThis.crypto.randomUUID()

/** Binds one emit statement's parameters in its dialect's order (see the statements above). */
async function emit(
  tx: Queryable,
  stmt: Statement,
  type: WebhookEvent,
  fieldParams: unknown[],
  joinParams: unknown[],
  filterParams: unknown[],
): Promise<number> {
  const id = newEventId()
  const params = tx.dialect === 'mysql'
    ? [id, type, ...fieldParams, ...joinParams, type, ...filterParams]
    : [id, type, ...fieldParams, ...joinParams, ...filterParams]
  return (await tx.execute(stmt[tx.dialect], params)).affectedRows
}

/**
 * Writes a `message.*` event for one message, inside the transaction that changed it. Returns how many deliveries
 * were queued (0 without a matching webhook).
 */
export function emitMessageEvent(tx: Queryable, type: WebhookEvent, messageId: number): Promise<number> {
  return emit(tx, EMIT_MESSAGE, type, [], [messageId], [])
}

/** `emitMessageEvent` for the message with this WhatsApp id. */
export function emitMessageEventByWaId(tx: Queryable, type: WebhookEvent, waMessageId: string): Promise<number> {
  return emit(tx, EMIT_MESSAGE_BY_WA_ID, type, [], [waMessageId], [])
}

/** `message.received` for a stored inbound message (keyed by session and WhatsApp id). */
export function emitInboundEvent(tx: Queryable, session: string, waMessageId: string): Promise<number> {
  return emit(tx, EMIT_INBOUND, 'message.received', [], [session, waMessageId], [])
}

/**
 * `contact.opted_out` / `contact.opted_in` for a contact whose consent just changed. `session` is the number the
 * reply came through (null when set by the API or the dashboard: only webhooks without a session filter get it).
 */
export function emitContactEvent(
  tx: Queryable,
  type: 'contact.opted_out' | 'contact.opted_in',
  phone: string,
  session: string | null,
  source: 'inbound' | 'api',
): Promise<number> {
  return emit(tx, EMIT_CONTACT, type, [session, source], [phone], [session])
}

/** `session.status` after the runner reported a new status (the row already carries it). */
export function emitSessionStatus(tx: Queryable, session: string, previousStatus: string | null): Promise<number> {
  return emit(tx, EMIT_SESSION_STATUS, 'session.status', [previousStatus], [session], [])
}

/** `session.qr` after the runner stored a new QR code. */
export function emitSessionQr(tx: Queryable, session: string): Promise<number> {
  return emit(tx, EMIT_SESSION_QR, 'session.qr', [], [session], [])
}

const ANY_WEBHOOK_FOR = /* @__PURE__ */ each(
  `SELECT 1 AS x
  FROM webhooks w
 WHERE w.enabled = 1
   AND FIND_IN_SET(?, w.events) > 0
 LIMIT 1`,
  `SELECT 1 AS x
  FROM webhooks w
 WHERE w.enabled
   AND $1 = ANY(string_to_array(w.events, ','))
 LIMIT 1`,
)

/** Whether any enabled webhook subscribes to `type` (read in the caller's transaction). */
export async function anyWebhookFor(tx: Queryable, type: WebhookEvent): Promise<boolean> {
  return (await tx.query(ANY_WEBHOOK_FOR[tx.dialect], [type])).length > 0
}

/**
 * Bulk state changes (a STOP opting out every pending message of a phone, a deleted session failing its queue)
 * need one event per row. Inside the caller's transaction: when some webhook wants `type`, lock the rows
 * (`selectIds`), change each by primary key (`changeOne`, true when it matched) and emit its event; otherwise run the
 * one `bulk` statement as before. Read inside the transaction, so it is as current as the change itself. Rows that
 * appear after the select are left to the claim, which re-checks (and reports) them one by one.
 * Returns how many rows changed.
 */
export async function changeEachWithEvents(
  tx: Queryable,
  type: WebhookEvent,
  steps: { bulk: () => Promise<number>; selectIds: () => Promise<number[]>; changeOne: (id: number) => Promise<boolean> },
): Promise<number> {
  if (!(await anyWebhookFor(tx, type))) return steps.bulk()
  let n = 0
  for (const id of await steps.selectIds()) {
    if (!(await steps.changeOne(id))) continue
    n++
    await emitMessageEvent(tx, type, id)
  }
  return n
}
