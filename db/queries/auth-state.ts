import type { Db, Queryable } from '../driver.js'
import { each } from '../sql.js'
import { LeaseLostError, type LeaseFence } from './leases.js'

/**
 * `auth_keys`: Baileys credentials and Signal keys per session, as opaque (already encrypted) bytes.
 * Keyed by (`session`, `type`, `key_id`); creds are the row `type='creds', key_id='creds'`.
 * The runner encrypts and decrypts (runner/whatsapp/auth-state.ts); nothing here sees plaintext.
 */

/**
 * The lease an auth write is fenced by: the runner's id and the `lease_epoch` it holds the session under (the session
 * is the `session` argument of the write).
 */
export type AuthFence = Pick<LeaseFence, 'owner' | 'epoch'>

/** One write of a key store `set()`: a value to store, or null to delete the key. */
export interface AuthWrite {
  type: string
  keyId: string
  value: Uint8Array | null
}

// Rows per multi-row statement: the 812 pre-keys of a first login go out in 5 statements, far under
// every engine's placeholder limit (65 535).
const CHUNK = 200

function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  throw new Error(`auth_keys.value is not binary (${typeof value})`)
}

function toParam(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

/** `count` placeholders for an IN list or a VALUES row: `?, ?, …` on MySQL, `$from, $from+1, …` on Postgres. */
function placeholders(dialect: 'mysql' | 'postgres', from: number, count: number): string {
  return Array.from({ length: count }, (_, i) => (dialect === 'mysql' ? '?' : `$${from + i}`)).join(', ')
}

/**
 * The stored values of `ids` for one key type, in one statement. Missing ids are absent from the map.
 * @example const m = await getAuthValues(db, 'default', 'pre-key', ['1', '2'])
 */
export async function getAuthValues(db: Queryable, session: string, type: string, ids: readonly string[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>()
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK)
    const sql = db.dialect === 'mysql'
      ? `SELECT key_id, value
  FROM auth_keys
 WHERE session = ?
   AND type = ?
   AND key_id IN (${placeholders('mysql', 3, chunk.length)})`
      : `SELECT key_id, value
  FROM auth_keys
 WHERE session = $1
   AND type = $2
   AND key_id IN (${placeholders('postgres', 3, chunk.length)})`
    for (const row of await db.query(sql, [session, type, ...chunk])) out.set(String(row.key_id), bytes(row.value))
  }
  return out
}

/** One stored value, or null. */
export async function getAuthValue(db: Queryable, session: string, type: string, keyId: string): Promise<Uint8Array | null> {
  return (await getAuthValues(db, session, type, [keyId])).get(keyId) ?? null
}

async function upsertRows(tx: Queryable, session: string, rows: { type: string; keyId: string; value: Uint8Array }[]): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK)
    const params: unknown[] = []
    const values: string[] = []
    for (const r of chunk) {
      params.push(session, r.type, r.keyId, toParam(r.value))
      values.push(tx.dialect === 'mysql' ? '(?, ?, ?, ?, NOW(6))' : `(${placeholders('postgres', params.length - 3, 4)}, now())`)
    }
    // MySQL: ON DUPLICATE KEY UPDATE; Postgres/PGlite: ON CONFLICT on the primary key. Neither result is used
    // as an ownership test (db/README.md, The two dialects): auth rows belong to whoever holds the session's lease.
    const sql =
      tx.dialect === 'mysql'
        ? `INSERT INTO auth_keys (session, type, key_id, value, updated_at)
VALUES ${values.join(',\n       ')}
ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = NOW(6)`
        : `INSERT INTO auth_keys (session, type, key_id, value, updated_at)
VALUES ${values.join(',\n       ')}
ON CONFLICT (session, type, key_id) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`
    await tx.execute(sql, params)
  }
}

async function deleteKeys(tx: Queryable, session: string, type: string, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK)
    const sql = tx.dialect === 'mysql'
      ? `DELETE FROM auth_keys
 WHERE session = ?
   AND type = ?
   AND key_id IN (${placeholders('mysql', 3, chunk.length)})`
      : `DELETE FROM auth_keys
 WHERE session = $1
   AND type = $2
   AND key_id IN (${placeholders('postgres', 3, chunk.length)})`
    await tx.execute(sql, [session, type, ...chunk])
  }
}

// The fence of every runner auth write, first statement of its transaction: the session row must still carry this
// owner and epoch, and it is share-locked until COMMIT, so no acquire can bump the epoch between the check and the
// writes. A write that passed therefore commits before the next holder's acquire, hence before that holder loads the
// state; a runner that lost the lease (a socket still open through a database outage) writes nothing and cannot roll
// the new holder's Signal ratchets back. No `lease_until > now`: an expired lease nobody took over is still the latest
// writer, and the next holder should load what it wrote.
// Why it cannot deadlock with the lease statements: this transaction locks one sessions row and after it only
// auth_keys rows, which no lease, claim or report statement touches, so it never waits on a transaction that waits on
// it. Acquire (FOR UPDATE SKIP LOCKED) skips a row locked here and takes it on a later tick; renew, claim and state
// reports take the row exclusively and wait at most for this short transaction (or it for theirs); the runner's delete
// (deleteSessionFenced) locks the session row before auth_keys too. Shared, not exclusive, so the holder's writes of
// one session queue only on their keys. By primary key on MySQL/MariaDB, as every guarded lock (db/README.md, Index hints).
// MariaDB (10.11) rejects `FOR SHARE` as a syntax error; `LOCK IN SHARE MODE` is accepted by MariaDB and MySQL 8.
// Exported for the test that holds this lock while a takeover runs.
export const LOCK_SESSION_FOR_AUTH_WRITE = /* @__PURE__ */ each(
  `SELECT lease_epoch
  FROM sessions FORCE INDEX (PRIMARY)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
  LOCK IN SHARE MODE`,
  `SELECT lease_epoch
  FROM sessions
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   FOR SHARE`,
)

/** Runs the fence inside `tx`; throws `LeaseLostError` (rolling the transaction back) when the lease moved on. */
async function holdLease(tx: Queryable, session: string, fence: AuthFence, what: string): Promise<void> {
  const [held] = await tx.query(LOCK_SESSION_FOR_AUTH_WRITE[tx.dialect], [session, fence.owner, fence.epoch])
  if (!held) throw new LeaseLostError(session, fence.owner, fence.epoch, what)
}

/**
 * Applies one key store `set()` (several types at once, e.g. a session, an identity key and a pre-key
 * deletion) in ONE transaction, with multi-row upserts: Baileys' transaction capability commits them
 * together or retries the whole set (runner/README.md, Auth state). Creds are saved through here too (`type='creds'`).
 *
 * With a `fence`, the transaction first checks and share-locks the session row under that owner and epoch; if the
 * lease has moved on, nothing is written and `LeaseLostError` is thrown. Every runner write passes one; without it
 * the write is unfenced (tests, tools).
 * @example await writeAuthValues(db, 'default', [{ type: 'session', keyId: '123_1.0', value }], { owner, epoch })
 */
export async function writeAuthValues(db: Db, session: string, writes: readonly AuthWrite[], fence?: AuthFence): Promise<void> {
  if (writes.length === 0) return
  // Last write of a key wins, as it would if the writes ran one by one.
  const last = new Map<string, AuthWrite>()
  for (const w of writes) last.set(`${w.type}\0${w.keyId}`, w)
  const upserts: { type: string; keyId: string; value: Uint8Array }[] = []
  const deletes = new Map<string, string[]>()
  for (const w of last.values()) {
    if (w.value) upserts.push({ type: w.type, keyId: w.keyId, value: w.value })
    else deletes.set(w.type, [...(deletes.get(w.type) ?? []), w.keyId])
  }
  await db.transaction(async (tx) => {
    if (fence) await holdLease(tx, session, fence, 'auth key write')
    for (const [type, ids] of deletes) await deleteKeys(tx, session, type, ids)
    await upsertRows(tx, session, upserts)
  })
}

const WIPE = /* @__PURE__ */ each(
  `DELETE FROM auth_keys
 WHERE session = ?`,
  `DELETE FROM auth_keys
 WHERE session = $1`,
)

/**
 * Deletes every credential and key of a session (logout, 401/411, an abandoned pairing). Returns the rows removed.
 * With a `fence`, fenced as `writeAuthValues` is: a runner that lost the lease must not wipe the new holder's login.
 * (A requested session delete removes the rows itself, under its own fence: `deleteSessionFenced`.)
 */
export async function wipeAuthState(db: Db, session: string, fence?: AuthFence): Promise<number> {
  if (!fence) return (await db.execute(WIPE[db.dialect], [session])).affectedRows
  return db.transaction(async (tx) => {
    await holdLease(tx, session, fence, 'auth state wipe')
    return (await tx.execute(WIPE[tx.dialect], [session])).affectedRows
  })
}

const COUNT = /* @__PURE__ */ each(
  `SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(value)), 0) AS bytes
  FROM auth_keys
 WHERE session = ?`,
  `SELECT COUNT(*) AS n, COALESCE(SUM(octet_length(value)), 0) AS bytes
  FROM auth_keys
 WHERE session = $1`,
)

/** How many keys a session has stored and their total size (tests, benchmark, diagnostics). */
export async function countAuthKeys(db: Queryable, session: string): Promise<{ keys: number; bytes: number }> {
  const [row] = await db.query(COUNT[db.dialect], [session])
  return { keys: Number(row?.n ?? 0), bytes: Number(row?.bytes ?? 0) }
}
