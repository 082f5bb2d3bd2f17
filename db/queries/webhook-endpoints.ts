/**
 * Webhook endpoints: what the API and the dashboard create, list and delete. Secrets are written here and read only
 * by the runner's claim (webhook-claims.ts); nothing here returns one. The events these endpoints receive are written
 * by webhook-events.ts, and their delivery history is read through webhook-deliveries.ts.
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
  /** The API cancelled the message while it was pending (`POST /api/messages/:id/cancel`). */
  'message.cancelled',
  /** The message was taken back for everyone (its revoke was sent, `POST /api/messages/:id/revoke`). */
  'message.revoked',
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

export interface WebhookRecord {
  id: number
  url: string
  events: WebhookEvent[]
  /** Only events of this session (and session-less contact events are then not sent); null = all. */
  session: string | null
  enabled: boolean
  createdAt: Date
}

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
