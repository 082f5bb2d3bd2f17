import postgres from 'postgres'
import {
  ContentionError, DatabaseUnavailableError, UniqueViolationError, UnsupportedDatabaseError, retryDelay,
  type Db, type ExecResult, type Queryable, type Row, type TransactionOptions,
} from '../driver.js'

export interface PostgresOptions {
  url: string
  max?: number
  /** Workers: one connection per request, no type fetching round trip (EDGE.md). */
  fetchTypes?: boolean
}

// SQLSTATEs retried by transaction() (QUEUE.md §4.4).
const RETRYABLE = new Set(['40P01', '40001', '55P03'])
const UNAVAILABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'CONNECTION_CLOSED',
  'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P02', '57P03', '08000', '08003',
  '08006', '08001', '08004', '53300',
])

/** postgres and PGlite attach the bound values to their errors; errors get logged, values must not. */
function scrub(err: unknown): void {
  if (!err || typeof err !== 'object') return
  for (const key of ['parameters', 'args', 'params']) {
    const d = Object.getOwnPropertyDescriptor(err, key)
    // postgres defines these non-enumerable and read-only: loggers never see them. Clear the rest.
    if (d?.enumerable && (d.writable || d.configurable)) delete (err as Record<string, unknown>)[key]
  }
}

export function translatePgError(err: unknown): unknown {
  scrub(err)
  const e = err as { code?: string; constraint_name?: string; constraint?: string; message?: string }
  if (e?.code === '23505') return new UniqueViolationError(e.constraint_name ?? e.constraint, { cause: err })
  if (e?.code && UNAVAILABLE.has(e.code)) {
    return new DatabaseUnavailableError(`database unavailable: ${e.code}`, { cause: err })
  }
  return err
}

export function checkPostgresVersion(version: string): void {
  const major = Number.parseInt(version, 10)
  if (!(major >= 13)) throw new UnsupportedDatabaseError(`PostgreSQL ${version} is too old: the gateway needs 13 or newer.`)
}

type Sql = postgres.Sql | postgres.TransactionSql

function wrap(sql: Sql): Queryable {
  return {
    dialect: 'postgres',
    engine: 'postgres',
    async query<T extends Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      try {
        const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })
        return [...rows] as unknown as T[]
      } catch (err) {
        throw translatePgError(err)
      }
    },
    async execute(text: string, params: readonly unknown[] = []): Promise<ExecResult> {
      try {
        const res = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })
        return { affectedRows: res.count ?? 0 }
      } catch (err) {
        throw translatePgError(err)
      }
    },
  }
}

export async function openPostgres(options: PostgresOptions): Promise<Db> {
  const sql = postgres(options.url, {
    max: options.max ?? 10,
    fetch_types: options.fetchTypes ?? true,
    onnotice: () => {},
    connect_timeout: 5,
    // int8 (ids, counts) as JS numbers; toId() asserts they are safe integers.
    types: {
      bigint: { to: 20, from: [20], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) },
    },
    connection: {
      TimeZone: 'UTC',
      default_transaction_isolation: 'read committed',
      lock_timeout: 5000,
      statement_timeout: 30_000,
      idle_in_transaction_session_timeout: 15_000,
      application_name: 'wa-gateway',
    },
  })
  let version: string
  try {
    const rows = await sql.unsafe('SHOW server_version')
    version = String((rows[0] as Row).server_version)
    checkPostgresVersion(version)
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {})
    throw translatePgError(err)
  }
  const root = wrap(sql)
  return {
    ...root,
    serverVersion: version,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
      const retries = opts.retries ?? 3
      for (let attempt = 0; ; attempt++) {
        try {
          return (await sql.begin((tx) => fn(wrap(tx)))) as T
        } catch (err) {
          const code = (err as { code?: string })?.code ?? ((err as { cause?: { code?: string } })?.cause?.code)
          if (!code || !RETRYABLE.has(code)) throw translatePgError(err)
          if (attempt >= retries) throw new ContentionError(`transaction gave up after ${retries + 1} tries`, { cause: err })
        }
        await retryDelay(attempt)
      }
    },
    async close() {
      await sql.end({ timeout: 5 })
    },
  }
}
