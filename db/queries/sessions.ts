import { toDate, type Queryable, type Row } from '../driver.js'
import { same } from '../sql.js'
import type { SessionRecord, SessionStatus } from '../types.js'

const COLUMNS = `name, status, phone, last_seen, qr_code, qr, detail, owner, lease_epoch, lease_until, next_send_at,
       paused_until, reconnect_requested_at, delete_requested_at, created_at, updated_at`

/** Maps a `sessions` row to the domain object. */
export function toSession(row: Row): SessionRecord {
  return {
    name: String(row.name),
    status: row.status as SessionStatus,
    phone: (row.phone as string | null) ?? null,
    lastSeen: toDate(row.last_seen),
    qrCode: (row.qr_code as string | null) ?? null,
    qr: (row.qr as string | null) ?? null,
    detail: (row.detail as string | null) ?? null,
    owner: (row.owner as string | null) ?? null,
    leaseEpoch: Number(row.lease_epoch),
    leaseUntil: toDate(row.lease_until)!,
    nextSendAt: toDate(row.next_send_at)!,
    pausedUntil: toDate(row.paused_until),
    reconnectRequestedAt: toDate(row.reconnect_requested_at),
    deleteRequestedAt: toDate(row.delete_requested_at),
    createdAt: toDate(row.created_at)!,
    updatedAt: toDate(row.updated_at)!,
  }
}

const LIST = same(`SELECT ${COLUMNS}
  FROM sessions
 WHERE delete_requested_at IS NULL
 ORDER BY CASE WHEN name = 'default' THEN 0 ELSE 1 END, name`)

/**
 * Every live session, `default` first, then by name. Sessions whose deletion is pending are left out:
 * to clients they are already gone.
 * @example const all = await listSessions(db)
 */
export async function listSessions(db: Queryable): Promise<SessionRecord[]> {
  return (await db.query(LIST[db.dialect])).map(toSession)
}

const GET = same(`SELECT ${COLUMNS}
  FROM sessions
 WHERE name = ?`)

/** One session by name (including one being deleted: check `deleteRequestedAt`), or null. */
export async function getSession(db: Queryable, name: string): Promise<SessionRecord | null> {
  const [row] = await db.query(GET[db.dialect], [name])
  return row ? toSession(row) : null
}

const INSERT = same(`INSERT INTO sessions (name, status, detail, created_at, updated_at)
VALUES (?, 'connecting', 'waiting for a runner', NOW(6), NOW(6))`)

export type CreateSessionResult = 'created' | 'exists' | 'deleting'

/**
 * Creates a session row; a runner with spare capacity picks it up, connects and writes its QR.
 * Status starts as `connecting` (detail: waiting for a runner) until a runner takes the lease.
 */
export async function createSession(db: Queryable, name: string): Promise<CreateSessionResult> {
  try {
    await db.execute(INSERT[db.dialect], [name])
    return 'created'
  } catch (err) {
    if ((err as Error).name !== 'UniqueViolationError') throw err
    const existing = await getSession(db, name)
    return existing?.deleteRequestedAt ? 'deleting' : 'exists'
  }
}

export type SessionCommandResult = 'ok' | 'not_found' | 'deleting'

const REQUEST_DELETE = same(`UPDATE sessions
   SET delete_requested_at = NOW(6), updated_at = NOW(6)
 WHERE name = ?
   AND name <> 'default'
   AND delete_requested_at IS NULL`)

/**
 * Marks a session for deletion; its lease holder logs the number out, wipes its auth state and
 * removes the row. An unowned session is removed by the next runner that sees the request.
 * `default` is refused in SQL as well as in the API.
 */
export async function requestSessionDelete(db: Queryable, name: string): Promise<SessionCommandResult> {
  const res = await db.execute(REQUEST_DELETE[db.dialect], [name])
  if (res.affectedRows === 1) return 'ok'
  const existing = await getSession(db, name)
  return existing ? 'deleting' : 'not_found'
}

const REQUEST_RECONNECT = same(`UPDATE sessions
   SET reconnect_requested_at = NOW(6), updated_at = NOW(6)
 WHERE name = ?
   AND delete_requested_at IS NULL`)

/** Asks the lease holder to log the number out, wipe its auth state and show a fresh QR. */
export async function requestReconnect(db: Queryable, name: string): Promise<SessionCommandResult> {
  const res = await db.execute(REQUEST_RECONNECT[db.dialect], [name])
  if (res.affectedRows === 1) return 'ok'
  const existing = await getSession(db, name)
  return existing ? 'deleting' : 'not_found'
}
