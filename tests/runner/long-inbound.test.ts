import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fitInboundBody, INBOUND_BODY_MAX_CHARS } from '../../db/queries/inbound.js'
import { recordInbound } from '../../db/lifecycle/inbound.js'
import { createWebhook } from '../../db/queries/webhook-endpoints.js'
import type { Runner } from '../../runner/runner.js'
import { webhookConfig } from '../../runner/webhooks/config.js'
import { createWebhookDeliverer, type WebhookDeliverer } from '../../runner/webhooks/deliverer.js'
import { createTestDatabase, describeEachEngine, unavailableEngines, type TestDatabase } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { loopbackFactory, newKey, pairSession, startLoopbackServer, startRunner, testLog, waitFor } from './helpers.js'

/**
 * `inbound_messages.body` was TEXT on MySQL (65,535 bytes): a 30,000-character CJK message (90,000 bytes of utf8mb4)
 * failed with error 1406 in strict mode, the runner tried five times and dropped it. Migration 0006 makes the bodies
 * MEDIUMTEXT; here such a message goes from a contact through the loopback WhatsApp server, the real Baileys client
 * and the runner into the store and out through the `message.received` webhook, byte for byte.
 */
const LONG_CJK = Array.from({ length: 30_000 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 7919) % 20_000))).join('')

const missing = unavailableEngines().mysql
const onMysql = missing || !selectedEngines().includes('mysql') ? describe.skip : describe

onMysql('a 30,000-character CJK inbound message on MariaDB (loopback server, real Baileys, runner, webhook)', () => {
  let t: TestDatabase
  let server: LoopbackServer
  let runner: Runner | undefined
  let receiver: WebhookReceiver
  let deliverer: WebhookDeliverer | undefined

  beforeAll(async () => {
    t = await createTestDatabase('mysql')
    server = await startLoopbackServer()
    receiver = await startWebhookReceiver()
  }, 120_000)
  afterAll(async () => {
    await deliverer?.stop()
    await runner?.stop()
    await server?.stop()
    await receiver?.close()
    await t?.drop()
  })

  it('the message columns are MEDIUMTEXT', async () => {
    const rows = await t.db.query<{ t: string; c: string }>(
      `SELECT TABLE_NAME AS t, DATA_TYPE AS c FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'body' ORDER BY TABLE_NAME`,
    )
    expect(rows.map((r) => [String(r.t), String(r.c).toLowerCase()])).toEqual([['inbound_messages', 'mediumtext'], ['messages', 'mediumtext']])
  })

  it('reaches the store and the webhook intact', async () => {
    expect(Buffer.byteLength(LONG_CJK)).toBe(90_000)
    await createWebhook(t.db, { url: `${receiver.url}/wa`, events: ['message.received'], session: null, secret: 'long-inbound-secret-0123456789' })
    runner = await startRunner(t.db, await loopbackFactory(t.db, server, newKey()))
    const own = await pairSession(t.db, server, 'default')
    const contact = '96170300300'
    const { id } = await server.inbound({ from: contact, to: own, text: LONG_CJK })

    const stored = await waitFor(async () => {
      const [row] = await t.db.query<{ body: string }>('SELECT body FROM inbound_messages WHERE wa_message_id = ?', [id])
      return row
    }, 30_000, 'the inbound message stored')
    expect(stored.body.length).toBe(LONG_CJK.length)
    expect(stored.body === LONG_CJK).toBe(true)

    deliverer = createWebhookDeliverer({
      db: t.db, log: testLog, owner: 'long-inbound',
      config: webhookConfig({ pollMs: 50, urlPolicy: { allowHosts: [`127.0.0.1:${receiver.port}`], allowPrivate: false } }),
    })
    deliverer.start()
    const call = await waitFor(() => receiver.calls.find((c) => c.headers['x-event-type'] === 'message.received'), 30_000, 'the message.received call')
    const event = JSON.parse(call.body) as { data: { body: string; wa_message_id: string; phone: string } }
    expect(event.data.wa_message_id).toBe(id)
    expect(event.data.phone).toBe(contact)
    expect(event.data.body === LONG_CJK).toBe(true)
  }, 180_000)
})

describeEachEngine('an inbound body beyond what the gateway stores', (ctx) => {
  it('is stored cut to INBOUND_BODY_MAX_CHARS at once, not retried and dropped (17 MB, past MEDIUMTEXT)', async () => {
    const huge = `STOP ${'界'.repeat(17 * 1024 * 1024 / 3)}`
    expect(Buffer.byteLength(huge)).toBeGreaterThan(16 * 1024 * 1024)
    const phone = '96170300301'
    const started = Date.now()
    const r = await recordInbound(ctx.db, { session: 'default', phone, senderJid: `${phone}@s.whatsapp.net`, body: huge, waMessageId: 'HUGE1', keyword: 'stop' })
    expect(r).toMatchObject({ kind: 'stored', action: 'stop' })
    expect(Date.now() - started).toBeLessThan(30_000)
    const [row] = await ctx.db.query<{ body: string }>(
      ctx.db.dialect === 'mysql' ? 'SELECT body FROM inbound_messages WHERE wa_message_id = ?' : 'SELECT body FROM inbound_messages WHERE wa_message_id = $1',
      ['HUGE1'],
    )
    expect(row!.body.length).toBe(INBOUND_BODY_MAX_CHARS)
    expect(row!.body).toBe(huge.slice(0, INBOUND_BODY_MAX_CHARS))
  }, 60_000)

  it('is never cut inside a surrogate pair', () => {
    const text = `${'a'.repeat(INBOUND_BODY_MAX_CHARS - 1)}😀tail`
    const fitted = fitInboundBody(text)!
    expect(fitted).toBe('a'.repeat(INBOUND_BODY_MAX_CHARS - 1))
    expect(fitInboundBody('short')).toBe('short')
    expect(fitInboundBody(null)).toBeNull()
  })
})
