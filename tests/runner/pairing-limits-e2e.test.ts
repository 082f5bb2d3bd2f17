/**
 * End to end on PGlite: the real runner with real Baileys against the loopback server, driven through the
 * real HTTP API. Pairing by code (the API answers the code the runner got from WhatsApp; the phone enters it), an
 * abandoned pairing leaving no credentials behind, a daily cap holding a session with the reason in /api/status, and
 * the circuit breaker pausing a session after consecutive failures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getAuthValue } from '../../db/queries/auth-state.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getMessage } from '../../db/queries/messages.js'
import { getSession } from '../../db/queries/sessions.js'
import type { Runner } from '../../runner/runner.js'
import { whatsAppWithTestTimers } from '../support/runner-hooks.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { newKey, startLoopbackServer, startRunner, testConfig, waitFor } from './helpers.js'

function patch(api: TestApp, path: string, body: unknown): Promise<Response> {
  return Promise.resolve(api.app.request(path, { method: 'PATCH', headers: api.headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body) }))
}

describe('pairing codes and sending limits, end to end (PGlite, real Baileys, loopback server)', () => {
  let t: TestDatabase
  let server: LoopbackServer
  let runner: Runner
  let api: TestApp
  const phone = '96170999001'

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    server = await startLoopbackServer()
    // Short QR refs (6 × 3 s), so an unentered code expires within the test.
    const factory = await whatsAppWithTestTimers({
      db: t.db, authStateKey: newKey(), env: server.info.env, socketConfig: { qrTimeout: 3_000 },
    })
    runner = await startRunner(t.db, factory, testConfig())
    api = createTestApp(t.db)
  })
  afterAll(async () => {
    await runner?.stop()
    await server?.stop()
    await t?.drop()
  })

  it('POST /api/sessions/default/pairing-code answers the runner\'s code; entering it on the phone links the number', async () => {
    await waitFor(async () => (await getSession(t.db, 'default'))?.qr, 20_000, 'a QR on default')
    const res = await api.post('/api/sessions/default/pairing-code', { phone: `+${phone}` })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toEqual({ success: true, code: expect.stringMatching(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/) })
    expect((await getSession(t.db, 'default'))!.pairingCode).toBe(body.code)

    expect(await server.pairCode(phone, body.code)).toEqual({ phone })
    const s = await waitFor(async () => {
      const row = await getSession(t.db, 'default')
      return row?.status === 'online' ? row : null
    }, 30_000, 'default online')
    expect(s.phone).toBe(phone)
    expect(s.pairedAt).toBeInstanceOf(Date)
    expect([s.pairingPhone, s.pairingCode, s.qrCode]).toEqual([null, null, null])
    const r = await enqueueMessage(t.db, { session: 'default', phone: '96170999101', type: 'text', body: 'linked by code' })
    await waitFor(async () => (await getMessage(t.db, r.id))?.status === 'sent', 20_000, 'sent')
    await waitFor(() => server.messages('96170999101').some((m) => m.text === 'linked by code'), 10_000, 'received')
  })

  it('a daily cap holds the session with the reason in /api/status; lowering it to 0 lets the message go', async () => {
    // Counters belong to the local day of the session's zone: send one under the zone, then cap at what it counted + 1.
    expect((await patch(api, '/api/sessions/default', { time_zone: 'Asia/Beirut' })).status).toBe(200)
    const first = await enqueueMessage(t.db, { session: 'default', phone: '96170999102', type: 'text', body: 'counted' })
    await waitFor(async () => (await getMessage(t.db, first.id))?.status === 'sent', 20_000, 'first sent')
    const sent: number = (await (await api.get('/api/sessions/default')).json()).counters.sent
    expect(sent).toBeGreaterThanOrEqual(1)
    expect((await patch(api, '/api/sessions/default', { daily_cap: sent + 1 })).status).toBe(200)
    const a = await enqueueMessage(t.db, { session: 'default', phone: '96170999102', type: 'text', body: 'within the cap' })
    const b = await enqueueMessage(t.db, { session: 'default', phone: '96170999103', type: 'text', body: 'over the cap' })
    await waitFor(async () => (await getMessage(t.db, a.id))?.status === 'sent', 20_000, 'a sent')
    const status = await waitFor(async () => {
      const st = await (await api.get('/api/status')).json()
      return /^daily cap reached/.test(st.detail ?? '') ? st : null
    }, 20_000, 'the hold in /api/status')
    expect(status.detail.startsWith(`daily cap reached (${sent + 1}/${sent + 1}), resumes at `)).toBe(true)
    expect(status.detail).toMatch(/resumes at \d{4}-\d\d-\d\d 0[01]:00 Asia\/Beirut$/)
    expect(status.status).toBe('online')
    expect((await getMessage(t.db, b.id))!.status).toBe('pending')
    expect((await patch(api, '/api/sessions/default', { daily_cap: 0 })).status).toBe(200)
    // The holding loop claims again within 15 s (queue.HOLD_RECHECK_MS).
    await waitFor(async () => (await getMessage(t.db, b.id))?.status === 'sent', 30_000, 'b sent after the cap was lifted')
    expect((await (await api.get('/api/status')).json()).detail).toBeNull()
  })

  it('the circuit breaker pauses the session after N consecutive send failures and says why', async () => {
    expect((await patch(api, '/api/sessions/default', { circuit_breaker_failures: 2 })).status).toBe(200)
    // Images whose media is gone fail at once (PermanentSendError), which is what counts.
    const ids = []
    for (let i = 0; i < 3; i++) {
      ids.push((await enqueueMessage(t.db, { session: 'default', phone: '96170999104', type: 'image', body: null, mediaId: 999_999 + i })).id)
    }
    const status = await waitFor(async () => {
      const st = await (await api.get('/api/status')).json()
      return /^circuit breaker/.test(st.detail ?? '') ? st : null
    }, 30_000, 'the breaker in /api/status')
    expect(status.detail).toMatch(/^circuit breaker: 2 consecutive send failures \(last: image is missing \(media pruned or deleted\)\); sending paused until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/)
    const rows = await Promise.all(ids.map((id) => getMessage(t.db, id)))
    expect(rows.map((m) => m!.status)).toEqual(['failed', 'failed', 'pending'])
    const s = (await getSession(t.db, 'default'))!
    expect(s.pausedUntil!.getTime()).toBeGreaterThan(Date.now() + 25 * 60_000)
  })

  it('an abandoned pairing leaves no half-written credentials: expired refs wipe them, and a new QR follows', async () => {
    expect((await api.post('/api/sessions', { name: 'abandon' })).status).toBe(200)
    await waitFor(async () => (await getSession(t.db, 'abandon'))?.qr, 20_000, 'a QR on abandon')
    const res = await api.post('/api/sessions/abandon/pairing-code', { phone: '96170999002' })
    expect(res.status).toBe(200)
    // Baileys saved creds.me for the number it registered; nothing is entered on the phone, the refs run out.
    await waitFor(async () => /^qr_expired/.test((await getSession(t.db, 'abandon'))?.detail ?? ''), 40_000, 'qr_expired')
    expect(await getAuthValue(t.db, 'abandon', 'creds', 'creds')).toBeNull()
    const s = (await getSession(t.db, 'abandon'))!
    expect([s.pairingPhone, s.pairingCode]).toEqual([null, null])
    // Kept, those creds would make the next connect log in as a half-made device and get 401 (logged_out).
    expect((await api.post('/api/regenerate-qr', { session: 'abandon' })).status).toBe(200)
    const fresh = await waitFor(async () => {
      const row = await getSession(t.db, 'abandon')
      return row?.qr && row.qr !== s.qr ? row : null
    }, 20_000, 'a new QR')
    expect(fresh.detail).not.toMatch(/logged_out/)
  })
})
