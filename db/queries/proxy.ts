/**
 * A session's proxy (runner/README.md, Proxy per number): the sealed URL the runner opens, the masked URL clients
 * see, the change flag the lease holder reconnects on, and the public key the runners publish for the API to seal
 * with. The sealing itself is db/shared/proxy.ts.
 */
import type { Queryable } from '../driver.js'
import { each } from '../sql.js'
import type { LeaseFence } from './leases.js'
import { writeSessionSettings } from './sessions.js'

const PUBLISH_KEY = /* @__PURE__ */ each(
  `INSERT INTO runner_keys (name, public_key, updated_at)
VALUES (?, ?, NOW(6))
ON DUPLICATE KEY UPDATE public_key = VALUES(public_key), updated_at = NOW(6)`,
  `INSERT INTO runner_keys (name, public_key, updated_at)
VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE SET public_key = EXCLUDED.public_key, updated_at = now()`,
)

/** A runner publishes the public half of a key derived from AUTH_STATE_KEY (each start; the same for all runners). */
export async function publishRunnerKey(db: Queryable, name: string, publicKey: string): Promise<void> {
  await db.execute(PUBLISH_KEY[db.dialect], [name, publicKey])
}

const READ_KEY = /* @__PURE__ */ each(
  'SELECT public_key FROM runner_keys WHERE name = ?',
  'SELECT public_key FROM runner_keys WHERE name = $1',
)

/** The published public key `name`, or null when no runner has published one yet. */
export async function readRunnerKey(db: Queryable, name: string): Promise<string | null> {
  const [row] = await db.query(READ_KEY[db.dialect], [name])
  return row ? String(row.public_key) : null
}

/**
 * Sets (sealed URL and its masked form) or clears (null) a session's proxy and flags the change for the lease holder,
 * which reconnects through it; the statement is `writeSessionSettings`' (a PATCH writes limits and proxy in one).
 * `false`: no such session, or it is being deleted.
 */
export async function writeSessionProxy(db: Queryable, name: string, proxy: { sealed: string; url: string } | null): Promise<boolean> {
  return writeSessionSettings(db, name, {}, proxy)
}

const READ_PROXY = /* @__PURE__ */ each(
  'SELECT proxy_sealed FROM sessions WHERE name = ?',
  'SELECT proxy_sealed FROM sessions WHERE name = $1',
)

/** The sealed proxy URL of a session, or null (direct connection, or no such session). */
export async function readSealedProxy(db: Queryable, name: string): Promise<string | null> {
  const [row] = await db.query(READ_PROXY[db.dialect], [name])
  return (row?.proxy_sealed as string | null | undefined) ?? null
}

// Cleared before the reconnect reads the proxy, as reconnect requests are (db/queries/session-reports.ts): a change
// written after this statement stays flagged and brings one more reconnect, none is lost.
const CLEAR_PROXY_CHANGE = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET proxy_changed_at = NULL
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND proxy_changed_at IS NOT NULL`,
  `UPDATE sessions
   SET proxy_changed_at = NULL
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   AND proxy_changed_at IS NOT NULL`,
)

/** Takes a proxy change of an owned session: `true` when one was flagged and the holder must reconnect. */
export async function clearProxyChange(db: Queryable, fence: LeaseFence): Promise<boolean> {
  const res = await db.execute(CLEAR_PROXY_CHANGE[db.dialect], [fence.name, fence.owner, fence.epoch])
  return res.affectedRows > 0
}
