/**
 * `npm start`'s runner (runner/embedded.ts) is the same composition as `npm run runner` (runner/compose.ts): on the
 * API's embedded database it also serves the private /healthz and /metrics port, with the runner's, the
 * maintenance schedule's and the webhook deliverer's series, and stops all of it. (No WhatsApp server listens at the
 * endpoint used here: the default session simply keeps reconnecting, which is all this test needs.)
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listSessions } from '../../db/queries/sessions.js'
import { startEmbeddedRunner } from '../../runner/embedded.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import { freePort } from '../support/free-port.js'
import { testLog, waitFor } from './helpers.js'

describe('the embedded runner (npm start) is the full runner composition', () => {
  let t: TestDatabase
  beforeAll(async () => {
    t = await createTestDatabase('pglite')
  })
  afterAll(async () => {
    await t?.drop()
  })

  it('serves /healthz and /metrics on RUNNER_METRICS_PORT with every service\'s series, and stops them all', async () => {
    const port = await freePort()
    const services = await startEmbeddedRunner({
      db: t.db,
      log: testLog,
      env: {
        RUNNER_METRICS_PORT: String(port),
        AUTH_STATE_KEY: randomBytes(32).toString('hex'),
        // A loopback address where nothing listens: the sockets fail fast instead of reaching out.
        WA_WEBSOCKET_URL: 'ws://127.0.0.1:9/ws/chat',
        WA_LOOPBACK_ROOT_KEY: randomBytes(32).toString('hex'),
        PRINT_QR: '0',
      },
    })
    try {
      expect(services.metricsUrl).toBe(`http://127.0.0.1:${port}`)
      const health = await (await fetch(`${services.metricsUrl}/healthz`)).json()
      expect(health).toMatchObject({ ok: true, runner: services.runner.id })
      await waitFor(async () => (await listSessions(t.db)).some((s) => s.owner === services.runner.id), 10_000, 'the default session leased')
      const text = await (await fetch(`${services.metricsUrl}/metrics`)).text()
      for (const name of [
        'wa_gateway_runner_sessions',
        'wa_gateway_runner_claim_latency_seconds',
        'wa_gateway_maintenance_runs_total',
        'wa_gateway_webhook_deliveries_total',
      ]) {
        expect(text).toContain(`# TYPE ${name} `)
      }
    } finally {
      await services.stop()
    }
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow()
    expect((await listSessions(t.db)).every((s) => s.owner === null)).toBe(true)
  }, 60_000)
})
