import { randomBytes } from 'node:crypto'
import type { Db, Engine } from '../../db/driver.js'
import { openMysql } from '../../db/drivers/mysql.js'
import { openPostgres } from '../../db/drivers/postgres.js'
import { migrate } from '../../db/migrate.js'
import { TEST_MYSQL_URL, TEST_POSTGRES_URL } from './engines.js'

/**
 * Migrated templates for the server engines' test databases, made once per test run by the global setup. The suite
 * opens some 90 databases on each engine, each migrated from scratch until now. Each one now starts as a copy of a
 * database migrated at the start of the run (measured per database: MariaDB 255 → 128 ms, PostgreSQL 520 → 455 ms):
 * - PostgreSQL: `CREATE DATABASE … TEMPLATE` of the migrated database (a copy made inside the server);
 * - MariaDB, which has no template databases: the migrated tables' own `SHOW CREATE TABLE` text, replayed, and their
 *   rows (the migrations' `default` session, `schema_migrations`) copied from the template database.
 * PGlite databases open from a dump of a fresh data directory (tests/support/pglite-template.ts) and migrate: a dump
 * of a migrated one opened no faster.
 * Migrations themselves stay tested from an empty database (`createTestDatabase(engine, { migrate: false })`, used
 * by tests/db/migrations.test.ts), which also compares a copy with a database migrated from scratch.
 */
export interface ServerTemplates {
  /** The migrated PostgreSQL database to copy, or null (then each database is migrated). */
  postgres: string | null
  /** The migrated MariaDB database and the statements that make a copy of its schema, or null. */
  mysql: MysqlTemplate | null
}

export interface MysqlTemplate {
  database: string
  /** `CREATE TABLE` statements of every table, run with foreign key checks off (their order does not matter then). */
  tables: string[]
  /** Tables with rows after the migrations, and the columns to copy (generated columns are computed, not copied). */
  rows: Array<{ table: string; columns: string[] }>
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

/**
 * Creates and migrates a template on `engine`: its entry of `ServerTemplates` (a database name on PostgreSQL, the
 * schema to replay on MariaDB), with the function that drops it at the end of the run.
 */
export async function makeServerTemplate(engine: Exclude<Engine, 'pglite'>): Promise<{ template: Partial<ServerTemplates>; drop: () => Promise<void> }> {
  const name = `wa_tpl_${process.pid}_${randomBytes(4).toString('hex')}`
  if (engine === 'postgres') {
    await createPostgres(name)
    // Migrated and closed: a database with a connection open cannot be copied.
    const db = await openPostgres({ url: withDatabase(TEST_POSTGRES_URL, name), max: 1 })
    try {
      await migrate(db)
    } finally {
      await db.close()
    }
    return { template: { postgres: name }, drop: () => dropPostgres(name) }
  }
  await createMysql(name)
  const db = await openMysql({ url: withDatabase(TEST_MYSQL_URL, name), connectionLimit: 1 })
  try {
    await migrate(db)
    return { template: { mysql: await describeMysqlSchema(db, name) }, drop: () => dropMysql(name) }
  } finally {
    await db.close()
  }
}

async function describeMysqlSchema(db: Db, database: string): Promise<MysqlTemplate> {
  const tables = (
    await db.query<{ name: string }>(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`,
      [database],
    )
  ).map((r) => String(r.name))
  const creates: string[] = []
  const rows: MysqlTemplate['rows'] = []
  for (const table of tables) {
    const [shown] = await db.query<Record<string, string>>(`SHOW CREATE TABLE \`${table}\``)
    creates.push(String(shown!['Create Table']))
    const [count] = await db.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM \`${table}\``)
    if (Number(count!.n) === 0) continue
    const columns = await db.query<{ name: string }>(
      `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND (GENERATION_EXPRESSION IS NULL OR GENERATION_EXPRESSION = '')
        ORDER BY ORDINAL_POSITION`,
      [database, table],
    )
    rows.push({ table, columns: columns.map((c) => String(c.name)) })
  }
  return { database, tables: creates, rows }
}

/** Makes the schema and rows of `template` in the empty database `name`. */
export async function copyMysqlTemplate(template: MysqlTemplate, name: string): Promise<void> {
  const db = await openMysql({ url: withDatabase(TEST_MYSQL_URL, name), connectionLimit: 1 })
  try {
    // One connection: the session variable holds for every statement below.
    await db.execute('SET FOREIGN_KEY_CHECKS = 0')
    for (const create of template.tables) await db.execute(create)
    for (const { table, columns } of template.rows) {
      const list = columns.map((c) => `\`${c}\``).join(', ')
      await db.execute(`INSERT INTO \`${table}\` (${list}) SELECT ${list} FROM \`${template.database}\`.\`${table}\``)
    }
  } finally {
    await db.close()
  }
}

/** An empty database `name` on PostgreSQL, or a copy of `template` (which must have no connection open). */
export async function createPostgres(name: string, template?: string): Promise<void> {
  const admin = await openPostgres({ url: TEST_POSTGRES_URL, max: 1 })
  try {
    await admin.execute(template ? `CREATE DATABASE "${name}" TEMPLATE "${template}"` : `CREATE DATABASE "${name}"`)
  } finally {
    await admin.close()
  }
}

/** An empty database `name` on MariaDB, in the character set and collation the gateway's migrations expect. */
export async function createMysql(name: string): Promise<void> {
  const admin = await openMysql({ url: TEST_MYSQL_URL, connectionLimit: 1 })
  try {
    await admin.execute(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  } finally {
    await admin.close()
  }
}

export async function dropPostgres(name: string): Promise<void> {
  const a = await openPostgres({ url: TEST_POSTGRES_URL, max: 1 })
  try {
    await a.execute(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  } finally {
    await a.close()
  }
}

export async function dropMysql(name: string): Promise<void> {
  const a = await openMysql({ url: TEST_MYSQL_URL, connectionLimit: 1 })
  try {
    await a.execute(`DROP DATABASE IF EXISTS \`${name}\``)
  } finally {
    await a.close()
  }
}
