import postgres from 'postgres'
import { withoutUrlInErrors } from '../config.js'
import {
  ContentionError, DatabaseUnavailableError, POSTGRES_CAPABILITIES, UniqueViolationError, UnsupportedDatabaseError,
  retryDelay, type Db, type ExecResult, type Queryable, type Row, type TransactionOptions,
} from '../driver.js'

export interface PostgresOptions {
  url: string
  max?: number
  /** Workers: one connection per request, no type fetching round trip (api/README.md, The Workers entry). */
  fetchTypes?: boolean
}

// postgres.js names each error after its class, read at run time. The Workers bundle is minified without keep_names
// (infra/wrangler.toml), where that would be the class's minified name in every logged error: the class gets its own
// name back here, as keep_names would have given it.
Object.defineProperty(postgres.PostgresError, 'name', { value: 'PostgresError' })

// SQLSTATEs retried by transaction() (db/README.md, The two dialects).
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

/**
 * Trips on the first sign that the server is gone. postgres.js queues a query while it reconnects and sends it
 * whenever a connection comes back; during an outage that made every API request hang, and a write answered
 * late — after its client had given up and retried — became a duplicate message (found by the soak suite).
 * So on the first connection-class error (or a statement with no answer at all) the pool is ended, which fails
 * its queued queries at once (they never reached the server), and until a probe connects again every call fails
 * fast with DatabaseUnavailableError: the API answers 503, the runner waits and retries.
 */
class OutageGate {
  private down: Promise<void> | null = null
  private closed = false

  constructor(
    private readonly probe: () => Promise<boolean>,
    private readonly onDown: () => Promise<void>,
    private readonly onUp: () => void,
  ) {}

  /** Throws at once while the database is known to be unreachable. */
  check(): void {
    if (this.down) throw new DatabaseUnavailableError('database unavailable: reconnecting')
  }

  trip(): void {
    if (this.down || this.closed) return
    this.down = (async () => {
      await this.onDown().catch(() => {})
      while (!this.closed && !(await this.probe().catch(() => false))) await new Promise((r) => setTimeout(r, 500))
      if (!this.closed) this.onUp()
      this.down = null
    })()
  }

  close(): void {
    this.closed = true
  }
}

// A statement that gets no answer at all (a black-holed connection) is given up after this long: longer than the
// server-side statement_timeout (30 s), so only a dead connection ever reaches it.
const NO_ANSWER_MS = 35_000

function withDeadline<T>(promise: Promise<T>, gate: OutageGate): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      gate.trip()
      reject(new DatabaseUnavailableError(`database unavailable: no answer within ${NO_ANSWER_MS / 1000} s`))
    }, NO_ANSWER_MS)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

function wrap(sql: () => Sql, gate: OutageGate): Queryable {
  const run = async (text: string, params: readonly unknown[]) => {
    gate.check()
    try {
      return await withDeadline(sql().unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }), gate)
    } catch (err) {
      const translated = translatePgError(err)
      if (translated instanceof DatabaseUnavailableError) gate.trip()
      throw translated
    }
  }
  return {
    dialect: 'postgres',
    engine: 'postgres',
    capabilities: POSTGRES_CAPABILITIES,
    async query<T extends Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      return [...(await run(text, params))] as unknown as T[]
    },
    async execute(text: string, params: readonly unknown[] = []): Promise<ExecResult> {
      return { affectedRows: (await run(text, params)).count ?? 0 }
    },
  }
}

export async function openPostgres(options: PostgresOptions): Promise<Db> {
  const settings = (max: number, connectTimeout: number): postgres.Options<Record<string, postgres.PostgresType>> => ({
    max,
    fetch_types: options.fetchTypes ?? true,
    onnotice: () => {},
    connect_timeout: connectTimeout,
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
  // postgres.js parses the URL here, and its "Invalid URL" error would carry the password.
  const createPool = () => withoutUrlInErrors(options.url, () => postgres(options.url, settings(options.max ?? 10, 5)))
  let sql = createPool()
  let version: string
  try {
    const rows = await sql.unsafe('SHOW server_version')
    version = String((rows[0] as Row).server_version)
    checkPostgresVersion(version)
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {})
    throw translatePgError(err)
  }
  const probe = async (): Promise<boolean> => {
    const one = withoutUrlInErrors(options.url, () => postgres(options.url, settings(1, 2)))
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([one.unsafe('SELECT 1'), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('probe timed out')), 2500)))])
      return true
    } finally {
      clearTimeout(timer)
      await one.end({ timeout: 0 }).catch(() => {})
    }
  }
  const gate = new OutageGate(
    probe,
    // Ending with timeout 0 rejects everything still queued on the old pool: none of it reached the server.
    async () => {
      const old = sql
      await old.end({ timeout: 0 })
    },
    () => {
      sql = createPool()
    },
  )
  const current = () => sql
  const root = wrap(current, gate)
  return {
    ...root,
    serverVersion: version,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
      const retries = opts.retries ?? 3
      for (let attempt = 0; ; attempt++) {
        gate.check()
        try {
          return (await sql.begin((tx) => fn(wrap(() => tx, gate)))) as T
        } catch (err) {
          const code = (err as { code?: string })?.code ?? ((err as { cause?: { code?: string } })?.cause?.code)
          if (!code || !RETRYABLE.has(code)) {
            const translated = translatePgError(err)
            if (translated instanceof DatabaseUnavailableError) gate.trip()
            throw translated
          }
          if (attempt >= retries) throw new ContentionError(`transaction gave up after ${retries + 1} tries`, { cause: err })
        }
        await retryDelay(attempt)
      }
    },
    async close() {
      gate.close()
      await sql.end({ timeout: 5 })
    },
  }
}
