/**
 * The dashboard's server-side state: its sign-in sessions and the random secret that keys its cookies
 * (migration 0007). Web-standard only, like the dashboard: the Workers bundle includes this file.
 */
import type { Queryable } from '../driver.js'
import { toDate } from '../driver.js'
import { each } from '../sql.js'

const SELECT_SECRET = /* @__PURE__ */ each(
  `SELECT value FROM gateway_secrets WHERE name = ?`,
  `SELECT value FROM gateway_secrets WHERE name = $1`,
)

// The first writer wins; everyone reads back the winner, so concurrent processes end up with one value.
const INSERT_SECRET = /* @__PURE__ */ each(
  `INSERT IGNORE INTO gateway_secrets (name, value) VALUES (?, ?)`,
  `INSERT INTO gateway_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
)

/** The stored secret called `name`, or null when none was written yet. */
export async function readGatewaySecret(db: Queryable, name: string): Promise<string | null> {
  const [row] = await db.query<{ value: string }>(SELECT_SECRET[db.dialect], [name])
  return row ? String(row.value) : null
}

/**
 * The stored secret called `name`, writing `candidate` first when there is none. Returns the value every
 * process agrees on (another process's, if it wrote first).
 */
export async function ensureGatewaySecret(db: Queryable, name: string, candidate: string): Promise<string> {
  const existing = await readGatewaySecret(db, name)
  if (existing !== null) return existing
  await db.execute(INSERT_SECRET[db.dialect], [name, candidate])
  const stored = await readGatewaySecret(db, name)
  if (stored === null) throw new Error(`gateway secret "${name}" could not be stored`)
  return stored
}

export interface DashboardSessionRecord {
  /** SHA-256 of the cookie's session id (base64url, 43 characters). */
  id: string
  /** HMAC of the API key that signed in. */
  keyFingerprint: string
  createdAt: Date
  expiresAt: Date
}

const INSERT_SESSION = /* @__PURE__ */ each(
  `INSERT INTO dashboard_sessions (id, key_fingerprint, created_at, expires_at) VALUES (?, ?, ?, ?)`,
  `INSERT INTO dashboard_sessions (id, key_fingerprint, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
)
const SELECT_SESSION = /* @__PURE__ */ each(
  `SELECT id, key_fingerprint, created_at, expires_at FROM dashboard_sessions WHERE id = ?`,
  `SELECT id, key_fingerprint, created_at, expires_at FROM dashboard_sessions WHERE id = $1`,
)
const DELETE_SESSION = /* @__PURE__ */ each(
  `DELETE FROM dashboard_sessions WHERE id = ?`,
  `DELETE FROM dashboard_sessions WHERE id = $1`,
)
const DELETE_EXPIRED = /* @__PURE__ */ each(
  `DELETE FROM dashboard_sessions WHERE expires_at <= ?`,
  `DELETE FROM dashboard_sessions WHERE expires_at <= $1`,
)

export async function insertDashboardSession(db: Queryable, s: DashboardSessionRecord): Promise<void> {
  await db.execute(INSERT_SESSION[db.dialect], [s.id, s.keyFingerprint, s.createdAt, s.expiresAt])
}

export async function findDashboardSession(db: Queryable, id: string): Promise<DashboardSessionRecord | null> {
  const [row] = await db.query<{ id: string; key_fingerprint: string; created_at: unknown; expires_at: unknown }>(SELECT_SESSION[db.dialect], [id])
  if (!row) return null
  return { id: String(row.id), keyFingerprint: String(row.key_fingerprint), createdAt: toDate(row.created_at)!, expiresAt: toDate(row.expires_at)! }
}

/** Ends one session (sign-out, or a session found expired or from a rotated-away key). */
export async function deleteDashboardSession(db: Queryable, id: string): Promise<void> {
  await db.execute(DELETE_SESSION[db.dialect], [id])
}

/** Deletes every session that expired by `now`; returns how many. */
export async function pruneDashboardSessions(db: Queryable, now: Date): Promise<number> {
  const { affectedRows } = await db.execute(DELETE_EXPIRED[db.dialect], [now])
  return affectedRows
}
