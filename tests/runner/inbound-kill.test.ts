import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getContact } from '../../db/queries/contacts.js'
import { getSession } from '../../db/queries/sessions.js'
import { isBaileysPatched } from '../../runner/whatsapp/baileys-patch.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { pairSession, startLoopbackServer, waitFor } from './helpers.js'
import { authKeyHex, spawnRunner, type RunnerProcess } from './processes.js'

/**
 * Soak finding E: Baileys receipted an inbound message before handing it to the runner, so a runner SIGKILLed in
 * between lost a STOP for good (WhatsApp never delivers a receipted message again). With the install-time patch
 * (runner/whatsapp/baileys-patch.ts) the runner stores the message first. Here the STOP's write is held by a table
 * lock, the runner is killed while waiting on it, and the next runner must receive the STOP again and store it once.
 *
 * PostgreSQL only: `LOCK TABLE … ACCESS EXCLUSIVE` holds exactly the inbound write; the ordering under test is the
 * client's, the same on every engine.
 */
const missing = unavailableEngines().postgres
const d = missing || !selectedEngines().includes('postgres') ? describe.skip : describe

d('a runner killed while storing an inbound STOP (PostgreSQL, runner processes, loopback server)', () => {
  let t: TestDatabase
  let server: LoopbackServer
  const procs: RunnerProcess[] = []
  let env: Record<string, string>
  const contact = '96171555001'

  beforeAll(async () => {
    t = await createTestDatabase('postgres')
    server = await startLoopbackServer()
    env = { ...server.info.env, DATABASE_URL: t.url!, AUTH_STATE_KEY: authKeyHex(), RUNNER_CAPACITY: '1' }
  }, 120_000)
  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL')
    await server?.stop()
    await t?.drop()
  })

  const spawn = () => {
    const p = spawnRunner(env)
    procs.push(p)
    return p
  }
  const waitingOnInboundLock = async () => {
    const rows = await t.db.query<{ n: number }>(
      // This database only: other test files run beside this one on the same server with tables of the same name.
      `SELECT COUNT(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%inbound_messages%'
         AND pid <> pg_backend_pid()`,
    )
    return rows[0]!.n > 0
  }

  it('the installed Baileys carries the patch', () => {
    expect(isBaileysPatched()).toBe(true)
  })

  it('gets the STOP again after the kill and stores it exactly once', async () => {
    const a = spawn()
    const own = await pairSession(t.db, server, 'default')
    await server.inbound({ from: contact, to: own, text: 'hello' })
    await waitFor(async () => (await getContact(t.db, contact))?.optIn === 'yes', 20_000, 'first message stored')

    let release!: () => void
    const released = new Promise<void>((r) => (release = r))
    let locked!: () => void
    const lockHeld = new Promise<void>((r) => (locked = r))
    const holder = t.db.transaction(async (tx) => {
      await tx.execute('LOCK TABLE inbound_messages IN ACCESS EXCLUSIVE MODE')
      locked()
      await released
    })
    await lockHeld
    try {
      const { id } = await server.inbound({ from: contact, to: own, text: 'STOP' })
      await waitFor(waitingOnInboundLock, 20_000, 'the runner writing the STOP')
      a.child.kill('SIGKILL')
      await a.exited
      release()
      await holder

      expect((await getContact(t.db, contact))?.optIn).toBe('yes')
      spawn()
      await waitFor(async () => (await getContact(t.db, contact))?.optIn === 'no', 40_000, 'STOP stored by the next runner')
      const rows = await t.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM inbound_messages WHERE wa_message_id = $1', [id])
      expect(rows[0]!.n).toBe(1)
      await waitFor(() => server.messages(contact).some((m) => /unsubscribed/i.test(m.text ?? '')), 30_000, 'the STOP confirmation')
      expect((await getSession(t.db, 'default'))?.status).toBe('online')
    } finally {
      release()
      await holder.catch(() => undefined)
    }
  }, 180_000)
})
