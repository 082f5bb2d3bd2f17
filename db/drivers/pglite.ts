import { PGlite } from '@electric-sql/pglite'
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { makeDataDirPrivate, privateTree, type DataDirWarning } from '../data-dir.js'
import { DbError, POSTGRES_CAPABILITIES, type Db, type ExecResult, type Queryable, type Row, type TransactionOptions } from '../driver.js'
import { translatePgError } from './postgres.js'

export interface PgliteOptions {
  /** A directory for the data files, or `memory://` for a throwaway database (tests). */
  dataDir: string
  /**
   * A fresh database's data directory as `dumpDataDir()` wrote it, to start from instead of running initdb: initdb
   * is most of the seconds PGlite takes to open, which the test suite pays once per database otherwise.
   */
  loadDataDir?: Blob
  /** Told when an existing data directory was readable by other users (it is made private before opening). */
  onLooseDataDir?: (warning: DataDirWarning) => void
}

/** Another live process already has this data directory open. */
export class DataDirLockedError extends DbError {
  override name = 'DataDirLockedError'
}

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
 * (db/README.md), so the directory is locked by a pid file. A lock left by a dead process is taken over.
 */
function lockDataDir(dir: string): () => void {
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
    capabilities: POSTGRES_CAPABILITIES,
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
  if (!inMemory) {
    const loose = makeDataDirPrivate(options.dataDir)
    if (loose) options.onLooseDataDir?.(loose)
  }
  const unlock = inMemory ? () => {} : lockDataDir(options.dataDir)
  const created = !inMemory && !existsSync(join(options.dataDir, 'pgdata', 'PG_VERSION'))
  let pg: PGlite
  try {
    pg = await PGlite.create(inMemory ? undefined : join(options.dataDir, 'pgdata'), {
      // int8 ids and counts as JS numbers (toId() checks they are safe).
      parsers: { 20: (value: string) => Number(value) },
      ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
      // PGlite's 128 MB of shared buffers are resident as soon as they are touched, a third of `npm start`'s
      // memory; a gateway's working set (queue rows, sessions, keys) fits in far less. Given on the command line,
      // not in postgresql.conf, which PGlite would rewrite whole.
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`],
    })
    await pg.exec("SET TIME ZONE 'UTC'")
    // PGlite writes the initial database 0666 whatever the umask (db/data-dir.ts): a database created now is made
    // private before anything else. An existing one was made so when it was created; it is checked again (a data
    // directory copied from elsewhere) a second later, off the start's path: about a thousand lstat calls, 30–50 ms
    // of `npm start`'s time to ready, and the directory above is private already, so nobody else reaches the files.
    if (created) privateTree(options.dataDir)
    else if (!inMemory) setTimeout(() => tightenTree(options.dataDir), 1000).unref()
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

function tightenTree(dir: string): void {
  try {
    privateTree(dir)
  } catch {
    // The directory went away (a test removing it, a database closed and deleted at once): nothing left to tighten.
  }
}
