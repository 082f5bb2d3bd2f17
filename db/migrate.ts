import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import type { Db, Dialect, Queryable } from './driver.js'

export interface Migration {
  version: number
  name: string
  statements: string[]
}

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url))

/** Splits a migration file into statements: each ends with `;` at the end of a line. */
export function splitStatements(text: string): string[] {
  return text
    .split(/;\s*$/m)
    .map((chunk) => chunk.replace(/^\s*--.*$/gm, '').trim())
    .filter((chunk) => chunk.length > 0)
}

/** Reads `db/migrations/<dialect>/NNNN_name.sql` in version order (PGlite uses the postgres files). */
export function loadMigrations(dialect: Dialect, dir = MIGRATIONS_DIR): Migration[] {
  const folder = join(dir, dialect)
  return readdirSync(folder)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number.parseInt(file.slice(0, 4), 10),
      name: file.slice(5, -4),
      statements: splitStatements(readFileSync(join(folder, file), 'utf8')),
    }))
}

const CREATE_TABLE = {
  mysql: `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT NOT NULL PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4`,
  postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`,
}

// Arbitrary constant naming the migration lock on both engines.
const LOCK_NAME = 'wa_gateway_migrations'
const PG_LOCK_KEY = 727_274_001

// MySQL DDL commits implicitly, so a migration interrupted half-way has some of its statements applied
// but is not recorded. On the re-run those report "already there" (duplicate column 1060, duplicate key
// name 1061, table exists 1050), which is exactly the state the statement wanted: skip, not fail.
const MYSQL_ALREADY_APPLIED = new Set([1050, 1060, 1061])

async function runStatement(tx: Queryable, statement: string): Promise<void> {
  try {
    await tx.execute(statement)
  } catch (err) {
    const errno = (err as { errno?: number }).errno
    if (tx.dialect === 'mysql' && errno !== undefined && MYSQL_ALREADY_APPLIED.has(errno)) return
    throw err
  }
}

async function applyPending(tx: Queryable, migrations: Migration[], log: (msg: string) => void): Promise<number[]> {
  await tx.execute(CREATE_TABLE[tx.dialect])
  const done = new Set(
    (await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)),
  )
  const applied: number[] = []
  for (const m of migrations) {
    if (done.has(m.version)) continue
    for (const statement of m.statements) await runStatement(tx, statement)
    await tx.execute(
      tx.dialect === 'mysql'
        ? 'INSERT INTO schema_migrations (version, name) VALUES (?, ?)'
        : 'INSERT INTO schema_migrations (version, name) VALUES ($1, $2)',
      [m.version, m.name],
    )
    log(`applied migration ${String(m.version).padStart(4, '0')}_${m.name}`)
    applied.push(m.version)
  }
  return applied
}

/**
 * Applies every pending migration. Safe to run twice and from several processes at once:
 * Postgres takes a transaction-scoped advisory lock (its DDL is transactional, so a migration
 * is all-or-nothing); MySQL takes a named lock (its DDL commits implicitly, so every statement
 * is written to be re-runnable: IF NOT EXISTS, guarded inserts).
 */
export async function migrate(db: Db, options: { log?: (msg: string) => void } = {}): Promise<number[]> {
  const log = options.log ?? (() => {})
  const migrations = loadMigrations(db.dialect)
  if (db.dialect === 'postgres') {
    return db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [PG_LOCK_KEY])
      return applyPending(tx, migrations, log)
    })
  }
  return db.transaction(async (tx) => {
    const [row] = await tx.query<{ got: number | null }>('SELECT GET_LOCK(?, 120) AS got', [LOCK_NAME])
    if (Number(row?.got) !== 1) throw new Error('could not take the migration lock within 120 s')
    try {
      return await applyPending(tx, migrations, log)
    } finally {
      await tx.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME])
    }
  })
}

export { currentSchemaVersion } from './schema-version.js'
