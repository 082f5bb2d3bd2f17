import { expect, it } from 'vitest'
import { currentSchemaVersion, loadMigrations, migrate } from '../../db/migrate.js'
import { LATEST_MIGRATION } from '../../db/migrations/versions.js'
import { describeEachEngine } from '../support/db.js'

describeEachEngine('migrations', (ctx) => {
  it('keeps LATEST_MIGRATION equal to the newest migration file of each dialect', () => {
    for (const dialect of ['mysql', 'postgres'] as const) {
      expect(loadMigrations(dialect).at(-1)?.version).toBe(LATEST_MIGRATION)
    }
  })

  it('has the same migration versions for both dialects', () => {
    const versions = (d: 'mysql' | 'postgres') => loadMigrations(d).map((m) => `${m.version}_${m.name}`)
    expect(versions('mysql')).toEqual(versions('postgres'))
  })

  it('reports the current schema version', async () => {
    expect(await currentSchemaVersion(ctx.db)).toBe(LATEST_MIGRATION)
  })

  it('re-applies every migration that is not recorded without failing on what is already there', async () => {
    // As if each migration had been cut off after its DDL but before it was recorded.
    await ctx.db.execute('DELETE FROM schema_migrations')
    const applied = await migrate(ctx.db)
    expect(applied).toEqual(loadMigrations(ctx.db.dialect).map((m) => m.version))
    expect(await currentSchemaVersion(ctx.db)).toBe(LATEST_MIGRATION)
    const [row] = await ctx.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM sessions WHERE name = 'default'")
    expect(Number(row!.n)).toBe(1)
  })
})
