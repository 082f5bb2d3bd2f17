import type { Queryable } from '../../db/driver.js'

/**
 * `db` (a pool or a transaction) with some of its calls replaced: a test or bench seam that counts or interrupts what
 * a runner asks of the database. Everything not replaced — dialect, engine, capabilities, server version, close — is
 * read from `db` itself, through the prototype.
 * @example const counting = overrideDb(db, { query: (sql, params) => (count(sql), db.query(sql, params)) })
 */
export function overrideDb<T extends Queryable>(db: T, overrides: Partial<T>): T {
  return Object.assign(Object.create(db) as T, overrides)
}
