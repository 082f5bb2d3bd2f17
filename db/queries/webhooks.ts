/**
 * Webhooks: the configured endpoints, the events the queue, the inbound handler and the session
 * supervisor write, and their delivery bookkeeping.
 *
 * **Events are rows written in the same transaction as the change they report.** Each `emit…` function is one
 * `INSERT INTO webhook_deliveries … SELECT … FROM webhooks JOIN <the changed row>`: one row per enabled webhook
 * whose `events` list names the type and whose session filter matches, with the event's data built by the database
 * from the row as the transaction now sees it. With no matching webhook it writes nothing, so the price on the
 * queue's hot paths is one cheap statement (an empty or tiny `webhooks` table), and nothing is cached outside the
 * transaction. A rolled-back change takes its events with it; a committed one cannot lose them.
 *
 * **Delivery** (runner/webhooks/, statements in db/queries/webhook-claims.ts): `claimDeliveries` takes due rows with `FOR UPDATE SKIP LOCKED` and marks them
 * `delivering` with a claim expiry in `next_attempt_at`, so a runner killed mid-call leaves a row that any runner
 * claims again once the expiry passes (at-least-once; `event_id` and `attempts` tell receivers and the fence which
 * attempt this is). `markDelivered` / `markFailed` are fenced by (`locked_by`, `attempts`). A failure goes back to
 * `pending` after a backoff, never later than the end of the retry window, and becomes `dead` once the window since
 * the first attempt is over. `replayDelivery` puts a dead row back.
 */
import type { Db, Queryable, Row } from '../driver.js'
import { toDate, toId } from '../driver.js'
import { each } from '../sql.js'

/** Every event type a webhook can subscribe to. */
export const WEBHOOK_EVENTS = [
  /** A message was written to WhatsApp (`finalizeSent`, or settled after a takeover). */
  'message.sent',
  /** WhatsApp reported it delivered to the phone (first receipt only). */
  'message.delivered',
  /** WhatsApp reported it read (first receipt only; a read implies delivered, reported first if it was not). */
  'message.read',
  /** The message ended `failed` (permanent error, attempts exhausted, negative ack, session deleted). */
  'message.failed',
  /** The message ended `opted_out` (the contact opted out while it was pending). */
  'message.opted_out',
  /** Someone wrote to one of the gateway's numbers. */
  'message.received',
  /** A contact opted out (STOP, or set to "no" by the API or the dashboard). */
  'contact.opted_out',
  /** A contact opted in (YES, a pending contact's first message, or set to "yes"). */
  'contact.opted_in',
  /** A session's status changed (online, offline, connecting), with the reason in `detail`. */
  'session.status',
  /** A session published a new QR code to scan. */
  'session.qr',
] as const
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number]

/** Delivery states (see the file comment). */
export const DELIVERY_STATES = ['pending', 'delivering', 'delivered', 'dead'] as const
export type DeliveryStatus = (typeof DELIVERY_STATES)[number]

export interface WebhookRecord {
  id: number
  url: string
  events: WebhookEvent[]
  /** Only events of this session (and session-less contact events are then not sent); null = all. */
  session: string | null
  enabled: boolean
  createdAt: Date
}

export interface DeliveryRecord {
  id: number
  webhookId: number
  eventId: string
  type: WebhookEvent
  /** The event's data, as JSON text. */
  payload: string
  status: DeliveryStatus
  attempts: number
  nextAttemptAt: Date
  firstAttemptAt: Date | null
  lastAttemptAt: Date | null
  lastStatus: number | null
  lastError: string | null
  createdAt: Date
  deliveredAt: Date | null
}

/** A claimed delivery with what the runner needs to make the call. `url`/`secret` are null if the webhook is gone. */
export interface ClaimedDelivery {
  id: number
  webhookId: number
  eventId: string
  type: WebhookEvent
  payload: string
  /** The attempt number of this claim (the fence of `markDelivered` / `markFailed`). */
  attempts: number
  createdAt: Date
  url: string | null
  secret: string | null
}

/**
 * Runs `fn` in a transaction of its own when given the pool, or inside the caller's transaction when given one:
 * the state-change functions that now also write events keep accepting either.
 */
export async function atomically<T>(db: Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const maybeDb = db as Queryable & Partial<Pick<Db, 'transaction'>>
  return typeof maybeDb.transaction === 'function' ? (maybeDb as Db).transaction(fn) : fn(db)
}

// ---------------------------------------------------------------------------------------------------------------
// Endpoints

function toWebhook(row: Row): WebhookRecord {
  return {
    id: toId(row.id),
    url: String(row.url),
    events: String(row.events).split(',').filter(Boolean) as WebhookEvent[],
    session: row.session === null || row.session === undefined ? null : String(row.session),
    enabled: row.enabled === true || Number(row.enabled) === 1,
    createdAt: toDate(row.created_at)!,
  }
}

const WEBHOOK_COLUMNS = 'id, url, events, session, enabled, created_at'

const INSERT_WEBHOOK = /* @__PURE__ */ each(
  `INSERT INTO webhooks (url, events, session, secret, created_at)
VALUES (?, ?, ?, ?, NOW(6))`,
  `INSERT INTO webhooks (url, events, session, secret, created_at)
VALUES ($1, $2, $3, $4, now())
RETURNING id`,
)

const GET_WEBHOOK = /* @__PURE__ */ each(
  `SELECT ${WEBHOOK_COLUMNS}
  FROM webhooks
 WHERE id = ?`,
  `SELECT ${WEBHOOK_COLUMNS}
  FROM webhooks
 WHERE id = $1`,
)

/**
 * Stores an endpoint. The caller has validated the URL (db/shared/url-guard.ts), the event names and the secret.
 * @example const hook = await createWebhook(db, { url, events: ['message.sent'], session: null, secret })
 */
export async function createWebhook(
  db: Queryable,
  input: { url: string; events: readonly WebhookEvent[]; session: string | null; secret: string },
): Promise<WebhookRecord> {
  const events = [...new Set(input.events)].join(',')
  const params = [input.url, events, input.session, input.secret]
  let id: number
  if (db.dialect === 'mysql') id = toId((await db.execute(INSERT_WEBHOOK.mysql, params)).insertId)
  else id = toId((await db.query(INSERT_WEBHOOK.postgres, params))[0]!.id)
  const [row] = await db.query(GET_WEBHOOK[db.dialect], [id])
  return toWebhook(row!)
}

/** One endpoint (never its secret), or null. */
export async function getWebhook(db: Queryable, id: number): Promise<WebhookRecord | null> {
  const [row] = await db.query(GET_WEBHOOK[db.dialect], [id])
  return row ? toWebhook(row) : null
}

const LIST_WEBHOOKS = /* @__PURE__ */ each(
  `SELECT ${WEBHOOK_COLUMNS}
  FROM webhooks
 ORDER BY id`,
  `SELECT ${WEBHOOK_COLUMNS}
  FROM webhooks
 ORDER BY id`,
)

/** Every endpoint, oldest first, without secrets. */
export async function listWebhooks(db: Queryable): Promise<WebhookRecord[]> {
  return (await db.query(LIST_WEBHOOKS[db.dialect])).map(toWebhook)
}

const COUNT_WEBHOOKS = /* @__PURE__ */ each(
  `SELECT COUNT(*) AS n
  FROM webhooks`,
  `SELECT COUNT(*) AS n
  FROM webhooks`,
)

export async function countWebhooks(db: Queryable): Promise<number> {
  const [row] = await db.query(COUNT_WEBHOOKS[db.dialect])
  return Number(row?.n ?? 0)
}

// The row every create locks first, so that creates run one at a time and each one's count sees the rows of the
// creates before it (READ COMMITTED: a statement after the wait reads what they committed). It is the row recording
// the migration that made the webhooks table: it exists wherever the table does, and nothing else locks or changes
// it, so the lock costs nothing to the queue's paths (a session row would make runners skip that session's lease).
const WEBHOOKS_MIGRATION = 4
const LOCK_WEBHOOK_CREATES = /* @__PURE__ */ each(
  `SELECT version
  FROM schema_migrations
 WHERE version = ?
   FOR UPDATE`,
  `SELECT version
  FROM schema_migrations
 WHERE version = $1
   FOR UPDATE`,
)

/**
 * Stores an endpoint unless `max` already exist, counting and inserting in one transaction under a lock that every
 * create takes, so concurrent creates cannot pass the limit together (a count outside it let 80 at once make 53).
 * @example const hook = await createWebhookWithinLimit(db, { url, events, session: null, secret }, 50)
 */
export async function createWebhookWithinLimit(
  db: Db,
  input: { url: string; events: readonly WebhookEvent[]; session: string | null; secret: string },
  max: number,
): Promise<WebhookRecord | 'limit_reached'> {
  return db.transaction(async (tx) => {
    const locked = await tx.query(LOCK_WEBHOOK_CREATES[tx.dialect], [WEBHOOKS_MIGRATION])
    if (locked.length === 0) throw new Error(`schema_migrations has no row for migration ${WEBHOOKS_MIGRATION}; run npm run migrate`)
    if ((await countWebhooks(tx)) >= max) return 'limit_reached'
    return createWebhook(tx, input)
  })
}

const DELETE_DELIVERIES_OF = /* @__PURE__ */ each(
  `DELETE FROM webhook_deliveries
 WHERE webhook_id = ?`,
  `DELETE FROM webhook_deliveries
 WHERE webhook_id = $1`,
)
const DELETE_WEBHOOK = /* @__PURE__ */ each(
  `DELETE FROM webhooks
 WHERE id = ?`,
  `DELETE FROM webhooks
 WHERE id = $1`,
)

/**
 * Removes an endpoint and its delivery history in one transaction; a call in flight finishes, and its outcome
 * matches no row. `false`: no such webhook.
 */
export async function deleteWebhook(db: Db, id: number): Promise<boolean> {
  return db.transaction(async (tx) => {
    const res = await tx.execute(DELETE_WEBHOOK[tx.dialect], [id])
    if (res.affectedRows === 0) return false
    await tx.execute(DELETE_DELIVERIES_OF[tx.dialect], [id])
    return true
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Events: INSERT … SELECT FROM webhooks, in the caller's transaction

/** `YYYY-MM-DD HH:MM:SS` UTC (the API's time format) from a stored timestamp; NULL stays NULL. */
const myTime = (col: string) => `DATE_FORMAT(${col}, '%Y-%m-%d %H:%i:%s')`
const pgTime = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')`

type Field = readonly [key: string, column: string, kind?: 'time' | 'param']

/** JSON_OBJECT / json_build_object over `fields`; `param` fields are bound (`?` / `$n` from `nextParam`). */
function jsonObject(dialect: 'mysql' | 'postgres', fields: readonly Field[], nextParam: () => string): string {
  const parts = fields.map(([key, col, kind]) => {
    const value = kind === 'time' ? (dialect === 'mysql' ? myTime(col) : pgTime(col)) : kind === 'param' ? nextParam() : col
    return `'${key}', ${value}`
  })
  return dialect === 'mysql' ? `JSON_OBJECT(${parts.join(', ')})` : `json_build_object(${parts.join(', ')})::text`
}

/**
 * One emit statement in both dialects. MySQL binds, in order: event id, type, the `param` fields, the `join`
 * parameters, the type again, then the `filter` parameters. Postgres binds event id ($1), type ($2), then the rest
 * in the same order without repeating the type.
 */
function emitStatement(spec: { fields: readonly Field[]; join: { mysql: string; postgres: (p: () => string) => string }; filter: { mysql: string; postgres: (p: () => string) => string } }) {
  const head = 'INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, next_attempt_at, created_at, updated_at)'
  const mysql = `${head}
SELECT w.id, ?, ?, ${jsonObject('mysql', spec.fields, () => '?')}, NOW(6), NOW(6), NOW(6)
  FROM webhooks w
  ${spec.join.mysql}
 WHERE w.enabled = 1
   AND FIND_IN_SET(?, w.events) > 0
   AND ${spec.filter.mysql}`
  let n = 2
  const p = () => `$${++n}`
  const json = jsonObject('postgres', spec.fields, () => `${p()}::text`)
  const join = spec.join.postgres(p)
  const filter = spec.filter.postgres(p)
  const postgres = `${head}
SELECT w.id, $1, $2, ${json}, now(), now(), now()
  FROM webhooks w
  ${join}
 WHERE w.enabled
   AND $2 = ANY(string_to_array(w.events, ','))
   AND ${filter}`
  return { mysql, postgres }
}

const MESSAGE_FIELDS: readonly Field[] = [
  ['message_id', 'm.id'], ['session', 'm.session'], ['phone', 'm.phone'], ['type', 'm.type'], ['status', 'm.status'],
  ['wa_message_id', 'm.wa_message_id'], ['attempts', 'm.attempts'], ['error', 'm.error'],
  ['created_at', 'm.created_at', 'time'], ['sent_at', 'm.sent_at', 'time'], ['delivered_at', 'm.delivered_at', 'time'],
  ['read_at', 'm.read_at', 'time'],
]

const EMIT_MESSAGE = emitStatement({
  fields: MESSAGE_FIELDS,
  join: { mysql: 'JOIN messages m ON m.id = ?', postgres: (p) => `JOIN messages m ON m.id = ${p()}` },
  filter: { mysql: '(w.session IS NULL OR w.session = m.session)', postgres: () => '(w.session IS NULL OR w.session = m.session)' },
})

const EMIT_INBOUND = emitStatement({
  fields: [
    ['session', 'i.session'], ['phone', 'i.phone'], ['sender', 'i.sender_jid'], ['body', 'i.body'],
    ['wa_message_id', 'i.wa_message_id'], ['action', 'i.action'], ['received_at', 'i.received_at', 'time'],
  ],
  join: {
    mysql: 'JOIN inbound_messages i ON i.session = ? AND i.wa_message_id = ?',
    postgres: (p) => `JOIN inbound_messages i ON i.session = ${p()} AND i.wa_message_id = ${p()}`,
  },
  filter: { mysql: '(w.session IS NULL OR w.session = i.session)', postgres: () => '(w.session IS NULL OR w.session = i.session)' },
})

const EMIT_CONTACT = emitStatement({
  fields: [
    ['phone', 'c.phone'], ['opt_in', 'c.opt_in'], ['opt_in_at', 'c.opt_in_at', 'time'], ['name', 'c.name'],
    ['session', '', 'param'], ['source', '', 'param'],
  ],
  join: { mysql: 'JOIN contacts c ON c.phone = ?', postgres: (p) => `JOIN contacts c ON c.phone = ${p()}` },
  filter: { mysql: '(w.session IS NULL OR w.session = ?)', postgres: (p) => `(w.session IS NULL OR w.session = ${p()}::text)` },
})

const EMIT_SESSION_STATUS = emitStatement({
  fields: [
    ['session', 's.name'], ['status', 's.status'], ['previous_status', '', 'param'], ['phone', 's.phone'],
    ['detail', 's.detail'], ['last_seen', 's.last_seen', 'time'],
  ],
  join: { mysql: 'JOIN sessions s ON s.name = ?', postgres: (p) => `JOIN sessions s ON s.name = ${p()}` },
  filter: { mysql: '(w.session IS NULL OR w.session = s.name)', postgres: () => '(w.session IS NULL OR w.session = s.name)' },
})

const EMIT_SESSION_QR = emitStatement({
  fields: [['session', 's.name'], ['status', 's.status'], ['qr', 's.qr'], ['qr_code', 's.qr_code']],
  join: { mysql: 'JOIN sessions s ON s.name = ?', postgres: (p) => `JOIN sessions s ON s.name = ${p()}` },
  filter: { mysql: '(w.session IS NULL OR w.session = s.name)', postgres: () => '(w.session IS NULL OR w.session = s.name)' },
})

// Receipts and negative acks know the WhatsApp id, not the row id (uq_messages_wa_id).
const EMIT_MESSAGE_BY_WA_ID = emitStatement({
  fields: MESSAGE_FIELDS,
  join: { mysql: 'JOIN messages m ON m.wa_message_id = ?', postgres: (p) => `JOIN messages m ON m.wa_message_id = ${p()}` },
  filter: { mysql: '(w.session IS NULL OR w.session = m.session)', postgres: () => '(w.session IS NULL OR w.session = m.session)' },
})

/** The SQL of the message emit, for the EXPLAIN and cost tests. */
export const EMIT_MESSAGE_SQL = EMIT_MESSAGE

const newEventId = () => globalThis.crypto.randomUUID()

async function emit(tx: Queryable, stmt: { mysql: string; postgres: string }, type: WebhookEvent, fieldParams: unknown[], joinParams: unknown[], filterParams: unknown[]): Promise<number> {
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
  if ((await tx.query(ANY_WEBHOOK_FOR[tx.dialect], [type])).length === 0) return steps.bulk()
  let n = 0
  for (const id of await steps.selectIds()) {
    if (!(await steps.changeOne(id))) continue
    n++
    await emitMessageEvent(tx, type, id)
  }
  return n
}

// ---------------------------------------------------------------------------------------------------------------
// Delivery

function toDelivery(row: Row): DeliveryRecord {
  return {
    id: toId(row.id),
    webhookId: toId(row.webhook_id),
    eventId: String(row.event_id),
    type: String(row.type) as WebhookEvent,
    payload: String(row.payload),
    status: String(row.status) as DeliveryStatus,
    attempts: Number(row.attempts),
    nextAttemptAt: toDate(row.next_attempt_at)!,
    firstAttemptAt: toDate(row.first_attempt_at),
    lastAttemptAt: toDate(row.last_attempt_at),
    lastStatus: row.last_status === null || row.last_status === undefined ? null : Number(row.last_status),
    lastError: row.last_error === null || row.last_error === undefined ? null : String(row.last_error),
    createdAt: toDate(row.created_at)!,
    deliveredAt: toDate(row.delivered_at),
  }
}

const DELIVERY_COLUMNS = `id, webhook_id, event_id, type, payload, status, attempts, next_attempt_at, first_attempt_at,
       last_attempt_at, last_status, last_error, created_at, delivered_at`

const REPLAY = /* @__PURE__ */ each(
  `UPDATE webhook_deliveries
   SET status = 'pending',
       attempts = 0,
       first_attempt_at = NULL,
       next_attempt_at = NOW(6),
       locked_by = NULL,
       updated_at = NOW(6)
 WHERE id = ?
   AND status = 'dead'`,
  `UPDATE webhook_deliveries
   SET status = 'pending',
       attempts = 0,
       first_attempt_at = NULL,
       next_attempt_at = now(),
       locked_by = NULL,
       updated_at = now()
 WHERE id = $1
   AND status = 'dead'`,
)

const GET_DELIVERY = /* @__PURE__ */ each(
  `SELECT ${DELIVERY_COLUMNS}
  FROM webhook_deliveries
 WHERE id = ?`,
  `SELECT ${DELIVERY_COLUMNS}
  FROM webhook_deliveries
 WHERE id = $1`,
)

/** One delivery, or null. */
export async function getDelivery(db: Queryable, id: number): Promise<DeliveryRecord | null> {
  const [row] = await db.query(GET_DELIVERY[db.dialect], [id])
  return row ? toDelivery(row) : null
}

/**
 * Puts a `dead` delivery back in line: `pending`, due now, a fresh retry window; the event id stays, so a receiver
 * that did get it after all can drop the copy.
 */
export async function replayDelivery(db: Queryable, id: number): Promise<'ok' | 'not_found' | 'wrong_status'> {
  const res = await db.execute(REPLAY[db.dialect], [id])
  if (res.affectedRows > 0) return 'ok'
  return (await getDelivery(db, id)) ? 'wrong_status' : 'not_found'
}

export interface DeliveryFilter {
  webhookId?: number
  status?: DeliveryStatus
  /** Keyset cursor: ids below this one (newest first). */
  beforeId?: number
  limit: number
}

/** Deliveries newest first, keyset-paginated on `id` like the message log. */
export async function listDeliveries(db: Queryable, filter: DeliveryFilter): Promise<DeliveryRecord[]> {
  const where: string[] = []
  const params: unknown[] = []
  const add = (column: string, op: string, value: unknown) => {
    params.push(value)
    where.push(`${column} ${op} ${db.dialect === 'mysql' ? '?' : `$${params.length}`}`)
  }
  if (filter.webhookId !== undefined) add('webhook_id', '=', filter.webhookId)
  if (filter.status) add('status', '=', filter.status)
  if (filter.beforeId !== undefined) add('id', '<', filter.beforeId)
  params.push(filter.limit)
  const sql = `SELECT ${DELIVERY_COLUMNS}
  FROM webhook_deliveries
${where.length ? ` WHERE ${where.join('\n   AND ')}\n` : ''} ORDER BY id DESC
 LIMIT ${db.dialect === 'mysql' ? '?' : `$${params.length}`}`
  return (await db.query(sql, params)).map(toDelivery)
}

const COUNT_DELIVERIES = /* @__PURE__ */ each(
  `SELECT status, COUNT(*) AS n
  FROM webhook_deliveries
 GROUP BY status`,
  `SELECT status, COUNT(*) AS n
  FROM webhook_deliveries
 GROUP BY status`,
)

/** Deliveries per status (every status present). */
export async function countDeliveriesByStatus(db: Queryable): Promise<Record<DeliveryStatus, number>> {
  const out = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryStatus, number>
  for (const row of await db.query(COUNT_DELIVERIES[db.dialect])) out[row.status as DeliveryStatus] = Number(row.n)
  return out
}
