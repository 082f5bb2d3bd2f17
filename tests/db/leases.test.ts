import { describe, expect, it } from 'vitest'
import type { Db } from '../../db/driver.js'
import { acquireSessionLeases, expireAllLeases, pauseSession, releaseLease, renewLeases, unpauseExpired } from '../../db/queries/leases.js'
import { deleteRunner, heartbeatRunner, registerRunner } from '../../db/queries/runners.js'
import { clearReconnectRequest, reportSessionState, findSessionRequests } from '../../db/queries/session-reports.js'
import { deleteSessionFenced } from '../../db/lifecycle/session-delete.js'
import { claimNextMessage } from '../../db/lifecycle/claim.js'
import { finalizeSent } from '../../db/lifecycle/settle.js'
import { describeEachEngine } from '../support/db.js'
import {
  dbNow, expireLease, fakeWaId, getMessage, leaseOnly, getSession, insertMessage, insertSession, insertSessions, msBetween, ph,
  setTime, uniqueName, waitFor,
} from '../support/queue-fixtures.js'

describeEachEngine('runners and session leases', (ctx) => {
  describe('runner registration', () => {
    it('registers a runner under a fresh UUID and heartbeats it', async () => {
      const id = await registerRunner(ctx.db, { host: 'host-a', pid: 123 })
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
      await setTime(ctx.db, 'runners', 'heartbeat_at', -60_000, `id = ${ph(ctx.db, 1)}`, [id])
      expect(await heartbeatRunner(ctx.db, id)).toBe(true)
      const [row] = await ctx.db.query<{ heartbeat_at: Date; started_at: Date }>(
        `SELECT heartbeat_at, started_at FROM runners WHERE id = ${ph(ctx.db, 1)}`, [id],
      )
      expect(Math.abs(msBetween(row!.heartbeat_at, await dbNow(ctx.db)))).toBeLessThan(5_000)
    })

    it('reports a heartbeat of a deleted runner as false, and deletes only once', async () => {
      const id = await registerRunner(ctx.db, { host: 'host-b', pid: 1 })
      expect(await deleteRunner(ctx.db, id)).toBe(true)
      expect(await deleteRunner(ctx.db, id)).toBe(false)
      expect(await heartbeatRunner(ctx.db, id)).toBe(false)
    })
  })

  describe('acquireSessionLeases', () => {
    it('takes at most `max` free sessions, bumps their epochs and marks them connecting', async () => {
      const names = [uniqueName('acq'), uniqueName('acq'), uniqueName('acq')]
      await insertSessions(ctx.db, names)
      const owner = uniqueName('runner')
      const before = await dbNow(ctx.db)
      const taken: string[] = []
      for (;;) {
        const got = await acquireSessionLeases(ctx.db, { owner, ttlSeconds: 30, max: 2, minGapMs: 0 })
        expect(got.length).toBeLessThanOrEqual(2)
        if (got.length === 0) break
        taken.push(...got.map((l) => l.name))
        for (const l of got) expect(l.leaseEpoch).toBe(1)
      }
      expect(taken).toEqual(expect.arrayContaining(names))
      for (const name of names) {
        const s = (await getSession(ctx.db, name))!
        expect(s.owner).toBe(owner)
        expect(s.status).toBe('connecting')
        expect(msBetween(before, s.leaseUntil)).toBeGreaterThan(25_000)
      }
    })

    it('takes nothing when max is 0 and rejects a negative max', async () => {
      expect(await acquireSessionLeases(ctx.db, { owner: 'x', ttlSeconds: 30, max: 0, minGapMs: 0 })).toEqual([])
      await expect(acquireSessionLeases(ctx.db, { owner: 'x', ttlSeconds: 30, max: -1, minGapMs: 0 })).rejects.toThrow(RangeError)
    })

    it('never takes a session whose lease is still live', async () => {
      const name = uniqueName('live')
      await insertSession(ctx.db, name)
      await leaseOnly(ctx.db, name, 'runner-a')
      const got = await acquireSessionLeases(ctx.db, { owner: 'runner-b', ttlSeconds: 30, max: 2, minGapMs: 0 })
      expect(got.map((l) => l.name)).not.toContain(name)
      expect((await getSession(ctx.db, name))!.owner).toBe('runner-a')
    })

    it('takes over an expired lease with a higher epoch', async () => {
      const name = uniqueName('expired')
      await insertSession(ctx.db, name)
      const e1 = await leaseOnly(ctx.db, name, 'runner-a')
      await expireLease(ctx.db, name)
      const e2 = await leaseOnly(ctx.db, name, 'runner-b')
      expect(e2).toBe(e1 + 1)
      const s = (await getSession(ctx.db, name))!
      expect(s.owner).toBe('runner-b')
      expect(s.leaseEpoch).toBe(e2)
    })

    it('takes over a lease that ran out on the database clock (1 s TTL, no manual expiry)', async () => {
      const name = uniqueName('ttl')
      await insertSession(ctx.db, name)
      await ctx.db.execute(`UPDATE sessions SET owner = 'parked', lease_until = ${ctx.db.dialect === 'mysql' ? "'2999-01-01'" : "'2999-01-01+00'"} WHERE name <> ${ph(ctx.db, 1)} AND lease_until < ${ctx.db.dialect === 'mysql' ? 'NOW(6)' : 'now()'}`, [name])
      const [a] = await acquireSessionLeases(ctx.db, { owner: 'runner-a', ttlSeconds: 1, max: 1, minGapMs: 0 })
      expect(a!.name).toBe(name)
      let b: Awaited<ReturnType<typeof acquireSessionLeases>> = []
      await waitFor(async () => {
        b = await acquireSessionLeases(ctx.db, { owner: 'runner-b', ttlSeconds: 30, max: 1, minGapMs: 0 })
        return b.length > 0
      }, 5_000, 50)
      expect(b[0]).toEqual({ name, leaseEpoch: a!.leaseEpoch + 1 })
    })

    it('pushes next_send_at to at least now + the throttle minimum, and never pulls it back', async () => {
      const name = uniqueName('gap')
      await insertSession(ctx.db, name)
      const before = await dbNow(ctx.db)
      await leaseOnly(ctx.db, name, 'runner-a', 5_000)
      const s1 = (await getSession(ctx.db, name))!
      expect(msBetween(before, s1.nextSendAt)).toBeGreaterThanOrEqual(5_000)
      // A later slot already on record stays.
      await setTime(ctx.db, 'sessions', 'next_send_at', 60_000, `name = ${ph(ctx.db, 1)}`, [name])
      const far = (await getSession(ctx.db, name))!.nextSendAt
      await expireLease(ctx.db, name)
      await leaseOnly(ctx.db, name, 'runner-b', 5_000)
      expect((await getSession(ctx.db, name))!.nextSendAt.getTime()).toBe(far.getTime())
    })

    it('keeps the throttle gap across a takeover: the new owner\'s first claim waits', async () => {
      const name = uniqueName('gapx')
      await insertSession(ctx.db, name)
      await insertMessage(ctx.db, { session: name })
      await insertMessage(ctx.db, { session: name })
      const e1 = await leaseOnly(ctx.db, name, 'runner-a')
      const first = await claimNextMessage(ctx.db, { session: name, owner: 'runner-a', epoch: e1, gapMs: 0, optInMode: 'open', newWaId: fakeWaId })
      expect(first.kind).toBe('claimed')
      if (first.kind !== 'claimed') return
      await finalizeSent(ctx.db, { id: first.message.id, session: name, owner: 'runner-a', epoch: e1, minGapMs: 0 })
      await expireLease(ctx.db, name, 1)
      const e2 = await leaseOnly(ctx.db, name, 'runner-b', 3_000)
      const r = await claimNextMessage(ctx.db, { session: name, owner: 'runner-b', epoch: e2, gapMs: 0, optInMode: 'open', newWaId: fakeWaId })
      expect(r.kind).toBe('wait')
      if (r.kind === 'wait') expect(r.waitMs).toBeGreaterThan(2_000)
    })
  })

  describe('renewLeases', () => {
    it('extends live leases and returns what is still held, with epochs', async () => {
      const owner = uniqueName('renewer')
      const [n1, n2] = [uniqueName('ren'), uniqueName('ren')]
      await insertSessions(ctx.db, [n1, n2])
      const e1 = await leaseOnly(ctx.db, n1, owner)
      await setTime(ctx.db, 'sessions', 'lease_until', 2_000, `name = ${ph(ctx.db, 1)}`, [n1])
      const held = await renewLeases(ctx.db, { owner, ttlSeconds: 30 })
      expect(held).toEqual([{ name: n1, leaseEpoch: e1 }])
      expect(msBetween(await dbNow(ctx.db), (await getSession(ctx.db, n1))!.leaseUntil)).toBeGreaterThan(25_000)
    })

    it('never revives an expired lease', async () => {
      const owner = uniqueName('renewer')
      const name = uniqueName('ren')
      await insertSession(ctx.db, name)
      await leaseOnly(ctx.db, name, owner)
      await expireLease(ctx.db, name)
      expect(await renewLeases(ctx.db, { owner, ttlSeconds: 30 })).toEqual([])
      const s = (await getSession(ctx.db, name))!
      expect(s.leaseUntil.getTime()).toBeLessThan((await dbNow(ctx.db)).getTime())
    })

    it('stamps last_seen on the online sessions it renews, and only on them', async () => {
      const owner = uniqueName('renewer')
      const [on, connecting, lost] = [uniqueName('ren'), uniqueName('ren'), uniqueName('ren')]
      await insertSessions(ctx.db, [on, connecting, lost])
      const eOn = await leaseOnly(ctx.db, on, owner)
      await leaseOnly(ctx.db, connecting, owner)
      const eLost = await leaseOnly(ctx.db, lost, owner)
      expect(await reportSessionState(ctx.db, { name: on, owner, epoch: eOn, status: 'online' })).toBe(true)
      expect(await reportSessionState(ctx.db, { name: lost, owner, epoch: eLost, status: 'online' })).toBe(true)
      await setTime(ctx.db, 'sessions', 'last_seen', -60_000, `name IN (${ph(ctx.db, 1)}, ${ph(ctx.db, 2)})`, [on, lost])
      await expireLease(ctx.db, lost)
      const held = await renewLeases(ctx.db, { owner, ttlSeconds: 30 })
      expect(held.map((l) => l.name).sort()).toEqual([on, connecting].sort())
      const now = await dbNow(ctx.db)
      expect(Math.abs(msBetween((await getSession(ctx.db, on))!.lastSeen!, now))).toBeLessThan(5_000)
      expect((await getSession(ctx.db, connecting))!.lastSeen).toBeNull()
      // An expired lease is neither renewed nor shown as seen: its runner fences it.
      expect(msBetween((await getSession(ctx.db, lost))!.lastSeen!, now)).toBeGreaterThan(50_000)
    })

    it('drops a session another runner took over', async () => {
      const name = uniqueName('ren')
      await insertSession(ctx.db, name)
      await leaseOnly(ctx.db, name, 'old-owner')
      await expireLease(ctx.db, name)
      const e2 = await leaseOnly(ctx.db, name, 'new-owner')
      expect(await renewLeases(ctx.db, { owner: 'old-owner', ttlSeconds: 30 })).toEqual([])
      expect(await renewLeases(ctx.db, { owner: 'new-owner', ttlSeconds: 30 })).toContainEqual({ name, leaseEpoch: e2 })
    })
  })

  describe('releaseLease and expireAllLeases', () => {
    it('releases a held lease so another runner can take it at once, with the next epoch', async () => {
      const name = uniqueName('rel')
      await insertSession(ctx.db, name)
      const e1 = await leaseOnly(ctx.db, name, 'runner-a')
      expect(await releaseLease(ctx.db, { name, owner: 'runner-a', epoch: e1 })).toBe(true)
      const s = (await getSession(ctx.db, name))!
      expect(s.owner).toBeNull()
      expect(s.status).toBe('offline')
      expect(s.leaseUntil.toISOString()).toBe('1970-01-01T00:00:00.000Z')
      expect(await leaseOnly(ctx.db, name, 'runner-b')).toBe(e1 + 1)
    })

    it('refuses to release with a stale epoch or another owner', async () => {
      const name = uniqueName('rel')
      await insertSession(ctx.db, name)
      const e = await leaseOnly(ctx.db, name, 'runner-a')
      expect(await releaseLease(ctx.db, { name, owner: 'runner-a', epoch: e - 1 })).toBe(false)
      expect(await releaseLease(ctx.db, { name, owner: 'runner-x', epoch: e })).toBe(false)
      expect((await getSession(ctx.db, name))!.owner).toBe('runner-a')
    })

    it('expires every lease on record (PGlite startup), marks those sessions offline, and keeps the epochs for the next acquire to bump', async () => {
      const name = uniqueName('all')
      await insertSession(ctx.db, name)
      const e = await leaseOnly(ctx.db, name, 'runner-a')
      await reportSessionState(ctx.db, { name, owner: 'runner-a', epoch: e, status: 'online' })
      expect(await expireAllLeases(ctx.db)).toBeGreaterThanOrEqual(1)
      expect((await getSession(ctx.db, name))!.status).toBe('offline')
      const [{ n }] = (await ctx.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM sessions WHERE owner IS NOT NULL')) as [{ n: number }]
      expect(Number(n)).toBe(0)
      expect((await getSession(ctx.db, name))!.leaseEpoch).toBe(e)
      expect(await leaseOnly(ctx.db, name, 'runner-b')).toBe(e + 1)
    })
  })

  describe('fenced session-state writes', () => {
    it('reports status, phone, QR and detail, stamping last_seen when online', async () => {
      const name = uniqueName('state')
      await insertSession(ctx.db, name)
      const epoch = await leaseOnly(ctx.db, name, 'runner-a')
      const fence = { name, owner: 'runner-a', epoch }
      expect(await reportSessionState(ctx.db, { ...fence, status: 'connecting', qrCode: 'data:image/png;base64,AAAA', qr: '2@abc' })).toBe(true)
      let s = (await getSession(ctx.db, name))!
      expect([s.status, s.qrCode, s.qr, s.lastSeen]).toEqual(['connecting', 'data:image/png;base64,AAAA', '2@abc', null])
      expect(await reportSessionState(ctx.db, { ...fence, status: 'online', phone: '96171000000' })).toBe(true)
      s = (await getSession(ctx.db, name))!
      expect([s.status, s.phone, s.qrCode, s.qr, s.detail]).toEqual(['online', '96171000000', null, null, null])
      expect(s.lastSeen).not.toBeNull()
      expect(await reportSessionState(ctx.db, { ...fence, status: 'offline', detail: 'logged_out' })).toBe(true)
      s = (await getSession(ctx.db, name))!
      expect([s.status, s.phone, s.detail]).toEqual(['offline', '96171000000', 'logged_out'])
    })

    it('writes nothing without the current owner and epoch', async () => {
      const name = uniqueName('state')
      await insertSession(ctx.db, name)
      const epoch = await leaseOnly(ctx.db, name, 'runner-a')
      expect(await reportSessionState(ctx.db, { name, owner: 'runner-a', epoch: epoch - 1, status: 'online' })).toBe(false)
      expect(await reportSessionState(ctx.db, { name, owner: 'runner-b', epoch, status: 'online' })).toBe(false)
      const s = (await getSession(ctx.db, name))!
      expect(s.status).toBe('connecting')
      expect(s.lastSeen).toBeNull()
    })

    it('rejects an unknown status before touching the database', async () => {
      await expect(
        reportSessionState(ctx.db, { name: 'default', owner: 'x', epoch: 1, status: 'sleeping' as never }),
      ).rejects.toThrow(RangeError)
    })
  })

  describe('commands from the API', () => {
    it('lists owned sessions with a reconnect or delete requested, and only those', async () => {
      const owner = uniqueName('cmd')
      const [quiet, rec, del] = [uniqueName('q'), uniqueName('r'), uniqueName('d')]
      await insertSessions(ctx.db, [quiet, rec, del])
      const eq = await leaseOnly(ctx.db, quiet, owner)
      const er = await leaseOnly(ctx.db, rec, owner)
      const ed = await leaseOnly(ctx.db, del, owner)
      expect(eq).toBeGreaterThan(0)
      await setTime(ctx.db, 'sessions', 'reconnect_requested_at', 0, `name = ${ph(ctx.db, 1)}`, [rec])
      await setTime(ctx.db, 'sessions', 'delete_requested_at', 0, `name = ${ph(ctx.db, 1)}`, [del])
      const cmds = (await findSessionRequests(ctx.db, owner)).commands
      expect(cmds.map((c) => c.name).sort()).toEqual([rec, del].sort())
      const r = cmds.find((c) => c.name === rec)!
      expect(r.leaseEpoch).toBe(er)
      expect(r.reconnectRequestedAt).toBeInstanceOf(Date)
      expect(r.deleteRequestedAt).toBeNull()
      expect(cmds.find((c) => c.name === del)!.leaseEpoch).toBe(ed)
      expect((await findSessionRequests(ctx.db, 'someone-else')).commands).toEqual([])
    })

    it('takes a reconnect request once: clearing it again reports false', async () => {
      const name = uniqueName('rc')
      await insertSession(ctx.db, name)
      const epoch = await leaseOnly(ctx.db, name, 'runner-a')
      await setTime(ctx.db, 'sessions', 'reconnect_requested_at', 0, `name = ${ph(ctx.db, 1)}`, [name])
      expect(await clearReconnectRequest(ctx.db, { name, owner: 'runner-b', epoch })).toBe(false)
      expect(await clearReconnectRequest(ctx.db, { name, owner: 'runner-a', epoch })).toBe(true)
      expect(await clearReconnectRequest(ctx.db, { name, owner: 'runner-a', epoch })).toBe(false)
      expect((await getSession(ctx.db, name))!.reconnectRequestedAt).toBeNull()
    })

    it('deletes a session whose delete was requested, wiping its auth keys and failing its pending messages', async () => {
      const name = uniqueName('del')
      const other = uniqueName('keep')
      await insertSessions(ctx.db, [name, other])
      const epoch = await leaseOnly(ctx.db, name, 'runner-a')
      const p = (n: number) => ph(ctx.db, n)
      for (const s of [name, other]) {
        await ctx.db.execute(`INSERT INTO auth_keys (session, type, key_id, value) VALUES (${p(1)}, 'creds', 'k', ${p(2)})`, [s, Buffer.from([1, 2, 3])])
      }
      const pending = await insertMessage(ctx.db, { session: name })
      expect(await deleteSessionFenced(ctx.db, { name, owner: 'runner-a', epoch })).toBe(false) // no request yet
      await setTime(ctx.db, 'sessions', 'delete_requested_at', 0, `name = ${p(1)}`, [name])
      expect(await deleteSessionFenced(ctx.db, { name, owner: 'runner-a', epoch: epoch + 1 })).toBe(false) // stale epoch
      expect(await getSession(ctx.db, name)).not.toBeNull()
      expect(await deleteSessionFenced(ctx.db, { name, owner: 'runner-a', epoch })).toBe(true)
      expect(await getSession(ctx.db, name)).toBeNull()
      const keys = await ctx.db.query<{ session: string }>('SELECT session FROM auth_keys')
      expect(keys.map((k) => k.session)).toContain(other)
      expect(keys.map((k) => k.session)).not.toContain(name)
      const m = await getMessage(ctx.db, pending)
      expect([m.status, m.error]).toEqual(['failed', 'session deleted'])
    })

    it('never deletes the default session, even when asked', async () => {
      await expireLease(ctx.db, 'default')
      const epoch = await leaseOnly(ctx.db, 'default', 'runner-a')
      await setTime(ctx.db, 'sessions', 'delete_requested_at', 0, `name = 'default'`)
      expect(await deleteSessionFenced(ctx.db, { name: 'default', owner: 'runner-a', epoch })).toBe(false)
      expect(await getSession(ctx.db, 'default')).not.toBeNull()
      await ctx.db.execute(`UPDATE sessions SET delete_requested_at = NULL WHERE name = 'default'`)
    })
  })

  describe('pauses', () => {
    it('pauses an owned session, only ever lengthening the pause', async () => {
      const name = uniqueName('pause')
      await insertSession(ctx.db, name)
      const epoch = await leaseOnly(ctx.db, name, 'runner-a')
      const fence = { name, owner: 'runner-a', epoch }
      const now = await dbNow(ctx.db)
      expect(await pauseSession(ctx.db, { ...fence, seconds: 3600, detail: 'restricted' })).toBe(true)
      const s1 = (await getSession(ctx.db, name))!
      expect(msBetween(now, s1.pausedUntil!)).toBeGreaterThanOrEqual(3_599_000)
      expect(s1.detail).toBe('restricted')
      expect(await pauseSession(ctx.db, { ...fence, seconds: 60, detail: 'restricted' })).toBe(true)
      expect((await getSession(ctx.db, name))!.pausedUntil!.getTime()).toBe(s1.pausedUntil!.getTime())
      expect(await pauseSession(ctx.db, { ...fence, epoch: epoch + 1, seconds: 60, detail: 'x' })).toBe(false)
    })

    it('makes the claim wait while paused', async () => {
      const name = uniqueName('pause')
      await insertSession(ctx.db, name)
      await insertMessage(ctx.db, { session: name })
      const epoch = await leaseOnly(ctx.db, name, 'runner-a')
      await pauseSession(ctx.db, { name, owner: 'runner-a', epoch, seconds: 3600, detail: 'restricted' })
      const r = await claimNextMessage(ctx.db, { session: name, owner: 'runner-a', epoch, gapMs: 0, optInMode: 'open', newWaId: fakeWaId })
      expect(r).toEqual({ kind: 'wait', waitMs: 60_000 })
    })

    it('clears a pause that has run out, and leaves a running one alone', async () => {
      const name = uniqueName('unpause')
      await insertSession(ctx.db, name)
      const epoch = await leaseOnly(ctx.db, name, 'runner-a')
      const fence = { name, owner: 'runner-a', epoch }
      await pauseSession(ctx.db, { ...fence, seconds: 3600, detail: 'restricted' })
      expect(await unpauseExpired(ctx.db, fence)).toBe(false)
      await setTime(ctx.db, 'sessions', 'paused_until', -1_000, `name = ${ph(ctx.db, 1)}`, [name])
      expect(await unpauseExpired(ctx.db, { ...fence, owner: 'runner-b' })).toBe(false)
      expect(await unpauseExpired(ctx.db, fence)).toBe(true)
      const s = (await getSession(ctx.db, name))!
      expect([s.pausedUntil, s.detail]).toEqual([null, null])
    })
  })
})

describeEachEngine('lease contention', (ctx) => {
  it('never lets two claimants hold one session (8 concurrent acquirers, separate pools on server engines)', async () => {
    const names = Array.from({ length: 12 }, () => uniqueName('contend'))
    await insertSessions(ctx.db, names)
    // Leave only these 12 (and default) acquirable.
    const dbs: Db[] = ctx.engine === 'pglite' ? Array(8).fill(ctx.db) : await Promise.all(Array.from({ length: 8 }, () => ctx.t.openAnother({ poolSize: 2 })))
    const results = await Promise.all(
      dbs.map(async (db, i) => {
        const mine: { name: string; leaseEpoch: number }[] = []
        for (let round = 0; round < 4; round++) mine.push(...(await acquireSessionLeases(db, { owner: `c${i}`, ttlSeconds: 30, max: 2, minGapMs: 0 })))
        return mine.map((l) => ({ ...l, owner: `c${i}` }))
      }),
    )
    const all = results.flat().filter((l) => names.includes(l.name))
    // Each session taken exactly once, and the database agrees on who holds it.
    expect(all.map((l) => l.name).sort()).toEqual([...names].sort())
    for (const l of all) {
      const s = (await getSession(ctx.db, l.name))!
      expect(s.owner).toBe(l.owner)
      expect(s.leaseEpoch).toBe(l.leaseEpoch)
    }
  })
})
