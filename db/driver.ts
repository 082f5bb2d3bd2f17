/**
 * The one driver interface every engine implements (mysql2, postgres, PGlite).
 *
 * Placeholders are the engine's own: `?` on MySQL/MariaDB, `$1…$n` on PostgreSQL and PGlite.
 * Query files write both texts of every statement literally, side by side (`each()` in `db/sql.ts`;
 * db/README.md, The two dialects).
 * Driver types never leave `db/`: rows come back as plain objects, ids as JS numbers,
 * timestamps as `Date` in UTC.
 */

/** SQL text family. PGlite speaks the Postgres dialect. */
export type Dialect = 'mysql' | 'postgres'
/** The concrete engine behind a `Db`. */
export type Engine = 'mysql' | 'postgres' | 'pglite'

export type Row = Record<string, unknown>

/**
 * What the engine behind a `Queryable` can do beyond its dialect's common ground, declared by the driver at open (from
 * the server it connected to) and carried by every transaction's `Queryable` too, so a statement chooses its form
 * from a declared fact instead of parsing a version string.
 */
export interface Capabilities {
  /** `INSERT … RETURNING`: PostgreSQL, PGlite and MariaDB (10.5+); not MySQL 8. */
  readonly insertReturning: boolean
  /** `UPDATE … RETURNING`: PostgreSQL and PGlite; neither MySQL nor MariaDB. */
  readonly updateReturning: boolean
}

/** MySQL 8: neither RETURNING. */
export const MYSQL_CAPABILITIES: Capabilities = { insertReturning: false, updateReturning: false }
/** MariaDB 10.6+: INSERT … RETURNING only. */
export const MARIADB_CAPABILITIES: Capabilities = { insertReturning: true, updateReturning: false }
/** PostgreSQL and PGlite. */
export const POSTGRES_CAPABILITIES: Capabilities = { insertReturning: true, updateReturning: true }

export interface ExecResult {
  /** Matched rows (not "changed" rows) on every engine: guards belong in WHERE. */
  affectedRows: number
  /** MySQL AUTO_INCREMENT id of the first inserted row; undefined elsewhere (use RETURNING). */
  insertId?: number
}

/** What a statement runs on: the pool, or one transaction's connection. */
export interface Queryable {
  readonly dialect: Dialect
  readonly engine: Engine
  /** What this engine can do (the same on the pool and inside its transactions). */
  readonly capabilities: Capabilities
  /** Runs a statement and returns its rows. */
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>
  /** Runs a statement that returns no rows (or whose rows are not needed). */
  execute(sql: string, params?: readonly unknown[]): Promise<ExecResult>
}

export interface TransactionOptions {
  /** How many times to re-run `fn` on deadlock / lock-wait / serialization errors (default 3). */
  retries?: number
}

export interface Db extends Queryable {
  /**
   * Runs `fn` in one READ COMMITTED transaction. The whole function is re-run on the engine's
   * retryable contention errors (MySQL 1213/1205, Postgres 40P01/40001/55P03), so `fn` must do
   * nothing but SQL: never a WhatsApp call, never a side effect that cannot be repeated.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>
  /** Server version string, read once at open (e.g. "10.11.19-MariaDB", "15.20", "PGlite"), for logs and reports. */
  readonly serverVersion: string
  close(): Promise<void>
}

/**
 * Base class of every error a driver translates. Each class spells out its `name` (logs show it, and code tests it
 * where importing the class would tie modules together) rather than reading its own class name: the Workers bundle
 * is minified without keep_names (infra/wrangler.toml), where a class's name is a minified one.
 */
export class DbError extends Error {
  override name = 'DbError'
}

/** A unique index rejected the row (MySQL 1062, Postgres 23505). A signal, never retried. */
export class UniqueViolationError extends DbError {
  override name = 'UniqueViolationError'
  constructor(readonly constraint: string | undefined, options?: { cause?: unknown }) {
    super(`unique constraint violated${constraint ? `: ${constraint}` : ''}`, options)
  }
}

/** The database cannot be reached or dropped the connection. The API answers 503. */
export class DatabaseUnavailableError extends DbError {
  override name = 'DatabaseUnavailableError'
}

/** Contention that survived every retry of `transaction()`. */
export class ContentionError extends DbError {
  override name = 'ContentionError'
}

/** The engine is too old or misconfigured for the queue's guarantees. Refuse to start. */
export class UnsupportedDatabaseError extends DbError {
  override name = 'UnsupportedDatabaseError'
}

/** Converts a driver's id value (number, numeric string or bigint) to a safe JS integer. */
export function toId(value: unknown): number {
  const n = typeof value === 'bigint' ? Number(value) : Number(value)
  if (!Number.isSafeInteger(n)) throw new DbError(`id is not a safe integer: ${String(value)}`)
  return n
}

/** Same as `toId` but keeps SQL NULL as null. */
export function toIdOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toId(value)
}

/** Converts a driver's timestamp (Date, or string from some code paths) to a Date or null. */
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null
  if (value instanceof Date) return value
  const d = new Date(typeof value === 'string' && !/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? `${value}Z` : String(value))
  if (Number.isNaN(d.getTime())) throw new DbError(`not a timestamp: ${String(value)}`)
  return d
}

/** Jittered sleep used between transaction retries (20–200 ms; db/README.md, The two dialects). */
export function retryDelay(attempt: number, random: () => number = Math.random): Promise<void> {
  const ms = Math.min(200, 20 * 2 ** attempt) * (0.5 + random() / 2) + 20 * random()
  return new Promise((resolve) => setTimeout(resolve, ms))
}
