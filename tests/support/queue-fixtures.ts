/**
 * Row builders and readers for the queue, lease and cron tests. They write rows directly (not through the API's
 * enqueue) so the queue tests depend only on the schema, and they move stored times with the database's own clock
 * (`NOW(6) ± …` / `now() ± …`), never Node's.
 */
import { parseDetails } from '../../db/queries/messages.js'
import type { Db, Queryable, Row } from '../../db/driver.js'
import { toDate, toId, toIdOrNull } from '../../db/driver.js'
import { acquireSessionLeases } from '../../db/queries/leases.js'
import { toSession } from '../../db/queries/sessions.js'
import type { MessageRecord, SessionRecord } from '../../db/types.js'

/** The `n`-th placeholder in the db's dialect. */
export function ph(db: Queryable, n: number): string {
  return db.dialect === 'mysql' ? '?' : `$${n}`
}

/** Picks the text for the db's dialect. */
export function dialectSql(db: Queryable, mysql: string, postgres: string): string {
  return db.dialect === 'mysql' ? mysql : postgres
}

/** An SQL expression for "now plus `ms` milliseconds" (negative for the past), a constant from test code. */
export function nowPlusMs(db: Queryable, ms: number): string {
  const n = Math.round(ms)
  return db.dialect === 'mysql' ? `(NOW(6) + INTERVAL ${n * 1000} MICROSECOND)` : `(now() + ${n} * interval '1 millisecond')`
}

let seq = 0
/** A unique name for this test file's process. */
export function uniqueName(prefix: string): string {
  seq += 1
  return `${prefix}_${process.pid % 10000}_${seq}`
}

export async function insertSession(db: Queryable, name: string): Promise<void> {
  await db.execute(`INSERT INTO sessions (name) VALUES (${ph(db, 1)})`, [name])
}

export async function insertSessions(db: Queryable, names: string[]): Promise<void> {
  if (names.length === 0) return
  const values = names.map((_, i) => `(${ph(db, i + 1)})`).join(', ')
  await db.execute(`INSERT INTO sessions (name) VALUES ${values}`, names)
}

export interface MessageSeed {
  session: string
  phone?: string
  type?: 'text' | 'image'
  body?: string | null
  mediaId?: number | null
  waMessageId?: string | null
  /** available_at = now + this (default 0; negative = due in the past). */
  availableInMs?: number
}

/** Inserts pending messages in multi-row statements; returns their ids in insertion order. */
export async function insertMessages(db: Queryable, seeds: MessageSeed[]): Promise<number[]> {
  const ids: number[] = []
  const chunk = 500
  for (let start = 0; start < seeds.length; start += chunk) {
    const part = seeds.slice(start, start + chunk)
    const params: unknown[] = []
    const rows = part.map((s) => {
      const base = params.length
      params.push(s.session, s.phone ?? '96170000001', s.type ?? 'text', s.body === undefined ? 'hello' : s.body, s.mediaId ?? null, s.waMessageId ?? null)
      const at = nowPlusMs(db, s.availableInMs ?? 0)
      const p = (k: number) => ph(db, base + k)
      return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${at}, ${dialectSql(db, 'NOW(6)', 'now()')}, ${dialectSql(db, 'NOW(6)', 'now()')})`
    })
    const text = `INSERT INTO messages (session, phone, type, body, media_id, wa_message_id, available_at, created_at, updated_at) VALUES ${rows.join(', ')}`
    if (db.dialect === 'mysql') {
      // One multi-row INSERT gets consecutive AUTO_INCREMENT ids (innodb_autoinc_lock_mode 1 or 2 without interleaving
      // inside one statement for "simple inserts").
      const res = await db.execute(text, params)
      for (let i = 0; i < part.length; i++) ids.push(res.insertId! + i)
    } else {
      const out = await db.query<{ id: unknown }>(`${text} RETURNING id`, params)
      for (const r of out) ids.push(toId(r.id))
    }
  }
  return ids
}

export async function insertMessage(db: Queryable, seed: MessageSeed): Promise<number> {
  const [id] = await insertMessages(db, [seed])
  return id!
}

/** Sets contacts.opt_in for a phone (creating the contact). */
export async function setOptIn(db: Queryable, phone: string, optIn: 'pending' | 'yes' | 'no'): Promise<void> {
  const text = dialectSql(
    db,
    'INSERT INTO contacts (phone, opt_in) VALUES (?, ?) ON DUPLICATE KEY UPDATE opt_in = VALUES(opt_in)',
    'INSERT INTO contacts (phone, opt_in) VALUES ($1, $2) ON CONFLICT (phone) DO UPDATE SET opt_in = EXCLUDED.opt_in',
  )
  await db.execute(text, [phone, optIn])
}

/** Sets a timestamp column of rows matched by `where` (constant SQL from test code) to now + `ms`. */
export async function setTime(db: Queryable, table: string, column: string, ms: number, where: string, params: unknown[] = []): Promise<number> {
  const res = await db.execute(`UPDATE ${table} SET ${column} = ${nowPlusMs(db, ms)} WHERE ${where}`, params)
  return res.affectedRows
}

/** Simulates a lease running out, as the database clock would see it `agoMs` after expiry. */
export async function expireLease(db: Queryable, name: string, agoMs = 1000): Promise<void> {
  await setTime(db, 'sessions', 'lease_until', -agoMs, `name = ${ph(db, 1)}`, [name])
}

function str(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v)
}

export function rowToMessage(r: Row): MessageRecord {
  return {
    id: toId(r.id),
    session: String(r.session),
    phone: String(r.phone),
    type: r.type as MessageRecord['type'],
    body: str(r.body),
    mediaId: toIdOrNull(r.media_id),
    status: r.status as MessageRecord['status'],
    attempts: Number(r.attempts),
    availableAt: toDate(r.available_at)!,
    waMessageId: str(r.wa_message_id),
    claimedBy: str(r.claimed_by),
    claimEpoch: r.claim_epoch === null ? null : Number(r.claim_epoch),
    claimedAt: toDate(r.claimed_at),
    sentAt: toDate(r.sent_at),
    deliveredAt: toDate(r.delivered_at),
    readAt: toDate(r.read_at),
    error: str(r.error),
    hold: (str(r.hold) as MessageRecord['hold']) ?? null,
    details: parseDetails(r.details),
    replyTo: toIdOrNull(r.reply_to),
    targetId: toIdOrNull(r.target_id),
    revokedAt: toDate(r.revoked_at),
    idempotencyKey: str(r.idempotency_key),
    sendAt: toDate(r.send_at),
    createdAt: toDate(r.created_at)!,
    updatedAt: toDate(r.updated_at)!,
  }
}

export async function getMessage(db: Queryable, id: number): Promise<MessageRecord> {
  const [row] = await db.query(`SELECT * FROM messages WHERE id = ${ph(db, 1)}`, [id])
  if (!row) throw new Error(`no message ${id}`)
  return rowToMessage(row)
}

export async function getMessages(db: Queryable, session: string): Promise<MessageRecord[]> {
  const rows = await db.query(`SELECT * FROM messages WHERE session = ${ph(db, 1)} ORDER BY id`, [session])
  return rows.map(rowToMessage)
}

export async function getSession(db: Queryable, name: string): Promise<SessionRecord | null> {
  const [r] = await db.query(`SELECT * FROM sessions WHERE name = ${ph(db, 1)}`, [name])
  return r ? toSession(r) : null
}

/** The database's clock. */
export async function dbNow(db: Queryable): Promise<Date> {
  const [r] = await db.query<{ t: unknown }>(dialectSql(db, 'SELECT NOW(6) AS t', 'SELECT clock_timestamp() AS t'))
  return toDate(r!.t)!
}

/** Milliseconds between two Dates read from the database (microseconds are lost: Date has ms precision). */
export function msBetween(a: Date, b: Date): number {
  return b.getTime() - a.getTime()
}

/** A fake WhatsApp id in Baileys' shape (`3EB0` + 18 hex), unique per call. */
let waSeq = 0
export function fakeWaId(): string {
  waSeq += 1
  return `3EB0${(process.pid % 0xffff).toString(16).padStart(4, '0')}${waSeq.toString(16).padStart(14, '0')}`.toUpperCase()
}

/** Polls `check` until it returns true (no fixed sleeps in tests), or fails after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/**
 * Takes exactly `name` for `owner` through the real acquire: every other acquirable session is parked under a far
 * lease for the duration of the call. Returns the new epoch.
 */
export async function leaseOnly(db: Db, name: string, owner: string, minGapMs = 0, ttlSeconds = 30): Promise<number> {
  const far = db.dialect === 'mysql' ? "'2999-01-01 00:00:00'" : "'2999-01-01 00:00:00+00'"
  const now = db.dialect === 'mysql' ? 'NOW(6)' : 'now()'
  await db.execute(`UPDATE sessions SET owner = 'parked', lease_until = ${far} WHERE name <> ${ph(db, 1)} AND lease_until < ${now}`, [name])
  try {
    const got = await acquireSessionLeases(db, { owner, ttlSeconds, max: 2, minGapMs })
    if (got.length !== 1 || got[0]!.name !== name) throw new Error(`expected to acquire ${name}, got ${JSON.stringify(got)}`)
    return got[0]!.leaseEpoch
  } finally {
    await db.execute(`UPDATE sessions SET owner = NULL, lease_until = '1970-01-01 00:00:00' WHERE owner = 'parked'`)
  }
}

/** A new session leased to `owner`, with its fence. */
export async function ownedSession(db: Db, owner: string, minGapMs = 0): Promise<{ name: string; owner: string; epoch: number }> {
  const name = uniqueName('s')
  await insertSession(db, name)
  return { name, owner, epoch: await leaseOnly(db, name, owner, minGapMs) }
}
