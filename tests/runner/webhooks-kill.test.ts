import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../../db/driver.js'
import { setContactOptIn } from '../../db/lifecycle/opt-out.js'
import { getDelivery, listDeliveries } from '../../db/queries/webhook-deliveries.js'
import { createWebhook } from '../../db/queries/webhook-endpoints.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import { startWebhookReceiver, verifySignature, type WebhookReceiver } from '../support/webhook-receiver.js'
import { waitFor } from './helpers.js'
import { authKeyHex, spawnRunner, type RunnerProcess } from './processes.js'

/**
 * A runner process (`runner/main.ts`) SIGKILLed while its webhook call is in flight (the receiver holds the request
 * open) loses nothing: the claim expires and the next runner delivers the same event, under the same id.
 */
for (const engine of ['postgres', 'mysql'] as Engine[]) {
  const missing = unavailableEngines()[engine]
  const d = missing || !selectedEngines().includes(engine) ? describe.skip : describe
  d(`webhook delivery survives a SIGKILL [${engine}]`, () => {
    let t: TestDatabase
    let receiver: WebhookReceiver
    const procs: RunnerProcess[] = []

    beforeAll(async () => {
      t = await createTestDatabase(engine)
      // No session for these runners to pick up: they only deliver webhooks (no WhatsApp connection is made).
      await t.db.execute(`UPDATE sessions SET lease_until = '2999-01-01 00:00:00'`)
      receiver = await startWebhookReceiver((_c, n) => (n === 0 ? 'hold' : { status: 200 }))
    }, 120_000)
    afterAll(async () => {
      for (const p of procs) p.child.kill('SIGKILL')
      await receiver?.close()
      await t?.drop()
    })

    it('delivers the event after the killed runner\'s claim expires', async () => {
      const secret = 'kill-test-secret-0123456789'
      const hook = await createWebhook(t.db, { url: `${receiver.url}/wa`, events: ['contact.opted_out'], session: null, secret })
      await setContactOptIn(t.db, '96170123456', 'no')
      const env = {
        DATABASE_URL: t.url!, AUTH_STATE_KEY: authKeyHex(), MAINTENANCE: 'off',
        WEBHOOK_ALLOW_HOSTS: `127.0.0.1:${receiver.port}`, WEBHOOK_POLL_MS: '100', WEBHOOK_TIMEOUT_MS: '1500', WEBHOOK_LOCK_SECONDS: '2',
      }
      const a = spawnRunner(env)
      procs.push(a)
      await waitFor(() => receiver.calls.length === 1, 30_000, 'the first call to arrive')
      a.child.kill('SIGKILL')
      await a.exited
      const [inFlight] = await listDeliveries(t.db, { webhookId: hook.id, limit: 1 })
      expect(inFlight).toMatchObject({ status: 'delivering', attempts: 1 })
      const b = spawnRunner(env)
      procs.push(b)
      const done = await waitFor(async () => {
        const row = await getDelivery(t.db, inFlight!.id)
        return row?.status === 'delivered' ? row : null
      }, 30_000, 'delivered by the second runner')
      expect(done).toMatchObject({ attempts: 2, lastStatus: 200 })
      expect(receiver.calls).toHaveLength(2)
      expect(receiver.calls.map((c) => c.headers['x-event-id'])).toEqual([inFlight!.eventId, inFlight!.eventId])
      expect(receiver.calls[1]!.answered).toBe(200)
      expect(receiver.calls.every((c) => verifySignature(secret, c))).toBe(true)
      const stopped = await b.stop()
      expect(stopped.code).toBe(0)
    }, 90_000)
  })
}
