import { PGlite } from '@electric-sql/pglite'
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { DbError, type Db, type ExecResult, type Queryable, type Row, type TransactionOptions } from '../driver.js'
import { translatePgError } from './postgres.js'

export interface PgliteOptions {
  /** A directory for the data files, or `memory://` for a throwaway database (tests). */
  dataDir: string
}

/** Another live process already has this data directory open. */
export class DataDirLockedError extends DbError {}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * PGlite is one in-process Postgres: two processes opening one data directory corrupt it
 * (ARCHITECTURE.md), so the directory is locked by a pid file. A lock left by a dead process is taken over.
 */
function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true })
  const lockPath = join(dir, 'gateway.lock')
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(lockPath, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return () => rmSync(lockPath, { force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number.parseInt(readFileSync(lockPath, 'utf8'), 10)
      if (holder && holder !== process.pid && processAlive(holder)) {
        throw new DataDirLockedError(
          `the embedded database in ${dir} is in use by process ${holder}; stop it first, ` +
            'or set DATABASE_URL to MySQL/PostgreSQL to run several processes',
        )
      }
      rmSync(lockPath, { force: true })
    }
  }
  throw new DataDirLockedError(`could not lock ${dir}`)
}

function wrap(pg: Pick<PGlite, 'query'>): Queryable {
  return {
    dialect: 'postgres',
    engine: 'pglite',
    async query<T extends Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      try {
        return (await pg.query<T>(sql, params as unknown[])).rows
      } catch (err) {
        throw translatePgError(err)
      }
    },
    async execute(sql: string, params: readonly unknown[] = []): Promise<ExecResult> {
      try {
        const res = await pg.query(sql, params as unknown[])
        return { affectedRows: res.affectedRows ?? 0 }
      } catch (err) {
        throw translatePgError(err)
      }
    },
  }
}

/**
 * PGlite has a single connection: PGlite's own mutex serializes `query()` and `transaction()`,
 * so SKIP LOCKED, lock timeouts and deadlocks never fire here. Inside a transaction use only the
 * `tx` handed to the callback; calling the outer `db` there would wait on the held mutex forever.
 */
/** `npm run bench -- start`: npm start at ~275 MB resident with 16 MB, ~410 MB with PGlite's 128 MB. */
export const PGLITE_SHARED_BUFFERS = '16MB'

export async function openPglite(options: PgliteOptions): Promise<Db> {
  const inMemory = options.dataDir.startsWith('memory://')
  const unlock = inMemory ? () => {} : lockDataDir(options.dataDir)
  let pg: PGlite
  try {
    pg = await PGlite.create(inMemory ? undefined : join(options.dataDir, 'pgdata'), {
      // int8 ids and counts as JS numbers (toId() checks they are safe).
      parsers: { 20: (value: string) => Number(value) },
      // PGlite's 128 MB of shared buffers are resident as soon as they are touched, a third of `npm start`'s
      // memory; a gateway's working set (queue rows, sessions, keys) fits in far less. Given on the command line,
      // not in postgresql.conf, which PGlite would rewrite whole.
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`],
    })
    await pg.exec("SET TIME ZONE 'UTC'")
  } catch (err) {
    unlock()
    throw err
  }
  const root = wrap(pg)
  return {
    ...root,
    serverVersion: 'PGlite',
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, _opts?: TransactionOptions): Promise<T> {
      try {
        return await pg.transaction((tx) => fn(wrap(tx)))
      } catch (err) {
        throw translatePgError(err)
      }
    },
    async close() {
      try {
        await pg.close()
      } finally {
        unlock()
      }
    },
  }
}
