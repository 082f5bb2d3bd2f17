/**
 * The PGlite databases the tests reuse (tests/support/pglite-pool.ts): a reset one is indistinguishable from a fresh
 * migrated one, a dropped handle refuses every call, and a database whose schema a test changed is not kept.
 */
import { describe, expect, it } from 'vitest'
import type { Db } from '../../db/driver.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { openPglite } from '../../db/drivers/pglite.js'
import { migrate } from '../../db/migrate.js'
import { takePglite } from '../support/pglite-pool.js'

async function snapshot(db: Db): Promise<unknown> {
  const tables = (await db.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)).map((r) => r.t)
  const rows: Record<string, unknown> = {}
  for (const t of tables) rows[t] = (await db.query<{ n: unknown }>(`SELECT count(*) AS n FROM "${t}"`))[0]!.n
  const sequences = await db.query(`SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename`)
  const [stats] = await db.query<{ n: unknown }>(`SELECT count(*) AS n FROM pg_statistic WHERE starelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)`)
  const sessions = await db.query(`SELECT name, status, owner FROM sessions ORDER BY name`)
  return { rows, sequences, stats: Number(stats!.n), sessions }
}

describe('PGlite databases reused between tests', () => {
  const opened: Db[] = []
  const open = async () => {
    const db = await openPglite({ dataDir: 'memory://' })
    await migrate(db)
    opened.push(db)
    return db
  }

  it('gives back a database as a fresh migrated one: rows, identities, statistics; the old handle refuses', async () => {
    const reference = await open()
    const fresh = await snapshot(reference)
    await reference.close()
    const first = await takePglite(open)
    const before = opened.length
    for (let i = 0; i < 3; i++) await enqueueMessage(first.db, { session: 'default', phone: `96170000${i}`, type: 'text', body: 'x' })
    await first.db.execute(`INSERT INTO sessions (name) VALUES ('other')`)
    await first.db.execute('ANALYZE messages')
    await first.db.execute("SET TIME ZONE 'Asia/Beirut'")
    expect(await snapshot(first.db)).not.toEqual(fresh)
    await first.release()
    await expect(first.db.query('SELECT 1')).rejects.toThrow(/dropped/)

    const second = await takePglite(open)
    expect(opened.length).toBe(before) // the same database, not a new one
    expect(await snapshot(second.db)).toEqual(fresh)
    expect((await second.db.query<{ tz: string }>('SHOW TIME ZONE'))[0]).toEqual({ TimeZone: 'UTC' })
    expect(await enqueueMessage(second.db, { session: 'default', phone: '961700009', type: 'text', body: 'y' })).toEqual({ kind: 'created', id: 1 })
    await second.release()
  })

  it('closes a database whose schema a test changed instead of keeping it', async () => {
    const first = await takePglite(open)
    await first.db.execute('CREATE INDEX scratch_idx ON messages (body)')
    await first.release()
    const before = opened.length
    const second = await takePglite(open)
    expect(opened.length).toBe(before + 1)
    await second.release()
  })
})
