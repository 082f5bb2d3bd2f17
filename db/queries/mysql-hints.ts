import type { Statement } from '../sql.js'

/**
 * Adds `FORCE INDEX (index)` after the first `UPDATE <table>` / `FROM <table>` of the MySQL text; the Postgres text
 * is left as it is.
 *
 * Why: for `WHERE name = ? AND owner = ? …` MariaDB 10.11 costs idx_sessions_owner (owner, name) the same as the
 * primary key and picks it, and for `WHERE id = ? AND status = '…'` it picks idx_messages_status_id (status, id).
 * Such a statement locks the secondary index entry before the row, while a claim locks the row first (it reads it by
 * primary key), and `renewLeases` walks idx_sessions_owner: the opposite orders deadlock on every busy runner
 * (measured: error 1213 between takeSendSlot and renewLeases in tests/db/concurrency.test.ts). Writes keyed by
 * primary key therefore name the primary key, so every row lock is taken in one order (db/README.md, The two dialects).
 * A hint for a missing index is an error (1176), so a renamed index fails loudly in the tests.
 */
export function forceIndexOnMysql(statement: Statement, table: string, index = 'PRIMARY'): Statement {
  const pattern = new RegExp(`\\b(UPDATE|FROM) ${table}\\b`)
  if (!pattern.test(statement.mysql)) throw new Error(`no "UPDATE ${table}" or "FROM ${table}" in: ${statement.mysql}`)
  return { mysql: statement.mysql.replace(pattern, `$1 ${table} FORCE INDEX (${index})`), postgres: statement.postgres }
}
