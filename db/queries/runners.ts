/**
 * Runner processes (db/README.md, Leases and fencing): each registers a row in `runners` under a fresh UUID, which is
 * the `owner` of every lease it takes, heartbeats it with the lease renewal, and deletes it on a graceful shutdown.
 * The sweep of runners that went silent is a maintenance job (db/queries/cron.ts).
 */
import type { Queryable } from '../driver.js'
import { each } from '../sql.js'

const INSERT_RUNNER = /* @__PURE__ */ each(
  `INSERT INTO runners (id, host, pid, started_at, heartbeat_at)
VALUES (?, ?, ?, NOW(6), NOW(6))`,
  `INSERT INTO runners (id, host, pid, started_at, heartbeat_at)
VALUES ($1, $2, $3, now(), now())`,
)

/**
 * Registers this process as a runner under a fresh UUID (db/README.md, Leases and fencing).
 * The id is the `owner` of every lease it takes.
 * @example const runnerId = await registerRunner(db, { host: os.hostname(), pid: process.pid })
 */
export async function registerRunner(db: Queryable, params: { host: string; pid: number; id?: string }): Promise<string> {
  const id = params.id ?? globalThis.crypto.randomUUID()
  await db.execute(INSERT_RUNNER[db.dialect], [id, params.host, params.pid])
  return id
}

const HEARTBEAT_RUNNER = /* @__PURE__ */ each(
  `UPDATE runners
   SET heartbeat_at = NOW(6)
 WHERE id = ?`,
  `UPDATE runners
   SET heartbeat_at = now()
 WHERE id = $1`,
)

/**
 * Marks the runner alive (every 10 s, with the lease renewal). `false` means the row is gone: the
 * dead-runner sweep removed it, so this process was considered dead and should re-register.
 */
export async function heartbeatRunner(db: Queryable, id: string): Promise<boolean> {
  const res = await db.execute(HEARTBEAT_RUNNER[db.dialect], [id])
  return res.affectedRows > 0
}

const DELETE_RUNNER = /* @__PURE__ */ each(
  `DELETE FROM runners
 WHERE id = ?`,
  `DELETE FROM runners
 WHERE id = $1`,
)

/** Removes the runner row on graceful shutdown (after its leases are released). */
export async function deleteRunner(db: Queryable, id: string): Promise<boolean> {
  const res = await db.execute(DELETE_RUNNER[db.dialect], [id])
  return res.affectedRows > 0
}
