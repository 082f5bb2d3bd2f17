import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../../db/driver.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getMessage } from '../../db/queries/messages.js'
import { createSession, getSession, listSessions } from '../../db/queries/sessions.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { pairSession, startLoopbackServer, waitFor } from './helpers.js'
import { authKeyHex, spawnRunner, type RunnerProcess } from './processes.js'
import { startTcpProxy } from './tcp-proxy.js'
import { selectedEngines } from '../support/engines.js'

/**
 * Runner processes (`runner/main.ts`) against MariaDB and PostgreSQL with real Baileys and the loopback server:
 * lease splitting, SIGKILL at each crash window (db/README.md, Crash windows) and a database outage.
 */
const ENGINES: { engine: Engine; windows: ('before-commit' | 'after-claim' | 'after-send')[]; outage: boolean }[] = [
  { engine: 'mysql', windows: ['before-commit', 'after-claim', 'after-send'], outage: false },
  { engine: 'postgres', windows: ['after-send'], outage: true },
]

for (const { engine, windows, outage } of ENGINES) {
  const missing = unavailableEngines()[engine]
  const d = missing || !selectedEngines().includes(engine) ? describe.skip : describe
  d(`runner processes on ${engine}`, () => {
    let t: TestDatabase
    let server: LoopbackServer
    const key = authKeyHex()
    const procs: RunnerProcess[] = []
    const phones = new Map<string, string>()
    let env: Record<string, string>

    const spawn = (extra: Record<string, string> = {}) => {
      const p = spawnRunner({ ...env, ...extra })
      procs.push(p)
      return p
    }
    const ownerOf = async (name: string) => (await getSession(t.db, name))?.owner ?? null
    /** Every runner's log lines that name message `id` (the send loop logs `{ id, attempts, outcome }`). */
    const linesAbout = (id: number) => procs.flatMap((p) => p.lines.filter((l) => l.id === id))
    /** Claims of message `id` that found the socket closed: nothing was sent, the row went back to pending. */
    const offlineRetries = (id: number) =>
      linesAbout(id).filter((l) => l.msg === 'send did not succeed' && (l.outcome as { offline?: boolean } | undefined)?.offline === true).length
    const runnerIdOf = (p: RunnerProcess) => waitFor(() => p.lines.find((l) => l.msg === 'runner registered')?.runner as string | undefined, 30_000, 'runner id')

    beforeAll(async () => {
      t = await createTestDatabase(engine)
      server = await startLoopbackServer()
      env = { ...server.info.env, DATABASE_URL: t.url!, AUTH_STATE_KEY: key }
      for (const name of ['s1', 's2', 's3']) await createSession(t.db, name)
    }, 120_000)
    afterEach(async (ctx) => {
      if (ctx.task.result?.state !== 'fail' || !process.env.TEST_DUMP) return
      console.log(JSON.stringify((await listSessions(t.db)).map((s) => [s.name, s.status, s.owner, s.detail, s.qr?.slice(0, 40)])))
      for (const p of procs) console.log(p.lines.filter((l) => Number(l.level) >= 30).map((l) => JSON.stringify(l).slice(0, 400)).join('\n'))
    })
    afterAll(async () => {
      for (const p of procs) p.child.kill('SIGKILL')
      await server?.stop()
      await t?.drop()
    })

    it('two runners split the sessions, never both hold one, deliver, and stop within 10 s on SIGTERM', async () => {
      const a = spawn({ RUNNER_CAPACITY: '2' })
      const b = spawn({ RUNNER_CAPACITY: '2' })
      const [ida, idb] = await Promise.all([runnerIdOf(a), runnerIdOf(b)])
      // Pair every session from the QR its owner publishes.
      for (const name of ['default', 's1', 's2', 's3']) phones.set(name, await pairSession(t.db, server, name))
      await waitFor(async () => (await listSessions(t.db)).every((s) => s.status === 'online'), 60_000, 'all online')
      const owners = await Promise.all(['default', 's1', 's2', 's3'].map(ownerOf))
      expect(owners.filter((o) => o === ida)).toHaveLength(2)
      expect(owners.filter((o) => o === idb)).toHaveLength(2)
      const inA = new Set(a.acquired())
      expect(b.acquired().filter((s) => inA.has(s))).toEqual([])
      const ids: number[] = []
      for (const name of ['default', 's1', 's2', 's3']) {
        for (let i = 0; i < 2; i++) ids.push((await enqueueMessage(t.db, { session: name, phone: `9617200000${i}`, type: 'text', body: `${name} ${i}` })).id)
      }
      await waitFor(async () => (await Promise.all(ids.map((id) => getMessage(t.db, id)))).every((m) => m?.status === 'sent'), 30_000, 'all sent')
      const waIds = (await Promise.all(ids.map((id) => getMessage(t.db, id)))).map((m) => m!.waMessageId)
      // The row turns `sent` at the socket write; the contact decrypts a moment later.
      await waitFor(() => waIds.every((w) => server.messages().some((m) => m.id === w)), 10_000, 'every message at its contact')
      for (const w of waIds) expect(server.messages().filter((m) => m.id === w)).toHaveLength(1)
      expect((await listSessions(t.db)).some((s) => /conflict/.test(s.detail ?? ''))).toBe(false)
      const started = Date.now()
      const [ea, eb] = await Promise.all([a.stop(), b.stop()])
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(ea.code).toBe(0)
      expect(eb.code).toBe(0)
      expect((await listSessions(t.db)).every((s) => s.owner === null && s.status === 'offline')).toBe(true)
    }, 120_000)

    for (const window of windows) {
      it(`SIGKILL ${window}: the other runner takes over after the lease expires, nothing is lost, any resend has the same id`, async () => {
        const a = spawn({ QUEUE_CRASH_AT: window, QUEUE_CRASH_ON: '2' })
        const ida = await runnerIdOf(a)
        await waitFor(async () => (await listSessions(t.db)).every((s) => s.owner === ida && s.status === 'online'), 60_000, 'A holds all, online')
        const b = spawn()
        await runnerIdOf(b)
        const to = `96173${String(Date.now()).slice(-6)}`
        const ids: number[] = []
        for (let i = 0; i < 4; i++) ids.push((await enqueueMessage(t.db, { session: 'default', phone: to, type: 'text', body: `${window} ${i}` })).id)
        const exit = await a.exited
        expect(exit.signal).toBe('SIGKILL')
        const rows = await waitFor(async () => {
          const ms = await Promise.all(ids.map((id) => getMessage(t.db, id)))
          return ms.every((m) => m?.status === 'sent') ? ms.map((m) => m!) : null
        }, 45_000, 'every message sent after the takeover')
        await waitFor(() => rows.every((r) => server.messages(to).some((m) => m.id === r.waMessageId)), 10_000, 'every row at the contact')
        const received = server.messages(to)
        const dbIds = new Set(rows.map((r) => r.waMessageId))
        // Every copy the contact got carries an id of one of the rows; every row arrived at least once.
        for (const m of received) expect(dbIds.has(m.id)).toBe(true)
        for (const r of rows) {
          const copies = received.filter((m) => m.id === r.waMessageId).length
          expect(copies).toBeGreaterThanOrEqual(1)
          expect(copies).toBeLessThanOrEqual(window === 'after-send' ? 2 : 1)
        }
        // The second claim was the one killed. After the claim it was never written, so the new owner adopts and
        // resends it (attempts 2); after the send it is either settled by a receipt (1) or resent once (2).
        // A claim that found the socket closed sent nothing and was requeued (a loaded machine can drop the new
        // owner's fresh connection); it counts in `attempts` all the same, so it is taken off here.
        const sendingClaims = (r: (typeof rows)[number]) => r.attempts - offlineRetries(r.id)
        const story = (r: (typeof rows)[number]) => `message ${r.id}: attempts ${r.attempts}, runner lines ${JSON.stringify(linesAbout(r.id))}`
        if (window === 'after-claim') expect(sendingClaims(rows[1]!), story(rows[1]!)).toBe(2)
        if (window === 'after-send') expect([1, 2], story(rows[1]!)).toContain(sendingClaims(rows[1]!))
        if (window === 'before-commit') for (const r of rows) expect(sendingClaims(r), story(r)).toBe(1)
        const s = (await getSession(t.db, 'default'))!
        expect(s.owner).not.toBe(ida)
        expect((await b.stop()).code).toBe(0)
      }, 120_000)
    }

    if (outage) {
      it('a database outage mid-run: the runner fences its sessions, waits, then resumes and delivers', async () => {
        const url = new URL(t.url!)
        const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432))
        url.port = String(proxy.port)
        const c = spawn({ DATABASE_URL: url.toString() })
        const idc = await runnerIdOf(c)
        await waitFor(async () => (await listSessions(t.db)).every((s) => s.owner === idc && s.status === 'online'), 60_000, 'C online')
        const to = '96174000001'
        const before = await enqueueMessage(t.db, { session: 'default', phone: to, type: 'text', body: 'before the outage' })
        await waitFor(async () => (await getMessage(t.db, before.id))?.status === 'sent', 20_000, 'sent before')
        proxy.outage()
        // With no renewals the fence closes the sockets before the leases could expire.
        await waitFor(() => server.devices().every((dv) => !dv.connected), 10_000, 'sockets closed by the fence')
        const during = await enqueueMessage(t.db, { session: 'default', phone: to, type: 'text', body: 'during the outage' })
        await new Promise((r) => setTimeout(r, 1500))
        expect(c.child.exitCode).toBeNull()
        proxy.restore()
        await waitFor(async () => (await getMessage(t.db, during.id))?.status === 'sent', 45_000, 'sent after the outage')
        await waitFor(() => server.messages(to).some((m) => m.text === 'during the outage'), 10_000, 'at the contact')
        expect(server.messages(to).filter((m) => m.text === 'during the outage')).toHaveLength(1)
        expect((await c.stop()).code).toBe(0)
        await proxy.close()
      }, 120_000)
    }
  })
}
