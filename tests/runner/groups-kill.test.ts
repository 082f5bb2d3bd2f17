import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../../db/driver.js'
import { getGroup } from '../../db/queries/groups.js'
import { getMessage } from '../../db/queries/messages.js'
import { getSession } from '../../db/queries/sessions.js'
import { createTestApp } from '../support/app.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { pairSession, startLoopbackServer, waitFor } from './helpers.js'
import { authKeyHex, spawnRunner, type RunnerProcess } from './processes.js'

/**
 * A runner process SIGKILLed while sending to a group (db/README.md, Crash windows; Groups), with real Baileys and the
 * loopback server, as multi-process.test.ts does for a phone: killed right after the claim of the second of three
 * group messages committed (nothing sent yet), or right after its socket write. The other runner takes the session
 * over and every member decrypts every message, each under its row's WhatsApp id only: after the claim exactly once,
 * after the send at most twice and then under the same id (a resend, which a phone shows once).
 */
const ENGINES: { engine: Engine; windows: ('after-claim' | 'after-send')[] }[] = [
  { engine: 'mysql', windows: ['after-claim', 'after-send'] },
  { engine: 'postgres', windows: ['after-claim'] },
]

const ME = '96170125500'
const MEMBERS = ['96170125501', '96170125502', '96170125503']

for (const { engine, windows } of ENGINES) {
  const missing = unavailableEngines()[engine]
  const d = missing || !selectedEngines().includes(engine) ? describe.skip : describe
  d(`a runner killed mid group send, on ${engine}`, () => {
    let t: TestDatabase
    let server: LoopbackServer
    let group: string
    let env: Record<string, string>
    let paired = false
    const procs: RunnerProcess[] = []
    const spawn = (extra: Record<string, string> = {}) => {
      const p = spawnRunner({ ...env, ...extra })
      procs.push(p)
      return p
    }
    const runnerIdOf = (p: RunnerProcess) => waitFor(() => p.lines.find((l) => l.msg === 'runner registered')?.runner as string | undefined, 30_000, 'runner id')
    const linesAbout = (id: number) => procs.flatMap((p) => p.lines.filter((l) => l.id === id))
    /** Claims that found the socket closed sent nothing (multi-process.test.ts): not counted as sends. */
    const offlineRetries = (id: number) =>
      linesAbout(id).filter((l) => l.msg === 'send did not succeed' && (l.outcome as { offline?: boolean } | undefined)?.offline === true).length

    beforeAll(async () => {
      t = await createTestDatabase(engine)
      server = await startLoopbackServer()
      env = { ...server.info.env, DATABASE_URL: t.url!, AUTH_STATE_KEY: authKeyHex() }
      group = (await server.createGroup({ subject: 'Night shift', participants: [ME, ...MEMBERS] })).id
    }, 120_000)
    afterEach((ctx) => {
      if (ctx.task.result?.state !== 'fail') return
      if (process.env.TEST_DUMP) for (const p of procs) console.log(p.lines.filter((l) => Number(l.level) >= 30).map((l) => JSON.stringify(l).slice(0, 400)).join('\n'))
      // A failed test leaves its runners: the next one starts from none (its lease expires in 3 s).
      for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    })
    afterAll(async () => {
      for (const p of procs) p.child.kill('SIGKILL')
      await server?.stop()
      await t?.drop()
    })

    for (const window of windows) {
      it(`SIGKILL ${window} of a group message: taken over, every member gets every message, never under another id`, async () => {
        const a = spawn({ QUEUE_CRASH_AT: window, QUEUE_CRASH_ON: '2' })
        const ida = await runnerIdOf(a)
        if (!paired) {
          await pairSession(t.db, server, 'default', ME)
          paired = true
        }
        await waitFor(async () => {
          const s = await getSession(t.db, 'default')
          return s?.owner === ida && s.status === 'online'
        }, 60_000, 'A holds the session, online')
        await waitFor(async () => (await getGroup(t.db, 'default', group))?.canSend, 20_000, 'the group listed')
        const b = spawn()
        await runnerIdOf(b)

        const api = createTestApp(t.db)
        const ids: number[] = []
        for (let i = 0; i < 3; i++) {
          const res = await api.post('/api/send', { group, message: `${window} ${i}` })
          expect(res.status).toBe(200)
          ids.push(((await res.json()) as { message_id: number }).message_id)
        }
        const exit = await a.exited
        expect(exit.signal, JSON.stringify(exit)).toBe('SIGKILL')

        const rows = await waitFor(async () => {
          const ms = await Promise.all(ids.map((id) => getMessage(t.db, id)))
          return ms.every((m) => m?.status === 'sent') ? ms.map((m) => m!) : null
        }, 45_000, 'every group message sent after the takeover')
        expect(rows.every((r) => r.phone === group)).toBe(true)
        const waIds = new Set(rows.map((r) => r.waMessageId))
        expect(waIds.size).toBe(3)
        const ours = () => server.messages({ group }).filter((m) => m.text?.startsWith(`${window} `))
        await waitFor(() => rows.every((r) => MEMBERS.every((to) => ours().some((m) => m.id === r.waMessageId && m.to === to))), 15_000, 'every row at every member')
        // Every copy a member decrypted carries one of the rows' ids (no second id for a message), and each member got
        // each row once (after the claim nothing had left) or, after the send, at most twice under that same id.
        for (const m of ours()) expect(waIds.has(m.id), JSON.stringify(m)).toBe(true)
        for (const r of rows) {
          for (const to of MEMBERS) {
            const copies = ours().filter((m) => m.id === r.waMessageId && m.to === to).length
            expect(copies, `${r.id} at ${to}`).toBeGreaterThanOrEqual(1)
            expect(copies, `${r.id} at ${to}`).toBeLessThanOrEqual(window === 'after-send' ? 2 : 1)
          }
        }
        // The killed claim was the second message's: B adopted and sent it (a second claim) after the claim window; after the
        // send it was either settled by a member's receipt (one claim) or sent again (two).
        const story = `message ${rows[1]!.id}: attempts ${rows[1]!.attempts}, runner lines ${JSON.stringify(linesAbout(rows[1]!.id))}`
        const sendingClaims = rows[1]!.attempts - offlineRetries(rows[1]!.id)
        if (window === 'after-claim') expect(sendingClaims, story).toBe(2)
        else expect([1, 2], story).toContain(sendingClaims)
        expect((await getSession(t.db, 'default'))!.owner).not.toBe(ida)
        expect((await b.stop()).code).toBe(0)
      }, 150_000)
    }
  })
}
