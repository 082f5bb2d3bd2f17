import { expect, it } from 'vitest'
import type { Db, Queryable } from '../../db/driver.js'
import { toId } from '../../db/driver.js'
import {
  claimCronSlot, deleteDeadRunners, findStuckSending, pruneCronRuns, pruneSentMessages, pruneUnreferencedMedia,
  sweepExpiredLeases,
} from '../../db/queries/cron.js'
import { registerRunner } from '../../db/queries/runners.js'
import { describeEachEngine } from '../support/db.js'
import {
  dbNow, expireLease, getMessage, getSession, insertMessage, insertMessages, ownedSession, ph, setTime, uniqueName, waitFor,
} from '../support/queue-fixtures.js'

async function countRows(db: Queryable, table: string, where = '1 = 1', params: unknown[] = []): Promise<number> {
  const [r] = await db.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params)
  return Number(r!.n)
}

async function insertMedia(db: Queryable, createdAgoDays: number): Promise<number> {
  const created = db.dialect === 'mysql' ? `NOW(6) - INTERVAL ${createdAgoDays} DAY` : `now() - ${createdAgoDays} * interval '1 day'`
  const text = `INSERT INTO media (bytes, mime, size, width, height, sha256, created_at)
VALUES (${ph(db, 1)}, 'image/jpeg', 3, 1, 1, ${ph(db, 2)}, ${created})`
  if (db.dialect === 'mysql') return (await db.execute(text, [Buffer.from([1, 2, 3]), 'a'.repeat(64)])).insertId!
  const [r] = await db.query(`${text} RETURNING id`, [Buffer.from([1, 2, 3]), 'a'.repeat(64)])
  return toId(r!.id)
}

async function mediaExists(db: Queryable, id: number): Promise<boolean> {
  return (await countRows(db, 'media', `id = ${ph(db, 1)}`, [id])) === 1
}

describeEachEngine('cron slots', (ctx) => {
  it('lets the first claim of a slot win and refuses the rest, per task', async () => {
    const task = uniqueName('task')
    expect(await claimCronSlot(ctx.db, { task, periodSeconds: 3600, runner: 'r1' })).toBe(true)
    expect(await claimCronSlot(ctx.db, { task, periodSeconds: 3600, runner: 'r2' })).toBe(false)
    expect(await claimCronSlot(ctx.db, { task, periodSeconds: 3600, runner: 'r1' })).toBe(false)
    expect(await claimCronSlot(ctx.db, { task: `${task}_other`, periodSeconds: 3600, runner: 'r2' })).toBe(true)
    const rows = await ctx.db.query<{ slot: Date; runner: string }>(`SELECT slot, runner FROM cron_runs WHERE task = ${ph(ctx.db, 1)}`, [task])
    expect(rows).toHaveLength(1)
    expect(rows[0]!.runner).toBe('r1')
    // The slot is the database's now floored to the period.
    expect(rows[0]!.slot.getTime() % 3_600_000).toBe(0)
    expect(Math.abs((await dbNow(ctx.db)).getTime() - rows[0]!.slot.getTime())).toBeLessThan(3_600_000)
  })

  it('rejects a period that is not a positive whole number of seconds', async () => {
    await expect(claimCronSlot(ctx.db, { task: 'x', periodSeconds: 0, runner: 'r' })).rejects.toThrow(RangeError)
    await expect(claimCronSlot(ctx.db, { task: 'x', periodSeconds: 1.5, runner: 'r' })).rejects.toThrow(RangeError)
  })

  it('runs each slot once across 20 claimants started together, over 5 slots (separate pools on server engines)', async () => {
    const task = uniqueName('race')
    const pools: Db[] = ctx.engine === 'pglite' ? [ctx.db] : await Promise.all(Array.from({ length: 5 }, () => ctx.t.openAnother({ poolSize: 4 })))
    let sideEffects = 0
    for (let round = 0; round < 5; round++) {
      const before = await countRows(ctx.db, 'cron_runs', `task = ${ph(ctx.db, 1)}`, [task])
      // A barrier: every claimant is created first, then all start in the same tick.
      let release!: () => void
      const gate = new Promise<void>((r) => (release = r))
      const claimants = Array.from({ length: 20 }, (_, i) =>
        gate.then(async () => {
          if (await claimCronSlot(pools[i % pools.length]!, { task, periodSeconds: 1, runner: `r${i}` })) sideEffects += 1
        }),
      )
      release()
      await Promise.all(claimants)
      const after = await countRows(ctx.db, 'cron_runs', `task = ${ph(ctx.db, 1)}`, [task])
      // The claimants may straddle a slot boundary, which makes two slots; never two winners for one slot.
      expect(after - before).toBeGreaterThanOrEqual(1)
      expect(sideEffects).toBe(after)
      // Wait for the next 1 s slot on the database clock before the next round.
      const slotNow = Math.floor((await dbNow(ctx.db)).getTime() / 1000)
      await waitFor(async () => Math.floor((await dbNow(ctx.db)).getTime() / 1000) > slotNow, 3_000, 20)
    }
    expect(await countRows(ctx.db, 'cron_runs', `task = ${ph(ctx.db, 1)}`, [task])).toBeGreaterThanOrEqual(5)
  })
})

describeEachEngine('maintenance tasks', (ctx) => {
  it('sweeps leases expired more than the grace period ago, keeping their epochs', async () => {
    const old = await ownedSession(ctx.db, 'runner-a')
    const recent = await ownedSession(ctx.db, 'runner-a')
    const live = await ownedSession(ctx.db, 'runner-a')
    await expireLease(ctx.db, old.name, 11_000)
    await expireLease(ctx.db, recent.name, 5_000)
    expect(await sweepExpiredLeases(ctx.db, 10)).toBe(1)
    const s = (await getSession(ctx.db, old.name))!
    expect([s.owner, s.status, s.detail, s.leaseEpoch]).toEqual([null, 'offline', 'lease expired', old.epoch])
    expect((await getSession(ctx.db, recent.name))!.owner).toBe('runner-a')
    expect((await getSession(ctx.db, live.name))!.owner).toBe('runner-a')
  })

  it('lists sending rows claimed longer ago than the threshold', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const g = await ownedSession(ctx.db, 'runner-a')
    const [stuck, fresh] = [await insertMessage(ctx.db, { session: f.name }), await insertMessage(ctx.db, { session: g.name })]
    const now = ctx.db.dialect === 'mysql' ? 'NOW(6)' : 'now()'
    await ctx.db.execute(`UPDATE messages SET status = 'sending', claimed_by = 'runner-a', claimed_at = ${now} WHERE id IN (${ph(ctx.db, 1)}, ${ph(ctx.db, 2)})`, [stuck, fresh])
    await setTime(ctx.db, 'messages', 'claimed_at', -200_000, `id = ${ph(ctx.db, 1)}`, [stuck])
    const found = await findStuckSending(ctx.db, 120)
    expect(found.map((m) => m.id)).toEqual([stuck])
    expect(found[0]).toMatchObject({ session: f.name, claimedBy: 'runner-a' })
    expect(found[0]!.claimedAt).toBeInstanceOf(Date)
  })

  it('deletes runners whose heartbeat is older than the threshold', async () => {
    const dead = await registerRunner(ctx.db, { host: 'h', pid: 1 })
    const alive = await registerRunner(ctx.db, { host: 'h', pid: 2 })
    await setTime(ctx.db, 'runners', 'heartbeat_at', -121_000, `id = ${ph(ctx.db, 1)}`, [dead])
    expect(await deleteDeadRunners(ctx.db, 120)).toBe(1)
    expect(await countRows(ctx.db, 'runners', `id = ${ph(ctx.db, 1)}`, [dead])).toBe(0)
    expect(await countRows(ctx.db, 'runners', `id = ${ph(ctx.db, 1)}`, [alive])).toBe(1)
  })

  it('deletes cron slot rows older than a week', async () => {
    const old = uniqueName('oldtask')
    const young = uniqueName('youngtask')
    await claimCronSlot(ctx.db, { task: old, periodSeconds: 60, runner: 'r' })
    await claimCronSlot(ctx.db, { task: young, periodSeconds: 60, runner: 'r' })
    await setTime(ctx.db, 'cron_runs', 'slot', -8 * 86_400_000, `task = ${ph(ctx.db, 1)}`, [old])
    expect(await pruneCronRuns(ctx.db, 7)).toBe(1)
    expect(await countRows(ctx.db, 'cron_runs', `task = ${ph(ctx.db, 1)}`, [young])).toBe(1)
  })
})

describeEachEngine('batched pruning', (ctx) => {
  async function sentRows(session: string, count: number, sentAgoDays: number): Promise<number[]> {
    const ids = await insertMessages(ctx.db, Array.from({ length: count }, () => ({ session })))
    for (const id of ids) {
      await ctx.db.execute(`UPDATE messages SET status = 'sent' WHERE id = ${ph(ctx.db, 1)}`, [id])
      await setTime(ctx.db, 'messages', 'sent_at', -sentAgoDays * 86_400_000, `id = ${ph(ctx.db, 1)}`, [id])
    }
    return ids
  }

  it('deletes only sent rows past retention, keeping failed, opted_out, pending and recent sent rows', async () => {
    const session = uniqueName('prune')
    const old = await sentRows(session, 3, 40)
    const recent = await sentRows(session, 2, 10)
    const [failed, optedOut, pending] = await insertMessages(ctx.db, [{ session }, { session }, { session }])
    await ctx.db.execute(`UPDATE messages SET status = 'failed' WHERE id = ${ph(ctx.db, 1)}`, [failed])
    await ctx.db.execute(`UPDATE messages SET status = 'opted_out' WHERE id = ${ph(ctx.db, 1)}`, [optedOut])
    await setTime(ctx.db, 'messages', 'created_at', -90 * 86_400_000, `session = ${ph(ctx.db, 1)}`, [session])
    expect(await pruneSentMessages(ctx.db, { retentionDays: 30, pauseMs: 0 })).toBe(3)
    for (const id of old) await expect(getMessage(ctx.db, id)).rejects.toThrow()
    for (const id of [...recent, failed!, optedOut!, pending!]) expect((await getMessage(ctx.db, id)).id).toBe(id)
  })

  it('stops after maxBatches of batchSize, and the next run continues', async () => {
    const session = uniqueName('batch')
    await sentRows(session, 7, 40)
    expect(await pruneSentMessages(ctx.db, { retentionDays: 30, batchSize: 2, maxBatches: 2, pauseMs: 0 })).toBe(4)
    expect(await countRows(ctx.db, 'messages', `session = ${ph(ctx.db, 1)}`, [session])).toBe(3)
    expect(await pruneSentMessages(ctx.db, { retentionDays: 30, batchSize: 2, maxBatches: 50, pauseMs: 1 })).toBe(3)
    expect(await countRows(ctx.db, 'messages', `session = ${ph(ctx.db, 1)}`, [session])).toBe(0)
  })

  it('deletes old media nobody references, past any referenced old rows, and keeps young media', async () => {
    const session = uniqueName('media')
    const referenced = [await insertMedia(ctx.db, 40), await insertMedia(ctx.db, 40), await insertMedia(ctx.db, 40)]
    for (const mediaId of referenced) {
      const id = await insertMessage(ctx.db, { session, type: 'image', mediaId })
      await ctx.db.execute(`UPDATE messages SET status = 'failed' WHERE id = ${ph(ctx.db, 1)}`, [id])
    }
    const unreferenced = [await insertMedia(ctx.db, 35), await insertMedia(ctx.db, 35)]
    const young = await insertMedia(ctx.db, 1)
    // Batches of 2 with 3 older referenced rows at the head: the run must still reach the unreferenced ones.
    expect(await pruneUnreferencedMedia(ctx.db, { retentionDays: 30, batchSize: 2, pauseMs: 0 })).toBe(2)
    for (const id of unreferenced) expect(await mediaExists(ctx.db, id)).toBe(false)
    for (const id of [...referenced, young]) expect(await mediaExists(ctx.db, id)).toBe(true)
  })
})
