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
})
