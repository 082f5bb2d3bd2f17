import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DatabaseUnavailableError, type Db } from '../../db/driver.js'
import { getContact } from '../../db/queries/contacts.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getMessage } from '../../db/queries/messages.js'
import { getSession } from '../../db/queries/sessions.js'
import type { Runner } from '../../runner/runner.js'
import type { WhatsAppClientFactory } from '../../runner/whatsapp/client.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { loopbackFactory, newKey, pairSession, startLoopbackServer, startRunner, testConfig, waitFor } from './helpers.js'

/**
 * Inbound STOP replies must never be lost (tests/soak/README.md, finding C): not when the session comes back to a
 * runner process after another one held it, not when the database is unavailable as the STOP arrives. Two runner
 * "processes" share one database here: each has its own client factory, hence its own key cache, as separate
 * processes do.
 */
describe('inbound STOP through lease moves and a database outage (PGlite, real Baileys, loopback server)', () => {
  let t: TestDatabase
  let server: LoopbackServer
  let flaky: Db
  let down = false
  /** Only statements on inbound_messages fail: the message was decrypted, its write fails, its receipt waits. */
  let inboundDown = false
  /** Statements on inbound_messages refused while `inboundDown`. */
  let refusedInbound = 0
  let factoryA: WhatsAppClientFactory
  let factoryB: WhatsAppClientFactory
  let runner: Runner | null = null
  const key = newKey()
  let own: string

  const unavailable = () => Promise.reject(new DatabaseUnavailableError('injected outage'))
  const failing = (sql: string) => {
    if (down) return true
    if (!inboundDown || !sql.includes('inbound_messages')) return false
    refusedInbound += 1
    return true
  }

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    // Every statement of the runner and of its auth state fails while `down`: the database restarting.
    flaky = {
      ...t.db,
      query: ((sql: string, params?: readonly unknown[]) => (failing(sql) ? unavailable() : t.db.query(sql, params))),
      execute: ((sql: string, params?: readonly unknown[]) => (failing(sql) ? unavailable() : t.db.execute(sql, params))),
      transaction: ((fn, o) =>
        down
          ? unavailable()
          : t.db.transaction(
              (tx) =>
                fn({
                  ...tx,
                  query: ((sql: string, params?: readonly unknown[]) => (failing(sql) ? unavailable() : tx.query(sql, params))),
                  execute: ((sql: string, params?: readonly unknown[]) => (failing(sql) ? unavailable() : tx.execute(sql, params))),
                }),
              o,
            )),
      close: t.db.close.bind(t.db),
    }
    server = await startLoopbackServer()
    factoryA = await loopbackFactory(flaky, server, key)
    factoryB = await loopbackFactory(flaky, server, key)
    runner = await startRunner(flaky, factoryA, testConfig())
    own = await pairSession(t.db, server, 'default')
  }, 90_000)
  afterAll(async () => {
    down = false
    await runner?.stop()
    await server?.stop()
    await t?.drop()
  })

  const online = () => waitFor(async () => (await getSession(t.db, 'default'))?.status === 'online', 30_000, 'default online')
  const sendTo = async (phone: string, body: string) => {
    const r = await enqueueMessage(t.db, { session: 'default', phone, type: 'text', body })
    await waitFor(async () => (await getMessage(t.db, r.id))?.status === 'sent', 20_000, `"${body}" sent`)
    await waitFor(() => server.messages(phone).some((m) => m.text === body), 20_000, `"${body}" decrypted by ${phone}`)
  }
  const stopRecorded = async (phone: string) => {
    await waitFor(async () => (await getContact(t.db, phone))?.optIn === 'no', 30_000, `STOP of ${phone} recorded`)
    await waitFor(() => server.messages(phone).some((m) => /unsubscribed/i.test(m.text ?? '')), 30_000, `confirmation to ${phone}`)
  }

  it('decrypts a STOP after the session went to another runner process and came back', async () => {
    const contacts = ['96172000001', '96172000002', '96172000003']
    // Process A talks with every contact: its key cache now holds their Signal sessions.
    for (const c of contacts) {
      await sendTo(c, `hello ${c} from A`)
      await server.inbound({ from: c, to: own, text: `hi from ${c}` })
    }
    await waitFor(async () => (await getContact(t.db, contacts[2]!))?.optIn === 'yes', 20_000, 'last hi recorded')
    // The session moves to process B, which talks with the same contacts (new ratchet keys)…
    await runner!.stop()
    runner = await startRunner(flaky, factoryB, testConfig())
    await online()
    for (const c of contacts) {
      await sendTo(c, `hello ${c} from B`)
      await server.inbound({ from: c, to: own, text: `hi again from ${c}` })
    }
    await waitFor(async () => (await t.db.query("SELECT 1 FROM inbound_messages WHERE body = 'hi again from 96172000003'")).length > 0, 20_000, 'B read the last hi')
    // …and back to process A, whose cache still remembers the sessions as they were before B.
    await runner.stop()
    runner = await startRunner(flaky, factoryA, testConfig())
    await online()
    // Several contacts STOP in quick succession, between a send and its receipts.
    const r = await enqueueMessage(t.db, { session: 'default', phone: '96172000009', type: 'text', body: 'interleaved' })
    for (const c of contacts) await server.inbound({ from: c, to: own, text: 'STOP' })
    for (const c of contacts) await stopRecorded(c)
    await waitFor(async () => (await getMessage(t.db, r.id))?.status === 'sent', 20_000, 'interleaved send')
    // Nothing ever goes to the session's own number.
    expect(server.messages(own)).toEqual([])
  }, 180_000)

  it('holds back the receipt of an inbound STOP whose write fails, and stores it once the database takes it', async () => {
    const contact = '96172000005'
    await sendTo(contact, 'before the failing writes')
    inboundDown = true
    const refusedBefore = refusedInbound
    const { id } = await server.inbound({ from: contact, to: own, text: 'STOP' })
    // The runner got the STOP and tried to write it (rather than a fixed wait that hopes it did by then).
    await waitFor(() => refusedInbound > refusedBefore, 20_000, 'the STOP write refused')
    expect((await getContact(t.db, contact))?.optIn).not.toBe('no')
    inboundDown = false
    await stopRecorded(contact)
    const rows = await t.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM inbound_messages WHERE wa_message_id = $1', [id])
    expect(rows[0]!.n).toBe(1)
    expect(server.messages(own)).toEqual([])
  }, 120_000)

  it('records a STOP that arrives while the database is unavailable, once it is back', async () => {
    const contact = '96172000004'
    await sendTo(contact, 'before the outage')
    down = true
    await server.inbound({ from: contact, to: own, text: 'STOP' })
    // Longer than the lease (3 s): the runner is fenced and the socket closes during the outage.
    await new Promise((r) => setTimeout(r, 4_000))
    down = false
    await stopRecorded(contact)
    const rows = await t.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM inbound_messages WHERE phone = $1', [contact])
    expect(rows[0]!.n).toBe(1)
    expect(server.messages(own)).toEqual([])
  }, 120_000)
})
