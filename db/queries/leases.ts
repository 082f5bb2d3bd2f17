/**
 * Session leases (db/README.md; the runner rows that own them are runners.ts). Every runner write to its own
 * `sessions` rows is fenced by the lease: what the socket reports and the API's commands are session-reports.ts, the
 * sending state is send-slot.ts.
 *
 * A lease is `owner` + `lease_until`, fenced by `lease_epoch`, which grows on every acquire. Every runner write
 * to `sessions` carries `owner = ? AND lease_epoch = ?` in its WHERE clause, so a runner that lost its lease
 * (expired, taken over, swept) changes nothing: the call returns `false` and the runner fences itself.
 * Times are the database's (`NOW(6)` / `now()`); durations cross the boundary as seconds or milliseconds.
 * On MySQL/MariaDB, writes keyed by primary key carry `FORCE INDEX (PRIMARY)` (db/README.md, Index hints: lock order).
 */
import type { Db, Queryable, Row } from '../driver.js'
import { each } from '../sql.js'
import type { SessionRecord } from '../types.js'

/** A session this runner holds, with the fencing token to put on every write. */
export type SessionLease = Pick<SessionRecord, 'name' | 'leaseEpoch'>

/** The fence every runner write to `sessions` carries (db/README.md, Leases and fencing). */
export interface LeaseFence {
  /** Session name. */
  name: string
  /** This runner's id (`runners.id`). */
  owner: string
  /** `lease_epoch` returned by acquire or renew. */
  epoch: number
}

/**
 * A fenced write found its session no longer held under the owner and epoch it carried: another runner acquired the
 * lease (which bumps the epoch), or the session was deleted. Nothing was written. Not a transient error: epochs only
 * grow, so the same write can never pass again, and retrying it is pointless. The writer must fence itself.
 */
export class LeaseLostError extends Error {
  constructor(readonly session: string, readonly owner: string, readonly epoch: number, what: string) {
    super(
      `${what} refused: session ${session} is no longer held by runner ${owner} under lease epoch ${epoch} ` +
        '(another runner took the lease, or the session was deleted); nothing was written',
    )
    this.name = 'LeaseLostError'
  }
}

/** Whole milliseconds for interval arithmetic (MySQL `INTERVAL ? * 1000 MICROSECOND` wants no fraction). */
function wholeMs(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`duration must be a non-negative number of ms, got ${ms}`)
  return Math.round(ms)
}

function wholeSeconds(s: number): number {
  if (!Number.isInteger(s) || s <= 0) throw new RangeError(`duration must be a positive whole number of seconds, got ${s}`)
  return s
}

/** Maps a `{name, lease_epoch}` row. */
export function toSessionLease(row: Row): SessionLease {
  return { name: String(row.name), leaseEpoch: Number(row.lease_epoch) }
}

// ---------------------------------------------------------------------------------------------------------------
// Acquire, renew, release

const SELECT_ACQUIRABLE = /* @__PURE__ */ each(
  `SELECT name
  FROM sessions
 WHERE lease_until < NOW(6)
 ORDER BY lease_until, name
 LIMIT ?
   FOR UPDATE SKIP LOCKED`,
  `SELECT name
  FROM sessions
 WHERE lease_until < now()
 ORDER BY lease_until, name
 LIMIT $1
   FOR UPDATE SKIP LOCKED`,
)

// MySQL has no UPDATE … RETURNING: the rows are locked by the select above, so update by name, then read back.
// Postgres updates and returns in one statement. Both re-check `lease_until < now` in WHERE (never trust the select
// alone), and both push next_send_at so the new owner's first send keeps the gap from the old owner's last one
// (db/README.md, Claim and throttle).
/** The SQL of the acquire's locking select, for the EXPLAIN tests. */
export const SELECT_ACQUIRABLE_SQL = SELECT_ACQUIRABLE

const TAKE_LEASES = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET owner = ?,
       lease_epoch = lease_epoch + 1,
       lease_until = NOW(6) + INTERVAL ? SECOND,
       next_send_at = GREATEST(next_send_at, NOW(6) + INTERVAL ? * 1000 MICROSECOND),
       status = 'connecting',
       updated_at = NOW(6)
 WHERE name IN (?)
   AND lease_until < NOW(6)`,
  `UPDATE sessions
   SET owner = $2,
       lease_epoch = lease_epoch + 1,
       lease_until = now() + $3 * interval '1 second',
       next_send_at = GREATEST(next_send_at, now() + $4 * interval '1 millisecond'),
       status = 'connecting',
       updated_at = now()
 WHERE name = ANY($1)
   AND lease_until < now()
RETURNING name, lease_epoch`,
)

// MySQL only: the read-back after TAKE_LEASES (no RETURNING).
const READ_TAKEN_LEASES_MYSQL = `SELECT name, lease_epoch
  FROM sessions
 WHERE name IN (?)
   AND owner = ?`

export interface AcquireSessionLeasesParams {
  /** This runner's id. */
  owner: string
  /** Lease length (30 s by default). */
  ttlSeconds: number
  /** How many sessions to take this tick: no more than the runner's spare capacity (and 50 per poll). */
  max: number
  /** The throttle minimum; the first send under the new lease is at least this far from now. */
  minGapMs: number
}

/**
 * Takes up to `max` free or expired sessions in one transaction (db/README.md): `FOR UPDATE SKIP LOCKED` so
 * competing runners never wait on or take the same row, `lease_epoch + 1` as the new fencing token,
 * `status = 'connecting'`, and `next_send_at` pushed to at least now + `minGapMs`.
 * Returns the sessions taken with their new epochs (possibly none).
 * @example const taken = await acquireSessionLeases(db, { owner: runnerId, ttlSeconds: 30, max: 2, minGapMs: 8000 })
 */
export async function acquireSessionLeases(db: Db, params: AcquireSessionLeasesParams): Promise<SessionLease[]> {
  const { owner } = params
  const ttl = wholeSeconds(params.ttlSeconds)
  const gap = wholeMs(params.minGapMs)
  if (!Number.isInteger(params.max) || params.max < 0) throw new RangeError(`max must be a whole number ≥ 0, got ${params.max}`)
  if (params.max === 0) return []
  return db.transaction(async (tx) => {
    const free = await tx.query<{ name: string }>(SELECT_ACQUIRABLE[tx.dialect], [params.max])
    const names = free.map((r) => String(r.name))
    if (names.length === 0) return []
    if (tx.capabilities.updateReturning) {
      const rows = await tx.query(TAKE_LEASES.postgres, [names, owner, ttl, gap])
      return rows.map(toSessionLease)
    }
    await tx.execute(TAKE_LEASES.mysql, [owner, ttl, gap, names])
    const rows = await tx.query(READ_TAKEN_LEASES_MYSQL, [names, owner])
    return rows.map(toSessionLease)
  })
}

// Renewal never revives an expired lease (`lease_until > now`): re-acquiring bumps the epoch, which forces
// reconciliation (db/README.md, Crash windows). It is also the heartbeat of every online session's `last_seen`, so a
// runner's idle writes are this one statement per renewal period, whatever it holds (db/README.md, How many
// sessions); `status` is not assigned here, so both engines read the same value in the CASE.
const RENEW_LEASES = /* @__PURE__ */ each(
  `UPDATE sessions
   SET lease_until = NOW(6) + INTERVAL ? SECOND,
       last_seen = CASE WHEN status = 'online' THEN NOW(6) ELSE last_seen END,
       updated_at = NOW(6)
 WHERE owner = ?
   AND lease_until > NOW(6)`,
  `UPDATE sessions
   SET lease_until = now() + $2 * interval '1 second',
       last_seen = CASE WHEN status = 'online' THEN now() ELSE last_seen END,
       updated_at = now()
 WHERE owner = $1
   AND lease_until > now()
RETURNING name, lease_epoch`,
)

/** The SQL of `renewLeases`, for the EXPLAIN tests. */
export const RENEW_LEASES_SQL = RENEW_LEASES

// MySQL read-back of what is still held (no RETURNING).
const READ_HELD_LEASES_MYSQL = `SELECT name, lease_epoch
  FROM sessions
 WHERE owner = ?
   AND lease_until > NOW(6)`

/**
 * Extends every live lease of `owner` by `ttlSeconds`, stamps `last_seen` on those that are online, and returns what
 * it still holds, with epochs.
 * The runner reads its monotonic clock (`t0`) before calling; each returned session is safe until
 * `t0 + TTL − margin`. A session missing from the result, or with another epoch, must be fenced at once.
 */
export async function renewLeases(db: Db, params: { owner: string; ttlSeconds: number }): Promise<SessionLease[]> {
  const ttl = wholeSeconds(params.ttlSeconds)
  if (db.capabilities.updateReturning) {
    const rows = await db.query(RENEW_LEASES.postgres, [params.owner, ttl])
    return rows.map(toSessionLease)
  }
  // One transaction so the read-back reports exactly the rows this update extended.
  return db.transaction(async (tx) => {
    await tx.execute(RENEW_LEASES.mysql, [ttl, params.owner])
    const rows = await tx.query(READ_HELD_LEASES_MYSQL, [params.owner])
    return rows.map(toSessionLease)
  })
}

const RELEASE_LEASE = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET owner = NULL,
       lease_until = '1970-01-01 00:00:00',
       status = 'offline',
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET owner = NULL,
       lease_until = '1970-01-01 00:00:00',
       status = 'offline',
       updated_at = now()
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3`,
)

/**
 * Graceful release, after the session's loop has stopped and its socket is closed (db/README.md). The
 * session is free at once; the next owner's acquire still pushes `next_send_at` by the throttle minimum.
 * `false`: the lease was no longer ours.
 */
export async function releaseLease(db: Queryable, fence: LeaseFence): Promise<boolean> {
  const res = await db.execute(RELEASE_LEASE[db.dialect], [fence.name, fence.owner, fence.epoch])
  return res.affectedRows > 0
}

// The literal is read in the session zone, which is UTC on every engine (db/README.md, The two dialects).
// The status goes back to offline too: the socket it described died with the previous process, and the
// dashboard should not show a stale "online" until the session is acquired again.
const EXPIRE_ALL_LEASES = /* @__PURE__ */ each(
  `UPDATE sessions
   SET owner = NULL,
       lease_until = '1970-01-01 00:00:00',
       status = 'offline',
       updated_at = NOW(6)
 WHERE owner IS NOT NULL`,
  `UPDATE sessions
   SET owner = NULL,
       lease_until = '1970-01-01 00:00:00',
       status = 'offline',
       updated_at = now()
 WHERE owner IS NOT NULL`,
)

/**
 * PGlite startup only (db/README.md): the data directory is locked to this process, so any lease on record
 * belongs to a dead predecessor. Frees them all; acquiring again bumps the epochs. Returns how many were freed.
 */
export async function expireAllLeases(db: Queryable): Promise<number> {
  const res = await db.execute(EXPIRE_ALL_LEASES[db.dialect])
  return res.affectedRows
}

// ---------------------------------------------------------------------------------------------------------------
// Session delete (the transition is db/lifecycle/session-delete.ts) and pauses

// `default` can never be deleted, whatever the row says. The guarded read locks the row by primary
// key first; a DELETE carrying the guards would walk idx_sessions_owner on MariaDB (db/README.md, Index hints), and a
// MySQL DELETE takes no index hint.
const LOCK_SESSION_FOR_DELETE = /* @__PURE__ */ each(
  `SELECT name
  FROM sessions FORCE INDEX (PRIMARY)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND delete_requested_at IS NOT NULL
   AND name <> 'default'
   FOR UPDATE`,
  `SELECT name
  FROM sessions
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   AND delete_requested_at IS NOT NULL
   AND name <> 'default'
   FOR UPDATE`,
)

/** Locks an owned session whose delete the API requested (never `default`). `false`: lease gone or no request. */
export async function lockSessionForDelete(tx: Queryable, fence: LeaseFence): Promise<boolean> {
  return (await tx.query(LOCK_SESSION_FOR_DELETE[tx.dialect], [fence.name, fence.owner, fence.epoch])).length > 0
}

const DELETE_SESSION = /* @__PURE__ */ each(
  `DELETE FROM sessions
 WHERE name = ?`,
  `DELETE FROM sessions
 WHERE name = $1`,
)

/** Deletes the session row (locked by `lockSessionForDelete`). */
export async function deleteSessionRow(tx: Queryable, name: string): Promise<void> {
  await tx.execute(DELETE_SESSION[tx.dialect], [name])
}

const DELETE_AUTH_KEYS = /* @__PURE__ */ each(
  `DELETE FROM auth_keys
 WHERE session = ?`,
  `DELETE FROM auth_keys
 WHERE session = $1`,
)

/** Wipes a session's credentials and Signal keys. */
export async function deleteAuthKeys(tx: Queryable, session: string): Promise<void> {
  await tx.execute(DELETE_AUTH_KEYS[tx.dialect], [session])
}

// COALESCE because MySQL's GREATEST returns NULL if any argument is NULL. A pause only ever grows.
const PAUSE_SESSION = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET paused_until = GREATEST(COALESCE(paused_until, NOW(6)), NOW(6) + INTERVAL ? SECOND),
       detail = ?,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET paused_until = GREATEST(COALESCE(paused_until, now()), now() + $1 * interval '1 second'),
       detail = $2,
       updated_at = now()
 WHERE name = $3
   AND owner = $4
   AND lease_epoch = $5`,
)

export interface PauseSessionParams extends LeaseFence {
  /** How long no claim may happen (24 h by default after a 463). */
  seconds: number
  /** Why, for the dashboard and `/api/status` (e.g. `restricted`). */
  detail: string
}

/**
 * Pauses sends of an owned session (the claim waits until `paused_until`). Used by the 463 negative ack inside
 * `failByWaId`'s transaction. `false`: the lease is gone.
 */
export async function pauseSession(db: Queryable, params: PauseSessionParams): Promise<boolean> {
  const res = await db.execute(PAUSE_SESSION[db.dialect], [
    wholeSeconds(params.seconds), params.detail, params.name, params.owner, params.epoch,
  ])
  return res.affectedRows > 0
}

const UNPAUSE_EXPIRED = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET paused_until = NULL,
       detail = NULL,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND paused_until <= NOW(6)`,
  `UPDATE sessions
   SET paused_until = NULL,
       detail = NULL,
       updated_at = now()
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   AND paused_until <= now()`,
)

/**
 * Clears a pause that has run out, with its `detail`, so the dashboard stops showing the reason. The claim does not
 * need it (it compares `paused_until` with now). `true` when a finished pause was cleared.
 */
export async function unpauseExpired(db: Queryable, fence: LeaseFence): Promise<boolean> {
  const res = await db.execute(UNPAUSE_EXPIRED[db.dialect], [fence.name, fence.owner, fence.epoch])
  return res.affectedRows > 0
}
