import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { setContactOptIn } from '../../db/lifecycle/opt-out.js'
import { type DeliveryStatus, getDelivery, listDeliveries, replayDelivery } from '../../db/queries/webhook-deliveries.js'
import { createWebhook } from '../../db/queries/webhook-endpoints.js'
import { webhookConfig, type WebhookConfig } from '../../runner/webhooks/config.js'
import { createWebhookDeliverer, type DeliveryOutcome, type WebhookDeliverer } from '../../runner/webhooks/deliverer.js'
import type { Resolver } from '../../runner/webhooks/http.js'
import { describeEachEngine, type EngineContext } from '../support/db.js'
import { startWebhookReceiver, verifySignature, type WebhookReceiver } from '../support/webhook-receiver.js'
import { testLog, waitFor } from './helpers.js'

/**
 * The deliverer against a real HTTP receiver on 127.0.0.1 (allow-listed, as a self-hosted receiver would be):
 * signatures, retries with a stable event id, the retry window, replay, redirects, timeouts and the SSRF guard.
 */

const SECRET = 'whsec_test_0123456789abcdef'

let phoneSeq = 0
const phone = () => `9619${String(process.pid % 1000).padStart(3, '0')}${String(++phoneSeq).padStart(4, '0')}`

/** A resolver for made-up names, as DNS would answer them. */
const fakeDns = (table: Record<string, string>): Resolver => (hostname, _options, callback) => {
  const address = table[hostname]
  if (!address) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])
  callback(null, [{ address, family: address.includes(':') ? 6 : 4 }])
}

describeEachEngine('webhook deliverer', (ctx: EngineContext) => {
  let receiver: WebhookReceiver
  let deliverer: WebhookDeliverer | null = null
  const outcomes: DeliveryOutcome[] = []

  beforeAll(async () => {
    receiver = await startWebhookReceiver()
  })
  afterAll(async () => {
    await receiver?.close()
  })
  beforeEach(async () => {
    await ctx.db.execute('DELETE FROM webhook_deliveries')
    await ctx.db.execute('DELETE FROM webhooks')
    receiver.calls.length = 0
    receiver.setBehaviour(() => ({ status: 200 }))
    outcomes.length = 0
  })
  afterEach(async () => {
    await deliverer?.stop()
    deliverer = null
  })

  function start(overrides: Partial<WebhookConfig> = {}, extra: { resolver?: Resolver } = {}): WebhookDeliverer {
    const config = webhookConfig({
      timeoutMs: 2000, lockMs: 5000, backoffBaseMs: 20, backoffMaxMs: 200, pollMs: 20,
      urlPolicy: { allowHosts: [`127.0.0.1:${receiver.port}`], allowPrivate: false }, ...overrides,
    })
    deliverer = createWebhookDeliverer({ db: ctx.db, config, log: testLog, owner: 'runner-test', onOutcome: (o) => outcomes.push(o), ...extra })
    deliverer.start()
    return deliverer
  }

  async function hookAndEvent(url = `${receiver.url}/hook`) {
    const hook = await createWebhook(ctx.db, { url, events: ['contact.opted_in'], session: null, secret: SECRET })
    const p = phone()
    await setContactOptIn(ctx.db, p, 'yes')
    const [d] = await listDeliveries(ctx.db, { webhookId: hook.id, limit: 1 })
    return { hook, phone: p, delivery: d! }
  }

  const settled = (id: number, status: DeliveryStatus, ms = 10_000) =>
    waitFor(async () => ((await getDelivery(ctx.db, id))?.status === status ? (await getDelivery(ctx.db, id))! : null), ms, `delivery ${id} ${status}`)

  it('POSTs the event signed with the secret; the receiver verifies it and it is delivered', async () => {
    const { hook, phone: p, delivery } = await hookAndEvent()
    start()
    const done = await settled(delivery.id, 'delivered')
    expect(done).toMatchObject({ attempts: 1, lastStatus: 200, lastError: null })
    expect(receiver.calls).toHaveLength(1)
    const call = receiver.calls[0]!
    expect(call.path).toBe('/hook')
    expect(call.headers['content-type']).toBe('application/json')
    expect(call.headers['x-event-id']).toBe(delivery.eventId)
    expect(call.headers['x-event-type']).toBe('contact.opted_in')
    expect(call.headers['x-webhook-id']).toBe(String(hook.id))
    expect(call.headers['x-delivery-attempt']).toBe('1')
    expect(Math.abs(Number(call.headers['x-timestamp']) - Date.now() / 1000)).toBeLessThan(60)
    expect(verifySignature(SECRET, call)).toBe(true)
    expect(verifySignature('another secret', call)).toBe(false)
    expect(verifySignature(SECRET, { ...call, body: call.body.replace(p, '9610000000') })).toBe(false)
    // A replayed call with an old timestamp fails the receiver's freshness check.
    expect(verifySignature(SECRET, call, 300, Number(call.headers['x-timestamp']) + 3600)).toBe(false)
    const body = JSON.parse(call.body)
    expect(body).toMatchObject({ id: delivery.eventId, type: 'contact.opted_in', data: { phone: p, opt_in: 'yes', source: 'api' } })
    expect(body.created_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    expect(outcomes).toEqual(['delivered'])
  })

  it('a receiver that fails 5 times then recovers gets the event once more, with the same event id and body', async () => {
    receiver.setBehaviour((_c, n) => (n < 5 ? { status: 503 } : { status: 204 }))
    const { delivery } = await hookAndEvent()
    start()
    const done = await settled(delivery.id, 'delivered')
    expect(done).toMatchObject({ attempts: 6, lastStatus: 204 })
    // Nothing more arrives after the success.
    await new Promise((r) => setTimeout(r, 300))
    expect(receiver.calls.map((c) => c.answered)).toEqual([503, 503, 503, 503, 503, 204])
    expect(new Set(receiver.calls.map((c) => c.headers['x-event-id']))).toEqual(new Set([delivery.eventId]))
    expect(new Set(receiver.calls.map((c) => c.body)).size).toBe(1)
    expect(receiver.calls.map((c) => c.headers['x-delivery-attempt'])).toEqual(['1', '2', '3', '4', '5', '6'])
    expect(receiver.calls.every((c) => verifySignature(SECRET, c))).toBe(true)
    expect(outcomes).toEqual(['retry', 'retry', 'retry', 'retry', 'retry', 'delivered'])
  })

  it('gives up after the retry window with the last error, and a replay delivers it', async () => {
    receiver.setBehaviour(() => ({ status: 500 }))
    const { delivery } = await hookAndEvent()
    start({ retryWindowMs: 400, backoffBaseMs: 50, backoffMaxMs: 100 })
    const dead = await settled(delivery.id, 'dead')
    expect(dead.lastStatus).toBe(500)
    // The receiver is private (allow-listed loopback): its status line only, not the body it answered.
    expect(dead.lastError).toBe('HTTP 500 Internal Server Error')
    expect(dead.attempts).toBeGreaterThanOrEqual(2)
    const calls = receiver.calls.length
    expect(calls).toBe(dead.attempts)
    await new Promise((r) => setTimeout(r, 200))
    expect(receiver.calls).toHaveLength(calls)
    receiver.setBehaviour(() => ({ status: 200 }))
    expect(await replayDelivery(ctx.db, delivery.id)).toBe('ok')
    expect(await settled(delivery.id, 'delivered')).toMatchObject({ attempts: 1, lastStatus: 200 })
    expect(receiver.calls.at(-1)!.headers['x-event-id']).toBe(delivery.eventId)
  })

  it('does not follow a redirect, and a receiver that does not answer in time is retried', async () => {
    const other = await startWebhookReceiver()
    try {
      receiver.setBehaviour((_c, n) => (n === 0 ? { status: 302, headers: { Location: `${other.url}/elsewhere` } } : n === 1 ? 'hold' : { status: 200 }))
      const { delivery } = await hookAndEvent()
      start({ timeoutMs: 300, lockMs: 2000 })
      const done = await settled(delivery.id, 'delivered')
      expect(done.attempts).toBe(3)
      expect(other.calls).toHaveLength(0)
      expect(outcomes).toEqual(['retry', 'retry', 'delivered'])
    } finally {
      await other.close()
    }
  })

  it('refuses loopback and private targets unless allow-listed, also when a name resolves to them at connect time', async () => {
    // A literal loopback URL stored without the allow-list (as a row written before the policy changed).
    const literal = await hookAndEvent()
    start({ urlPolicy: { allowHosts: [], allowPrivate: false } }, { resolver: fakeDns({ 'hooks.example.com': '127.0.0.1', 'public.example.com': '127.0.0.1' }) })
    const dead = await settled(literal.delivery.id, 'dead')
    expect(dead.lastError).toMatch(/^refused: the URL targets a non-public address, loopback/)
    expect(dead.attempts).toBe(1)
    // A public-looking name whose DNS answer is loopback: refused by the connect-time check, never called.
    const named = await hookAndEvent(`http://hooks.example.com:${receiver.port}/hook`)
    const dead2 = await settled(named.delivery.id, 'dead')
    expect(dead2.lastError).toMatch(/^refused: hooks\.example\.com resolves to 127\.0\.0\.1, loopback/)
    expect(receiver.calls).toHaveLength(0)
    await deliverer!.stop()
    // The same name, allow-listed: delivered through the same resolver.
    start({ urlPolicy: { allowHosts: [`hooks.example.com:${receiver.port}`], allowPrivate: false } }, { resolver: fakeDns({ 'hooks.example.com': '127.0.0.1' }) })
    expect(await replayDelivery(ctx.db, named.delivery.id)).toBe('ok')
    await settled(named.delivery.id, 'delivered')
    expect(receiver.calls).toHaveLength(1)
    expect(receiver.calls[0]!.headers.host).toBe(`hooks.example.com:${receiver.port}`)
  })
})
