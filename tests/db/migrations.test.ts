import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import type { Db } from '../../db/driver.js'
import { currentSchemaVersion, loadMigrations, migrate } from '../../db/migrate.js'
import { LATEST_MIGRATION } from '../../db/migrations/versions.js'
import { createTestDatabase, describeEachEngine } from '../support/db.js'

const DIR = fileURLToPath(new URL('../../db/migrations/', import.meta.url))

describe('migration files', () => {
  it('number both dialects alike, and LATEST_MIGRATION is the newest', () => {
    const versions = (d: string) => readdirSync(`${DIR}${d}`).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort()
    expect(versions('mysql')).toEqual(versions('postgres'))
    expect(Math.max(...loadMigrations('mysql').map((m) => m.version))).toBe(LATEST_MIGRATION)
    expect(Math.max(...loadMigrations('postgres').map((m) => m.version))).toBe(LATEST_MIGRATION)
  })
})

describeEachEngine('migrations', (ctx) => {
  it('brings a fresh database to LATEST_MIGRATION, and a second run applies nothing', async () => {
    expect(await currentSchemaVersion(ctx.db)).toBe(LATEST_MIGRATION)
    expect(await migrate(ctx.db)).toEqual([])
    expect(await migrate(ctx.db)).toEqual([])
    expect(await currentSchemaVersion(ctx.db)).toBe(LATEST_MIGRATION)
  })

  it('runs from several pools at once on an empty database without error, applying each version once', async () => {
    const fresh = await createTestDatabase(ctx.engine, { migrate: false })
    try {
      // PGlite has one connection: its concurrent callers share it and are serialized by its mutex.
      const pools: Db[] = ctx.engine === 'pglite' ? [fresh.db, fresh.db, fresh.db, fresh.db] : [fresh.db, ...(await Promise.all([1, 2, 3].map(() => fresh.openAnother({ poolSize: 2 }))))]
      const applied = await Promise.all(pools.map((db) => migrate(db)))
      const all = applied.flat().sort((a, b) => a - b)
      // Every file once, in order (numbers may skip: branches reserve theirs, and a gap is harmless).
      expect(all).toEqual(loadMigrations(fresh.db.dialect).map((m) => m.version))
      const rows = await fresh.db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
      expect(rows.map((r) => Number(r.version))).toEqual(all)
      // The schema is usable: the default session exists exactly once.
      const [row] = await fresh.db.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM sessions WHERE name = 'default'`)
      expect(Number(row!.n)).toBe(1)
    } finally {
      await fresh.drop()
    }
  })

  // The server engines' test databases are copies of a template migrated at the start of the run
  // (tests/support/db-templates.ts); PGlite's are migrated each time, so there is nothing to compare there.
  if (ctx.engine === 'pglite') return
  it("a test database copied from the run's migrated template has the schema and rows of one migrated from scratch", async () => {
    const fresh = await createTestDatabase(ctx.engine, { migrate: false })
    try {
      await migrate(fresh.db)
      const copied = await describeSchema(ctx.db)
      expect(copied.tables.length).toBeGreaterThan(15)
      expect(copied).toEqual(await describeSchema(fresh.db))
    } finally {
      await fresh.drop()
    }
  })
})

/** Every table's definition (columns, indexes, constraints) and row count, in a form two databases can be compared by. */
async function describeSchema(db: Db): Promise<{ tables: string[]; definitions: string[]; rows: Record<string, number> }> {
  let tables: string[]
  let definitions: string[]
  if (db.dialect === 'mysql') {
    tables = (await db.query<{ t: string }>(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`)).map((r) => String(r.t))
    definitions = []
    for (const t of tables) {
      const [shown] = await db.query<Record<string, string>>(`SHOW CREATE TABLE \`${t}\``)
      // The next AUTO_INCREMENT value is state, not schema.
      definitions.push(String(shown!['Create Table']).replace(/ AUTO_INCREMENT=\d+/, ''))
    }
  } else {
    tables = (await db.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`)).map((r) => String(r.t))
    const columns = await db.query<Record<string, unknown>>(
      `SELECT table_name, column_name, data_type, column_default, is_nullable, is_generated, generation_expression
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name`,
    )
    const indexes = await db.query<Record<string, unknown>>(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`)
    const constraints = await db.query<Record<string, unknown>>(
      `SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace ORDER BY conrelid::regclass::text, conname`,
    )
    definitions = [...columns, ...indexes, ...constraints].map((r) => JSON.stringify(r))
  }
  const rows: Record<string, number> = {}
  for (const t of tables) rows[t] = Number((await db.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${t}`))[0]!.n)
  return { tables, definitions, rows }
}
