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
