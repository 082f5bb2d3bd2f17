import mysql from 'mysql2/promise'
import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise'
import { withoutUrlInErrors } from '../config.js'
import {
  ContentionError, DatabaseUnavailableError, MARIADB_CAPABILITIES, MYSQL_CAPABILITIES, UniqueViolationError,
  UnsupportedDatabaseError, retryDelay, type Capabilities, type Db, type ExecResult, type Queryable, type Row,
  type TransactionOptions,
} from '../driver.js'

export interface MysqlOptions {
  url: string
  /** Pool size; the API and runner each need only a handful. */
  connectionLimit?: number
  /** Workers cannot use eval-based row parsers (api/README.md, The Workers entry). */
  disableEval?: boolean
  /**
   * Every statement through `query` (the text protocol), large binary values included: the Workers bundle leaves
   * mysql2's binary protocol out (infra/wrangler.toml [alias]). The edge's largest value is a media chunk
   * (MEDIA_CHUNK_BYTES in db/queries/media.ts), which takes the text protocol anyway.
   */
  textProtocolOnly?: boolean
  /** Discrete connection fields (Hyperdrive hands these out); override the URL's parts. */
  connection?: { host: string; port: number; user: string; password: string; database: string }
}

// errno values (db/README.md, The two dialects): 1213 deadlock rolls back the whole transaction, 1205 lock-wait
// timeout only the statement, so both get an explicit ROLLBACK before the retry.
const RETRYABLE = new Set([1213, 1205])
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR', 'POOL_CLOSED', 'ER_CONNECTION_KILLED',
])

/**
 * mysql2 attaches the statement with every value inlined (`err.sql`): message bodies, phone numbers,
 * a 10 MB image as hex. Errors get logged, so only the parameterised text is kept.
 */
function scrub(err: unknown, template: string | undefined): void {
  if (err && typeof err === 'object' && 'sql' in err) (err as { sql?: string }).sql = template
}

function translate(err: unknown, template?: string): unknown {
  scrub(err, template)
  const e = err as { errno?: number; code?: string; message?: string; fatal?: boolean }
  if (e?.errno === 1062) {
    const m = /for key '([^']+)'/.exec(e.message ?? '')
    return new UniqueViolationError(m?.[1]?.split('.').pop(), { cause: err })
  }
  if ((e?.code && UNAVAILABLE_CODES.has(e.code)) || e?.fatal || e?.errno === 1927 || e?.errno === 2013 || e?.errno === 2006) {
    return new DatabaseUnavailableError(`database unavailable: ${e.code ?? e.message}`, { cause: err })
  }
  return err
}

// Client-side escaping inlines binary values as hex, so a 10 MB image becomes a 20 MB statement,
// past MariaDB's default 16 MiB max_allowed_packet. Statements carrying a large binary value go through
// the binary protocol (a prepared statement) instead, which sends the bytes as they are. Everything else
// keeps `query` (it expands IN (?) arrays and accepts numbers for LIMIT ?).
const LARGE_BINARY_BYTES = 256 * 1024

function run(conn: Pick<Pool, 'query' | 'execute'>, sql: string, params: readonly unknown[], textOnly: boolean) {
  const binary = !textOnly && params.some((p) => p instanceof Uint8Array && p.byteLength > LARGE_BINARY_BYTES)
  return binary ? conn.execute(sql, params as never[]) : conn.query(sql, params as unknown[])
}

function wrap(conn: Pick<Pool, 'query' | 'execute'>, engine: 'mysql', capabilities: Capabilities, textOnly = false): Queryable {
  return {
    dialect: 'mysql',
    engine,
    capabilities,
    async query<T extends Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      try {
        const [rows] = await run(conn, sql, params, textOnly)
        return rows as T[]
      } catch (err) {
        throw translate(err, sql)
      }
    },
    async execute(sql: string, params: readonly unknown[] = []): Promise<ExecResult> {
      try {
        const [res] = await run(conn, sql, params, textOnly)
        const header = res as ResultSetHeader
        return { affectedRows: header.affectedRows ?? 0, insertId: header.insertId || undefined }
      } catch (err) {
        throw translate(err, sql)
      }
    },
  }
}

/** Parses "8.0.36", "10.11.19-MariaDB-0+deb12u1" into a verdict (db/README.md, The two dialects). */
export function checkMysqlVersion(version: string): void {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/).slice(0, 3).map((p) => Number.parseInt(p, 10))
  const mariadb = /mariadb/i.test(version)
  const n = major * 10000 + minor * 100 + patch
  if (mariadb && n < 100600) {
    throw new UnsupportedDatabaseError(`MariaDB ${version} is too old: the queue needs MariaDB 10.6 or newer (SKIP LOCKED).`)
  }
  if (!mariadb && n < 80001) {
    throw new UnsupportedDatabaseError(`MySQL ${version} is too old: the queue needs MySQL 8.0.1 or newer (SKIP LOCKED).`)
  }
}

export async function openMysql(options: MysqlOptions): Promise<Db> {
  const base = options.connection
    ? { ...options.connection }
    : { uri: options.url }
  // mysql2 parses the URL here, and its "Invalid URL" error would carry the password.
  const pool = withoutUrlInErrors(options.url, () => mysql.createPool({
    ...base,
    connectionLimit: options.connectionLimit ?? 10,
    // utf8mb4 on the wire, or emoji fail with error 1366.
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    dateStrings: false,
    enableKeepAlive: true,
    waitForConnections: true,
    queueLimit: 0,
    connectTimeout: 5000,
    // mysql2 otherwise captures a stack trace for every statement in case it fails (measured: 2–3 % of the API
    // process on the send path); our errors are translated and logged with their own context instead.
    trace: false,
    ...(options.disableEval ? { disableEval: true } : {}),
  } as mysql.PoolOptions))

  let mariadb = false
  // Every pooled connection gets the session settings before its first use: queries issued here are
  // queued on the connection ahead of the caller's.
  pool.on('connection', (conn) => {
    const c = conn as unknown as { query: (sql: string, cb?: (err: unknown) => void) => void }
    const ignore = () => {}
    c.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', ignore)
    c.query("SET SESSION time_zone = '+00:00'", ignore)
    c.query('SET SESSION innodb_lock_wait_timeout = 5', ignore)
    // A vanished client keeps its locks until the server ends its connection (db/README.md, The two dialects).
    c.query(mariadb ? 'SET SESSION idle_transaction_timeout = 15' : 'SET SESSION wait_timeout = 300', ignore)
  })

  let version: string
  try {
    const [rows] = await pool.query('SELECT VERSION() AS v, @@log_bin AS log_bin, @@binlog_format AS fmt')
    const row = (rows as Row[])[0]!
    version = String(row.v)
    mariadb = /mariadb/i.test(version)
    checkMysqlVersion(version)
    const fmt = String(row.fmt ?? '').toUpperCase()
    if (Number(row.log_bin) === 1 && fmt !== 'ROW' && !(mariadb && fmt === 'MIXED')) {
      throw new UnsupportedDatabaseError(
        `binlog_format=${fmt} is unsafe with SKIP LOCKED; set binlog_format=ROW${mariadb ? ' (or MIXED)' : ''}.`,
      )
    }
  } catch (err) {
    await pool.end().catch(() => {})
    throw translate(err)
  }
  // Connections created before the version was known: reset them so they pick up the right settings.
  await pool.query('SELECT 1')

  const capabilities = mariadb ? MARIADB_CAPABILITIES : MYSQL_CAPABILITIES
  const textOnly = options.textProtocolOnly ?? false
  const root = wrap(pool, 'mysql', capabilities, textOnly)
  return {
    ...root,
    serverVersion: version,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
      const retries = opts.retries ?? 3
      for (let attempt = 0; ; attempt++) {
        let conn: PoolConnection
        try {
          conn = await pool.getConnection()
        } catch (err) {
          throw translate(err)
        }
        let healthy = true
        try {
          await conn.query('BEGIN')
          const result = await fn(wrap(conn, 'mysql', capabilities, textOnly))
          await conn.query('COMMIT')
          return result
        } catch (err) {
          try {
            await conn.query('ROLLBACK')
          } catch {
            healthy = false
          }
          const e = err as { errno?: number; cause?: { errno?: number } }
          const errno = e?.errno ?? e?.cause?.errno
          if (errno === undefined || !RETRYABLE.has(errno)) throw translate(err)
          if (attempt >= retries) throw new ContentionError(`transaction gave up after ${retries + 1} tries`, { cause: err })
        } finally {
          if (healthy) conn.release()
          else conn.destroy()
        }
        await retryDelay(attempt)
      }
    },
    async close() {
      await pool.end()
    },
  }
}

