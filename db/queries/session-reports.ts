/**
 * What a lease holder reports about its session (status, QR, `last_seen`, with their webhook events) and the commands
 * from the API it takes (reconnect, delete). Every write is fenced by the lease (db/README.md, Leases and fencing).
 */
import type { Queryable, Row } from '../driver.js'
import { toDate } from '../driver.js'
import { each } from '../sql.js'
import { SESSION_STATES, type SessionRecord, type SessionStatus } from '../types.js'
import type { LeaseFence } from './leases.js'
import { atomically, emitSessionQr, emitSessionStatus } from './webhook-events.js'

/** An owned session with a command from the API waiting (commands are row changes: runner/README.md). */
export type SessionCommand = Pick<SessionRecord, 'name' | 'leaseEpoch' | 'reconnectRequestedAt' | 'deleteRequestedAt'> & {
  /** The API changed the session's proxy (db/queries/proxy.ts): reconnect through the new one. */
  proxyChanged: boolean
}

/** Maps a row of `findSessionRequests` to its command fields. */
function toSessionCommand(row: Row): SessionCommand {
  return {
    name: String(row.name),
    leaseEpoch: Number(row.lease_epoch),
    reconnectRequestedAt: toDate(row.reconnect_requested_at),
    deleteRequestedAt: toDate(row.delete_requested_at),
    proxyChanged: row.proxy_changed_at !== null && row.proxy_changed_at !== undefined,
  }
}


// `last_seen` follows the reported status. The status parameter is reused for the CASE rather than reading the
// column: MySQL would see the new value and Postgres the old one (db/README.md, The two dialects).
const REPORT_SESSION_STATE = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET status = ?,
       phone = COALESCE(?, phone),
       qr_code = ?,
       qr = ?,
       detail = ?,
       last_seen = CASE WHEN ? = 'online' THEN NOW(6) ELSE last_seen END,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET status = $1,
       phone = COALESCE($2, phone),
       qr_code = $3,
       qr = $4,
       detail = $5,
       last_seen = CASE WHEN $1 = 'online' THEN now() ELSE last_seen END,
       updated_at = now()
 WHERE name = $6
   AND owner = $7
   AND lease_epoch = $8`,
)

export interface ReportSessionStateParams extends LeaseFence {
  status: SessionStatus
  /** The paired number; omitted or null keeps the stored one. */
  phone?: string | null
  /** PNG data URL of the pairing QR while waiting for a scan; anything else clears it. */
  qrCode?: string | null
  /** The raw QR string (same lifetime as `qrCode`). */
  qr?: string | null
  /** Why the session is offline (logged_out, restricted, conflict, outdated…); omitted clears it. */
  detail?: string | null
}

// Read under the lease before the report, so the events below describe real transitions.
const LOCK_SESSION_STATE = /* @__PURE__ */ each(
  `SELECT status, qr
  FROM sessions FORCE INDEX (PRIMARY)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   FOR UPDATE`,
  `SELECT status, qr
  FROM sessions
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   FOR UPDATE`,
)

/**
 * Writes what the socket reports: status, phone, QR, detail; `online` also stamps `last_seen`.
 * The QR fields and `detail` describe the current state only, so they are replaced (omitted = NULL);
 * `phone` is kept unless given. In the same transaction, a changed status writes `session.status` and a new QR
 * `session.qr` (db/queries/webhook-events.ts). `false`: the lease is gone and nothing was written.
 * @example await reportSessionState(db, { name, owner, epoch, status: 'connecting', qrCode, qr })
 */
export async function reportSessionState(db: Queryable, params: ReportSessionStateParams): Promise<boolean> {
  if (!(SESSION_STATES as readonly string[]).includes(params.status)) {
    throw new RangeError(`unknown session status: ${String(params.status)}`)
  }
  const values = [params.phone ?? null, params.qrCode ?? null, params.qr ?? null, params.detail ?? null]
  const args =
    db.dialect === 'mysql'
      ? [params.status, ...values, params.status, params.name, params.owner, params.epoch]
      : [params.status, ...values, params.name, params.owner, params.epoch]
  return atomically(db, async (tx) => {
    const [before] = await tx.query(LOCK_SESSION_STATE[tx.dialect], [params.name, params.owner, params.epoch])
    if (!before) return false
    const res = await tx.execute(REPORT_SESSION_STATE[tx.dialect], args)
    if (res.affectedRows === 0) return false
    if (before.status !== params.status) await emitSessionStatus(tx, params.name, String(before.status))
    if (params.qr && params.qr !== before.qr) await emitSessionQr(tx, params.name)
    return true
  })
}

// Clearing is the runner's claim on the command: it clears first and reconnects only when a row matched, so a
// request the API writes after this statement stays set and is seen on the next poll (none is lost, none runs twice).
const CLEAR_RECONNECT_REQUEST = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET reconnect_requested_at = NULL,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND reconnect_requested_at IS NOT NULL`,
  `UPDATE sessions
   SET reconnect_requested_at = NULL,
       updated_at = now()
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   AND reconnect_requested_at IS NOT NULL`,
)

/**
 * Takes a reconnect command (QR regeneration) of an owned session. Call it before reconnecting:
 * `true` means a request was pending and is now this runner's to carry out.
 */
export async function clearReconnectRequest(db: Queryable, fence: LeaseFence): Promise<boolean> {
  const res = await db.execute(CLEAR_RECONNECT_REQUEST[db.dialect], [fence.name, fence.owner, fence.epoch])
  return res.affectedRows > 0
}

// Every request the API can leave on a session row, in one statement per poll of each runner, through an index that
// holds only the rows with a request waiting (migration 0017; db/README.md, How many sessions): an idle runner reads
// no session rows here, however many it holds. MySQL looks the generated request_owner up (the owner while a request
// waits, else NULL); PostgreSQL repeats the partial index's predicate word for word so the planner can use it.
const FIND_SESSION_REQUESTS = /* @__PURE__ */ each(
  `SELECT name, lease_epoch, reconnect_requested_at, delete_requested_at, proxy_changed_at,
       pairing_phone, pairing_code, pairing_error, groups_refresh_requested_at
  FROM sessions FORCE INDEX (idx_sessions_requests)
 WHERE request_owner = ?
   AND lease_until > NOW(6)`,
  `SELECT name, lease_epoch, reconnect_requested_at, delete_requested_at, proxy_changed_at,
       pairing_phone, pairing_code, pairing_error, groups_refresh_requested_at
  FROM sessions
 WHERE owner = $1
   AND lease_until > now()
   AND (reconnect_requested_at IS NOT NULL
     OR delete_requested_at IS NOT NULL
     OR proxy_changed_at IS NOT NULL
     OR pairing_phone IS NOT NULL
     OR groups_refresh_requested_at IS NOT NULL)`,
)

/** The SQL of `findSessionRequests`, for the EXPLAIN tests. */
export const FIND_SESSION_REQUESTS_SQL = FIND_SESSION_REQUESTS

/** What the API asked of the sessions one runner holds, found by one statement (`findSessionRequests`). */
export interface SessionRequests {
  /** Reconnect (regenerate-qr), delete, proxy change. */
  commands: SessionCommand[]
  /** Unanswered pairing-code requests (db/queries/pairing.ts). */
  pairing: { name: string; leaseEpoch: number; phone: string }[]
  /** Group list refreshes (db/queries/groups.ts). */
  groupRefresh: string[]
}

/**
 * Every request waiting on the sessions `owner` holds (polled every ~1 s): reconnect, delete and proxy commands,
 * unanswered pairing-code requests, group refreshes. One statement that reads only the rows with a request.
 */
export async function findSessionRequests(db: Queryable, owner: string): Promise<SessionRequests> {
  const out: SessionRequests = { commands: [], pairing: [], groupRefresh: [] }
  for (const row of await db.query(FIND_SESSION_REQUESTS[db.dialect], [owner])) {
    const c = toSessionCommand(row)
    if (c.reconnectRequestedAt || c.deleteRequestedAt || c.proxyChanged) out.commands.push(c)
    if (row.pairing_phone != null && row.pairing_code == null && row.pairing_error == null) {
      out.pairing.push({ name: c.name, leaseEpoch: c.leaseEpoch, phone: String(row.pairing_phone) })
    }
    if (row.groups_refresh_requested_at != null) out.groupRefresh.push(c.name)
  }
  return out
}


