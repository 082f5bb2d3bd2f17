import type { Dialect } from './driver.js'

/**
 * Statements whose text is the same on both dialects except for placeholders and the clock are
 * written once in MySQL form and derived here (db/README.md, The two dialects):
 * `?` → `$n` and `NOW(6)` → `now()`. Anything else that differs is written out twice in the query file.
 */
export function pgText(mysqlText: string): string {
  let n = 0
  let out = ''
  let quote: string | null = null
  for (let i = 0; i < mysqlText.length; i++) {
    const ch = mysqlText[i]!
    if (quote) {
      out += ch
      if (ch === quote) quote = null
      continue
    }
    if (ch === "'" || ch === '"' || ch === '`') {
      quote = ch
      out += ch
    } else if (ch === '?') {
      out += `$${++n}`
    } else {
      out += ch
    }
  }
  return out.replace(/NOW\(6\)/g, 'now()')
}

/** One statement in both dialects. */
export interface Statement {
  readonly mysql: string
  readonly postgres: string
}

/** A statement whose Postgres text is derived from the MySQL one (see `pgText`). */
export function same(mysqlText: string): Statement {
  return { mysql: mysqlText, postgres: pgText(mysqlText) }
}

/** A statement written out in both dialects. */
export function each(mysql: string, postgres: string): Statement {
  return { mysql, postgres }
}

export function textFor(statement: Statement, dialect: Dialect): string {
  return statement[dialect]
}
