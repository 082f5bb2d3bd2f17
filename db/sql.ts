import type { Dialect } from './driver.js'

/**
 * One statement in both dialects, both texts written out in full in the query file that runs them
 * (db/README.md, The two dialects): nothing rewrites SQL at run time, so the text a reader sees is the text
 * that runs. tests/db/statement-texts.test.ts checks every pair (placeholders, clock) against each other.
 */
export interface Statement {
  /** MySQL / MariaDB: `?` placeholders, `NOW(6)`, index hints where the lock order needs them. */
  readonly mysql: string
  /** PostgreSQL / PGlite: `$1…$n` placeholders, `now()`. */
  readonly postgres: string
}

/**
 * A statement written out in both dialects, MySQL first. Top-level constants mark the call `@__PURE__`, so a
 * bundle drops the statements it never runs (the Workers API leaves out the runner's).
 */
export function each(mysql: string, postgres: string): Statement {
  return { mysql, postgres }
}

/**
 * The WHERE clause of a listing whose filters are all optional (the message log, deliveries, contacts). Each filter
 * adds constant text and binds its value with the dialect's own placeholder, so no value is ever interpolated and
 * the clause only grows by text written in the query file.
 */
export function optionalFilters(dialect: Dialect) {
  const where: string[] = []
  const params: unknown[] = []
  /** Binds `value` and answers its placeholder: `?` on MySQL, its position on Postgres. */
  const bind = (value: unknown): string => {
    params.push(value)
    return dialect === 'mysql' ? '?' : `$${params.length}`
  }
  return {
    params,
    bind,
    /** Adds `clause(placeholder)` for `value`, unless the filter is absent. */
    add(value: unknown, clause: (placeholder: string) => string): void {
      if (value !== undefined && value !== null && value !== '') where.push(clause(bind(value)))
    },
    /** `WHERE a AND b` on its own lines, or nothing when no filter was given. */
    whereText(): string {
      return where.length ? ` WHERE ${where.join('\n   AND ')}\n` : ''
    },
  }
}
