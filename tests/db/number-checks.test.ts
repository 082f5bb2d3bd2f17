/**
 * Single number checks in the database, on every engine (db/queries/number-checks.ts, db/README.md, Number checks):
 * the request row, the runner's fenced answer, the day-long cache, the per-session rate counter shared by every API
 * process, and the expiry of requests and answers.
 */
import { expect, it } from 'vitest'
import {
  answerNumberCheck, countNumberCheck, dropNumberCheck, findNumberChecks, pruneNumberChecks, readNumberCheck, requestNumberCheck,
} from '../../db/queries/number-checks.js'
import { deleteSessionFenced } from '../../db/lifecycle/session-delete.js'
import { describeEachEngine } from '../support/db.js'
import { expireLease, insertSession, ownedSession, ph, setTime, uniqueName } from '../support/queue-fixtures.js'

const PHONE = '96170123456'

describeEachEngine('number checks', (ctx) => {
  const rowCount = async (session: string) =>
    Number((await ctx.db.query(`SELECT COUNT(*) AS n FROM number_checks WHERE session = ${ph(ctx.db, 1)}`, [session]))[0]!.n)

  it('a request is found by the lease holder only, answered once under its lease, and then read as the answer', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    expect(await readNumberCheck(ctx.db, f.name, PHONE)).toBeNull()
    await requestNumberCheck(ctx.db, f.name, PHONE)
    expect(await readNumberCheck(ctx.db, f.name, PHONE)).toEqual({ answered: false, jid: null, error: null })
    expect(await findNumberChecks(ctx.db, f.owner)).toEqual([{ session: f.name, leaseEpoch: f.epoch, phone: PHONE }])
    expect(await findNumberChecks(ctx.db, 'another-runner')).toEqual([])
    // A stale lease (another epoch) cannot answer.
    expect(await answerNumberCheck(ctx.db, { ...f, epoch: f.epoch + 1 }, PHONE, { jid: 'x@s.whatsapp.net' })).toBe(false)
    const fence = { name: f.name, owner: f.owner, epoch: f.epoch }
    expect(await answerNumberCheck(ctx.db, fence, PHONE, { jid: `${PHONE}@s.whatsapp.net` })).toBe(true)
    expect(await readNumberCheck(ctx.db, f.name, PHONE)).toEqual({ answered: true, jid: `${PHONE}@s.whatsapp.net`, error: null })
    // Answered: no longer found, and a second answer changes nothing.
    expect(await findNumberChecks(ctx.db, f.owner)).toEqual([])
    expect(await answerNumberCheck(ctx.db, fence, PHONE, { jid: null })).toBe(false)
    expect((await readNumberCheck(ctx.db, f.name, PHONE))!.jid).toBe(`${PHONE}@s.whatsapp.net`)
    // The answer is cached per session: another session has none.
    const other = await ownedSession(ctx.db, f.owner)
    expect(await readNumberCheck(ctx.db, other.name, PHONE)).toBeNull()
  })

  it('"not on WhatsApp" is an answer (jid null); an error is not a cache entry and is dropped', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    await requestNumberCheck(ctx.db, f.name, '96170000001')
    await requestNumberCheck(ctx.db, f.name, '96170000002')
    expect(await answerNumberCheck(ctx.db, f, '96170000001', { jid: null })).toBe(true)
    expect(await answerNumberCheck(ctx.db, f, '96170000002', { error: 'e'.repeat(500) })).toBe(true)
    expect(await readNumberCheck(ctx.db, f.name, '96170000001')).toEqual({ answered: true, jid: null, error: null })
    expect(await readNumberCheck(ctx.db, f.name, '96170000002')).toEqual({ answered: true, jid: null, error: 'e'.repeat(300) })
    await dropNumberCheck(ctx.db, f.name, '96170000001')
    await dropNumberCheck(ctx.db, f.name, '96170000002')
    expect((await readNumberCheck(ctx.db, f.name, '96170000001'))?.answered).toBe(true)
    expect(await readNumberCheck(ctx.db, f.name, '96170000002')).toBeNull()
  })

  it('an unanswered request is withdrawn by the API, and the runner leaves one older than 10 s alone', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    await requestNumberCheck(ctx.db, f.name, '96170000003')
    await dropNumberCheck(ctx.db, f.name, '96170000003')
    expect(await rowCount(f.name)).toBe(0)
    await requestNumberCheck(ctx.db, f.name, '96170000004')
    await setTime(ctx.db, 'number_checks', 'requested_at', -11_000, `session = ${ph(ctx.db, 1)}`, [f.name])
    expect(await findNumberChecks(ctx.db, f.owner)).toEqual([])
    // A session whose lease ran out is not its former holder's to answer.
    await requestNumberCheck(ctx.db, f.name, '96170000005')
    expect((await findNumberChecks(ctx.db, f.owner)).map((c) => c.phone)).toEqual(['96170000005'])
    await expireLease(ctx.db, f.name)
    expect(await findNumberChecks(ctx.db, f.owner)).toEqual([])
  })

  it('a new request for a phone starts over: the old answer is gone until the runner answers again', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    await requestNumberCheck(ctx.db, f.name, PHONE)
    await answerNumberCheck(ctx.db, f, PHONE, { jid: null })
    await requestNumberCheck(ctx.db, f.name, PHONE)
    expect(await readNumberCheck(ctx.db, f.name, PHONE)).toEqual({ answered: false, jid: null, error: null })
    expect(await rowCount(f.name)).toBe(1)
  })

  it('an answer is served for a day after its request; the prune deletes rows older than that, and only those', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    for (const phone of ['96170000006', '96170000007']) {
      await requestNumberCheck(ctx.db, f.name, phone)
      await answerNumberCheck(ctx.db, f, phone, { jid: `${phone}@s.whatsapp.net` })
    }
    await setTime(ctx.db, 'number_checks', 'requested_at', -(24 * 3600_000 - 60_000), `phone = ${ph(ctx.db, 1)}`, ['96170000006'])
    await setTime(ctx.db, 'number_checks', 'requested_at', -(24 * 3600_000 + 1000), `phone = ${ph(ctx.db, 1)}`, ['96170000007'])
    expect((await readNumberCheck(ctx.db, f.name, '96170000006'))?.answered).toBe(true)
    expect(await readNumberCheck(ctx.db, f.name, '96170000007')).toBeNull()
    // An unanswered request nobody withdrew (its API process died) goes the same way.
    await requestNumberCheck(ctx.db, f.name, '96170000008')
    await setTime(ctx.db, 'number_checks', 'requested_at', -(25 * 3600_000), `phone = ${ph(ctx.db, 1)}`, ['96170000008'])
    expect(await pruneNumberChecks(ctx.db)).toBe(2)
    expect(await rowCount(f.name)).toBe(1)
    expect(await pruneNumberChecks(ctx.db)).toBe(0)
  })

  it('a deleted session takes its checks with it; other sessions keep theirs', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    const other = await ownedSession(ctx.db, f.owner)
    for (const s of [f, other]) {
      await requestNumberCheck(ctx.db, s.name, PHONE)
      await answerNumberCheck(ctx.db, s, PHONE, { jid: null })
    }
    await setTime(ctx.db, 'sessions', 'delete_requested_at', 0, `name = ${ph(ctx.db, 1)}`, [f.name])
    expect(await deleteSessionFenced(ctx.db, f)).toBe(true)
    expect(await rowCount(f.name)).toBe(0)
    expect(await rowCount(other.name)).toBe(1)
  })

  it('counts checks per session within a one-minute window; past the limit it says how long to wait and counts nothing', async () => {
    const a = uniqueName('s')
    const b = uniqueName('s')
    await insertSession(ctx.db, a)
    await insertSession(ctx.db, b)
    for (let i = 0; i < 3; i++) expect(await countNumberCheck(ctx.db, a, 3)).toBe(0)
    const wait = await countNumberCheck(ctx.db, a, 3)
    // Whole seconds left of the window, rounded up (slack for a slow machine between the statements).
    expect(wait).toBeGreaterThanOrEqual(55)
    expect(wait).toBeLessThanOrEqual(60)
    // Another session has its own count.
    expect(await countNumberCheck(ctx.db, b, 3)).toBe(0)
    // 45 s into the window: about 15 s left.
    await setTime(ctx.db, 'sessions', 'check_window_at', -45_000, `name = ${ph(ctx.db, 1)}`, [a])
    const later = await countNumberCheck(ctx.db, a, 3)
    expect(later).toBeGreaterThanOrEqual(11)
    expect(later).toBeLessThanOrEqual(15)
    const [row] = await ctx.db.query(`SELECT check_count FROM sessions WHERE name = ${ph(ctx.db, 1)}`, [a])
    expect(Number(row!.check_count)).toBe(3)
    // The window over, a new one starts with this check.
    await setTime(ctx.db, 'sessions', 'check_window_at', -61_000, `name = ${ph(ctx.db, 1)}`, [a])
    expect(await countNumberCheck(ctx.db, a, 3)).toBe(0)
    expect(await countNumberCheck(ctx.db, a, 3)).toBe(0)
    expect(await countNumberCheck(ctx.db, a, 3)).toBe(0)
    expect(await countNumberCheck(ctx.db, a, 3)).toBeGreaterThan(0)
    // An unknown session counts nothing (the API answers 404 before asking).
    expect(await countNumberCheck(ctx.db, uniqueName('none'), 3)).toBeGreaterThan(0)
  })

  it('concurrent checks from several API processes never count past the limit', async () => {
    const s = uniqueName('s')
    await insertSession(ctx.db, s)
    const others = ctx.engine === 'pglite' ? [] : await Promise.all([1, 2].map(() => ctx.t.openAnother({ poolSize: 4 })))
    try {
      const pools = [ctx.db, ...others]
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => countNumberCheck(pools[i % pools.length]!, s, 10)))
      expect(results.filter((w) => w === 0)).toHaveLength(10)
      expect(results.filter((w) => w > 0)).toHaveLength(14)
    } finally {
      await Promise.all(others.map((o) => o.close()))
    }
  })
})
