import { afterAll, beforeAll, expect, it } from 'vitest'
import { DatabaseUnavailableError, type Db } from '../../db/driver.js'
import { openMysql } from '../../db/drivers/mysql.js'
import { openPostgres } from '../../db/drivers/postgres.js'
import { startTcpProxy, type TcpProxy } from '../runner/tcp-proxy.js'
import { describeEachEngine } from '../support/db.js'

/**
 * A database that goes away (here: a TCP proxy that drops every connection and refuses new ones, as a restart
 * does) must make every call fail fast with DatabaseUnavailableError — the API's 503 — and never hang; a write
 * refused during the outage must not appear later, when the server is back (a late commit after the client gave
 * up and retried is a duplicate message); and the pool must recover by itself.
 */
describeEachEngine(
  'database outage',
  (ctx) => {
    let proxy: TcpProxy
    let db: Db
    beforeAll(async () => {
      const target = new URL(ctx.t.url!)
      proxy = await startTcpProxy(target.hostname, Number(target.port))
      const via = new URL(ctx.t.url!)
      via.port = String(proxy.port)
      db = ctx.engine === 'mysql' ? await openMysql({ url: via.toString(), connectionLimit: 4 }) : await openPostgres({ url: via.toString(), max: 4 })
      await db.query('SELECT 1')
    })
    afterAll(async () => {
      await db?.close().catch(() => {})
      await proxy?.close()
    })

    const insert = (tag: string) =>
      db.execute(
        ctx.engine === 'mysql' ? 'INSERT INTO contacts (phone, name) VALUES (?, ?)' : 'INSERT INTO contacts (phone, name) VALUES ($1, $2)',
        [`96155${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`, tag],
      )

    it('fails every call fast while the server is gone, commits nothing late, and recovers by itself', async () => {
      proxy.outage()
      const started = Date.now()
      const attempts = await Promise.allSettled([
        ...Array.from({ length: 10 }, () => insert('during-outage')),
        ...Array.from({ length: 5 }, () => db.transaction(async (tx) => tx.query('SELECT 1'))),
      ])
      expect(Date.now() - started).toBeLessThan(6_000)
      for (const a of attempts) {
        expect(a.status).toBe('rejected')
        expect((a as PromiseRejectedResult).reason).toBeInstanceOf(DatabaseUnavailableError)
      }
      // Still failing fast a moment later (not queued behind a reconnect).
      const t1 = Date.now()
      await expect(insert('during-outage')).rejects.toBeInstanceOf(DatabaseUnavailableError)
      expect(Date.now() - t1).toBeLessThan(6_000)

      proxy.restore()
      const t2 = Date.now()
      for (;;) {
        try {
          await insert('after-outage')
          break
        } catch (err) {
          expect(err).toBeInstanceOf(DatabaseUnavailableError)
          if (Date.now() - t2 > 15_000) throw new Error('the pool did not recover within 15 s')
          await new Promise((r) => setTimeout(r, 100))
        }
      }
      // Give any write that was secretly queued during the outage time to land, then count.
      await new Promise((r) => setTimeout(r, 1_000))
      const [row] = await ctx.db.query<{ n: number }>(
        ctx.engine === 'mysql' ? "SELECT COUNT(*) AS n FROM contacts WHERE name = 'during-outage'" : "SELECT COUNT(*) AS n FROM contacts WHERE name = 'during-outage'",
      )
      expect(Number(row!.n)).toBe(0)
    }, 60_000)
  },
  { engines: ['postgres', 'mysql'] },
)
