import { describe, expect, it } from 'vitest'
import type { Db, Queryable } from '../../db/driver.js'
import {
  LOCK_SESSION_FOR_AUTH_WRITE, getAuthValue, wipeAuthState, writeAuthValues, type AuthFence, type AuthWrite,
} from '../../db/queries/auth-state.js'
import { LeaseLostError, acquireSessionLeases } from '../../db/queries/leases.js'
import { describeEachEngine } from '../support/db.js'
import { expireLease, leaseOnly, ownedSession, ph, uniqueName, waitFor } from '../support/queue-fixtures.js'

/**
 * Auth-state writes are fenced by the session lease (db/queries/auth-state.ts): a runner that lost its lease must not
 * write Signal keys or creds over the new holder's (soak: a rolled-back ratchet made an inbound STOP undecryptable).
 */

const v = (...b: number[]) => new Uint8Array(b)

/** Every auth row of a session as `type/key_id=hex`, sorted: compares the stored state exactly. */
async function snapshot(db: Queryable, session: string): Promise<string[]> {
  const rows = await db.query<{ type: string; key_id: string; value: Uint8Array }>(
    `SELECT type, key_id, value FROM auth_keys WHERE session = ${ph(db, 1)}`, [session],
  )
  return rows.map((r) => `${r.type}/${r.key_id}=${Buffer.from(r.value).toString('hex')}`).sort()
}

/**
 * Whether a fence statement of this database is running (it can only be waiting: the test holds the row it reads).
 * MariaDB can block a primary-key read while optimizing it ("Statistics"), before INNODB_TRX lists it as waiting, so
 * the MySQL side looks at the process list.
 */
async function fenceWaiting(db: Queryable): Promise<boolean> {
  const [row] = await db.query<{ n: unknown }>(
    db.dialect === 'mysql'
      ? `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
          WHERE db = DATABASE() AND id <> CONNECTION_ID() AND info LIKE 'SELECT lease_epoch%SHARE MODE'`
      : `SELECT COUNT(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'SELECT lease_epoch%FOR SHARE'`,
  )
  return Number(row?.n ?? 0) > 0
}

const initial: AuthWrite[] = [
  { type: 'creds', keyId: 'creds', value: v(1, 1) },
  { type: 'session', keyId: '96170000001.0', value: v(2, 1) },
  { type: 'pre-key', keyId: '1', value: v(3, 1) },
]

describeEachEngine('auth state writes fenced by the session lease', (ctx) => {
  /** A session held by runner-a, with its auth state written under that lease, then taken over by runner-b. */
  async function takenOver(): Promise<{ name: string; old: AuthFence; current: AuthFence }> {
    const a = await ownedSession(ctx.db, uniqueName('runner-a'))
    const old = { owner: a.owner, epoch: a.epoch }
    await writeAuthValues(ctx.db, a.name, initial, old)
    await expireLease(ctx.db, a.name)
    const owner = uniqueName('runner-b')
    const epoch = await leaseOnly(ctx.db, a.name, owner)
    expect(epoch).toBe(a.epoch + 1)
    return { name: a.name, old, current: { owner, epoch } }
  }

  it('writes keys and creds under the current owner and epoch, also after the lease expired untaken', async () => {
    const s = await ownedSession(ctx.db, uniqueName('runner'))
    const fence = { owner: s.owner, epoch: s.epoch }
    await writeAuthValues(ctx.db, s.name, initial, fence)
    expect(await snapshot(ctx.db, s.name)).toEqual(['creds/creds=0101', 'pre-key/1=0301', 'session/96170000001.0=0201'])
    // Expired but nobody took it over: this runner is still the latest writer (no lease_until check).
    await expireLease(ctx.db, s.name)
    await writeAuthValues(ctx.db, s.name, [
      { type: 'creds', keyId: 'creds', value: v(1, 2) },
      { type: 'pre-key', keyId: '1', value: null },
    ], fence)
    expect(await snapshot(ctx.db, s.name)).toEqual(['creds/creds=0102', 'session/96170000001.0=0201'])
  })

  it('refuses a key write under the old epoch once another runner took the lease, and writes nothing', async () => {
    const { name, old, current } = await takenOver()
    const before = await snapshot(ctx.db, name)
    const stale = writeAuthValues(ctx.db, name, [
      { type: 'session', keyId: '96170000001.0', value: v(2, 9) }, // the rolled-back ratchet
      { type: 'pre-key', keyId: '1', value: null },
      { type: 'pre-key', keyId: '2', value: v(3, 2) },
    ], old)
    await expect(stale).rejects.toBeInstanceOf(LeaseLostError)
    await expect(stale).rejects.toThrow(`session ${name} is no longer held by runner ${old.owner} under lease epoch ${old.epoch}`)
    expect(await snapshot(ctx.db, name)).toEqual(before)
    // The holder writes; the same runner id under another epoch, or another runner under this epoch, does not.
    await writeAuthValues(ctx.db, name, [{ type: 'session', keyId: '96170000001.0', value: v(2, 2) }], current)
    await expect(writeAuthValues(ctx.db, name, initial, { owner: old.owner, epoch: current.epoch })).rejects.toBeInstanceOf(LeaseLostError)
    await expect(writeAuthValues(ctx.db, name, initial, { owner: current.owner, epoch: old.epoch })).rejects.toBeInstanceOf(LeaseLostError)
    expect(Buffer.from((await getAuthValue(ctx.db, name, 'session', '96170000001.0'))!)).toEqual(Buffer.from([2, 2]))
  })

  it('refuses a creds save under the old epoch, keeping the creds the new holder stored', async () => {
    const { name, old, current } = await takenOver()
    await writeAuthValues(ctx.db, name, [{ type: 'creds', keyId: 'creds', value: v(1, 7) }], current)
    await expect(writeAuthValues(ctx.db, name, [{ type: 'creds', keyId: 'creds', value: v(1, 6) }], old)).rejects.toBeInstanceOf(LeaseLostError)
    expect(Buffer.from((await getAuthValue(ctx.db, name, 'creds', 'creds'))!)).toEqual(Buffer.from([1, 7]))
  })

  it('refuses a wipe under the old epoch; the holder can wipe', async () => {
    const { name, old, current } = await takenOver()
    const before = await snapshot(ctx.db, name)
    await expect(wipeAuthState(ctx.db, name, old)).rejects.toBeInstanceOf(LeaseLostError)
    expect(await snapshot(ctx.db, name)).toEqual(before)
    expect(await wipeAuthState(ctx.db, name, current)).toBe(3)
    expect(await snapshot(ctx.db, name)).toEqual([])
  })

  it('refuses a fenced write for a session that no longer exists; an unfenced write still goes through', async () => {
    const name = uniqueName('gone')
    await expect(writeAuthValues(ctx.db, name, initial, { owner: 'runner-a', epoch: 1 })).rejects.toBeInstanceOf(LeaseLostError)
    expect(await snapshot(ctx.db, name)).toEqual([])
    await writeAuthValues(ctx.db, name, initial)
    expect((await snapshot(ctx.db, name)).length).toBe(3)
  })

  // PGlite has one connection, so no statement can run beside another there: these apply to the server engines only
  // (not registered for PGlite rather than skipped, so a run that skips nothing is a run that ran everything).
  if (ctx.engine !== 'pglite') describe('against concurrent lease statements (server engines)', () => {
    it('a write waiting on a takeover that commits is fenced out, not written', async () => {
      const s = await ownedSession(ctx.db, uniqueName('runner-a'))
      const fence = { owner: s.owner, epoch: s.epoch }
      await writeAuthValues(ctx.db, s.name, initial, fence)
      const before = await snapshot(ctx.db, s.name)
      let outcome: unknown = 'pending'
      let settledBeforeCommit = false
      // The takeover's row lock is held while the old holder's write starts: the fence must wait for it, then see the
      // new epoch. A fence that only read the row would see the committed old epoch and write.
      await ctx.db.transaction(async (tx) => {
        await tx.execute(
          `UPDATE sessions SET owner = 'runner-b', lease_epoch = lease_epoch + 1 WHERE name = ${ph(tx, 1)}`, [s.name],
        )
        const write = writeAuthValues(ctx.db, s.name, [{ type: 'session', keyId: '96170000001.0', value: v(2, 9) }], fence)
        void write.then(() => (outcome = 'written'), (err) => (outcome = err))
        await waitFor(async () => outcome !== 'pending' || (await fenceWaiting(ctx.db)), 4_000)
        settledBeforeCommit = outcome !== 'pending'
      }, { retries: 0 })
      await waitFor(async () => outcome !== 'pending', 5_000)
      expect(settledBeforeCommit).toBe(false)
      expect(outcome).toBeInstanceOf(LeaseLostError)
      expect(await snapshot(ctx.db, s.name)).toEqual(before)
    })

    it('an acquire skips a session held by a fenced write instead of waiting, and takes it afterwards', async () => {
      const s = await ownedSession(ctx.db, uniqueName('runner-a'))
      await expireLease(ctx.db, s.name)
      const other: Db = await ctx.t.openAnother({ poolSize: 2 })
      // Only this session is free, so an acquire that did not skip it would take it.
      const far = ctx.engine === 'mysql' ? "'2999-01-01 00:00:00'" : "'2999-01-01 00:00:00+00'"
      await ctx.db.execute(`UPDATE sessions SET owner = 'parked', lease_until = ${far} WHERE name <> ${ph(ctx.db, 1)} AND lease_until < ${ctx.engine === 'mysql' ? 'NOW(6)' : 'now()'}`, [s.name])
      await ctx.db.transaction(async (tx) => {
        const held = await tx.query(LOCK_SESSION_FOR_AUTH_WRITE[tx.dialect], [s.name, s.owner, s.epoch])
        expect(held.length).toBe(1)
        const t0 = performance.now()
        const taken = await acquireSessionLeases(other, { owner: 'runner-b', ttlSeconds: 30, max: 2, minGapMs: 0 })
        expect(taken.map((l) => l.name)).not.toContain(s.name)
        expect(performance.now() - t0).toBeLessThan(2_000)
      }, { retries: 0 })
      const [taken] = await acquireSessionLeases(other, { owner: 'runner-b', ttlSeconds: 30, max: 2, minGapMs: 0 })
      await ctx.db.execute(`UPDATE sessions SET owner = NULL, lease_until = '1970-01-01 00:00:00' WHERE owner = 'parked'`)
      expect(taken).toEqual({ name: s.name, leaseEpoch: s.epoch + 1 })
    })
  })
})
