import { expect, it } from 'vitest'
import { UniqueViolationError, type Queryable } from '../../db/driver.js'
import { openMysql } from '../../db/drivers/mysql.js'
import { describeEachEngine } from '../support/db.js'

const TEXTS = ['مرحبا بك في البوابة', '👋🏽 emoji with skin tone', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 4-byte 😀', 'e\u0301 combining ́ marks', 'عربي 🇱🇧 mixed']

describeEachEngine('driver', (ctx) => {
  const p = (n: number) => (ctx.db.dialect === 'mysql' ? '?' : `$${n}`)

  it('declares its capabilities, the same inside a transaction (a transaction once lost the MariaDB RETURNING)', async () => {
    const [row] = await ctx.db.query<{ v: string }>(ctx.db.dialect === 'mysql' ? 'SELECT VERSION() AS v' : 'SELECT version() AS v')
    const mariadb = /mariadb/i.test(String(row!.v))
    const expected = ctx.db.dialect === 'postgres'
      ? { insertReturning: true, updateReturning: true }
      : { insertReturning: mariadb, updateReturning: false }
    expect(ctx.db.capabilities).toEqual(expected)
    expect(await ctx.db.transaction(async (tx) => tx.capabilities)).toEqual(expected)
  })

  it('reports matched rows for a same-value UPDATE', async () => {
    const r1 = await ctx.db.execute(`UPDATE sessions SET status = 'offline' WHERE name = ${p(1)}`, ['default'])
    expect(r1.affectedRows).toBe(1)
    const r2 = await ctx.db.execute(`UPDATE sessions SET status = 'offline' WHERE name = ${p(1)}`, ['default'])
    expect(r2.affectedRows).toBe(1)
  })

  it('returns ids and counts as JS numbers', async () => {
    const rows = await ctx.db.query<{ n: unknown }>('SELECT COUNT(*) AS n FROM sessions')
    expect(typeof rows[0]!.n).toBe('number')
  })

  it('keeps timestamps in UTC', async () => {
    const [row] = await ctx.db.query<{ t: Date }>(
      ctx.db.dialect === 'mysql' ? "SELECT CAST('2025-05-11 14:00:00' AS DATETIME(6)) AS t" : "SELECT '2025-05-11 14:00:00+00'::timestamptz AS t",
    )
    expect(row!.t).toBeInstanceOf(Date)
    expect(row!.t.toISOString()).toBe('2025-05-11T14:00:00.000Z')
  })

  it('round-trips Arabic, emoji, 4-byte characters and combining marks byte for byte', async () => {
    for (const [i, text] of TEXTS.entries()) {
      const name = `u${i}`
      await ctx.db.execute(`INSERT INTO contacts (phone, name) VALUES (${p(1)}, ${p(2)})`, [`96170000${i}`, text])
      const [row] = await ctx.db.query<{ name: string }>(`SELECT name FROM contacts WHERE phone = ${p(1)}`, [`96170000${i}`])
      expect(Buffer.from(row!.name, 'utf8').equals(Buffer.from(text, 'utf8'))).toBe(true)
      expect(name).toBeTruthy()
    }
  })

  it('translates unique violations', async () => {
    await expect(ctx.db.execute(`INSERT INTO sessions (name) VALUES (${p(1)})`, ['default'])).rejects.toBeInstanceOf(UniqueViolationError)
  })

  it('rolls a transaction back when its function throws', async () => {
    await expect(
      ctx.db.transaction(async (tx) => {
        await tx.execute(`INSERT INTO sessions (name) VALUES (${p(1)})`, ['rolled_back'])
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    const rows = await ctx.db.query(`SELECT name FROM sessions WHERE name = ${p(1)}`, ['rolled_back'])
    expect(rows).toHaveLength(0)
  })
})

describeEachEngine('mysql driver protocols', (ctx) => {
  // A value over 256 KiB goes through the binary protocol (a prepared statement) unless textProtocolOnly is set, as
  // the worker sets it (its bundle has no binary protocol). An array bound to IN (?) tells them apart: the text
  // protocol expands it into a list, the binary protocol sends it as one JSON string.
  const large = Buffer.alloc(300 * 1024, 0x61)
  const probe = async (db: Queryable) => (await db.query<{ n: unknown; hit: unknown }>('SELECT LENGTH(?) AS n, 2 IN (?) AS hit', [large, [1, 2, 3]]))[0]!

  it('sends a large binary value through the binary protocol by default, and through query with textProtocolOnly', async () => {
    expect(Number((await probe(ctx.db)).hit)).toBe(0)
    const textOnly = await openMysql({ url: ctx.t.url!, connectionLimit: 1, textProtocolOnly: true })
    try {
      const row = await probe(textOnly)
      expect(Number(row.n)).toBe(large.length)
      expect(Number(row.hit)).toBe(1)
      expect(Number((await textOnly.transaction((tx) => probe(tx))).hit)).toBe(1)
    } finally {
      await textOnly.close()
    }
  })
}, { engines: ['mysql'] })
