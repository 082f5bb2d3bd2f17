/**
 * End to end on PGlite: `GET /api/sessions/:name/check/:phone` through the real HTTP API, answered by the real runner
 * with real Baileys (`onWhatsApp`, a usync query) against the loopback server, which knows a registered number from
 * one declared not on WhatsApp. The per-session limit (429 with Retry-After), answers served from the cache without
 * a runner, an offline session (409), no runner at all (504 after 10 s, nothing left behind), and hostile paths
 * (400, nothing written).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Runner } from '../../runner/runner.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { loopbackFactory, newKey, pairSession, startLoopbackServer, startRunner, testConfig, waitFor } from './helpers.js'

const REGISTERED = '96170555001'
const NOT_ON_WHATSAPP = '96170555000'

describe('number checks, end to end (PGlite, real Baileys, loopback server)', () => {
  let t: TestDatabase
  let server: LoopbackServer
  let runner: Runner
  let api: TestApp

  const checkRows = async () => (await t.db.query('SELECT session, phone, answered_at, jid FROM number_checks ORDER BY phone'))
  const counted = async () => Number((await t.db.query(`SELECT check_count FROM sessions WHERE name = 'default'`))[0]!.check_count)

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    server = await startLoopbackServer()
    server.unregister(NOT_ON_WHATSAPP)
    runner = await startRunner(t.db, await loopbackFactory(t.db, server, newKey()), testConfig())
    api = createTestApp(t.db)
    await pairSession(t.db, server, 'default')
  }, 90_000)
  afterAll(async () => {
    await runner?.stop()
    await server?.stop()
    await t?.drop()
  })

  it('a registered number exists, with its JID; the answer is written on the request row', async () => {
    const res = await api.get(`/api/sessions/default/check/+${REGISTERED}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ exists: true, jid: `${REGISTERED}@s.whatsapp.net` })
    expect(await checkRows()).toEqual([expect.objectContaining({ session: 'default', phone: REGISTERED, jid: `${REGISTERED}@s.whatsapp.net`, answered_at: expect.any(Date) })])
  })

  it('a number the server does not know is not on WhatsApp', async () => {
    const res = await api.get(`/api/sessions/default/check/${NOT_ON_WHATSAPP}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ exists: false })
  })

  it('the 11th check in a minute is 429 with Retry-After, counts nothing and writes no row; a cached check still answers', async () => {
    expect(await counted()).toBe(2)
    for (let i = 2; i < 10; i++) {
      const res = await api.get(`/api/sessions/default/check/9617055510${i}`)
      expect(res.status, `check ${i + 1}`).toBe(200)
      expect(await res.json()).toEqual({ exists: true, jid: `9617055510${i}@s.whatsapp.net` })
    }
    const rows = (await checkRows()).length
    const res = await api.get('/api/sessions/default/check/96170555199')
    expect(res.status).toBe(429)
    const retryAfter = Number(res.headers.get('Retry-After'))
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true)
    expect(await res.json()).toEqual({ success: false, code: 'rate_limited', error: expect.stringContaining(`retry in ${retryAfter} s`) })
    expect((await checkRows()).length).toBe(rows)
    expect(await counted()).toBe(10)
    // Served from the cache, not counted: the limit guards what WhatsApp sees.
    const cached = await api.get(`/api/sessions/default/check/${REGISTERED}`)
    expect([cached.status, await cached.json()]).toEqual([200, { exists: true, jid: `${REGISTERED}@s.whatsapp.net` }])
    expect(await counted()).toBe(10)
  })

  it('hostile paths are 400 and write nothing; an unknown session is 404', async () => {
    const before = { rows: await checkRows(), count: await counted() }
    const paths = [
      '/api/sessions/default/check/abc',
      '/api/sessions/default/check/0961705550',
      `/api/sessions/default/check/${'9'.repeat(16)}`,
      `/api/sessions/default/check/${'1'.repeat(5000)}`,
      `/api/sessions/default/check/${encodeURIComponent("' OR '1'='1")}`,
      `/api/sessions/default/check/${encodeURIComponent('%00')}`,
      `/api/sessions/bad%20name/check/${REGISTERED}`,
      `/api/sessions/${'a'.repeat(41)}/check/${REGISTERED}`,
      `/api/sessions/${encodeURIComponent('../default')}/check/${REGISTERED}`,
    ]
    for (const path of paths) {
      const res = await api.get(path)
      expect(res.status, path.slice(0, 80)).toBe(400)
      expect((await res.json()).success).toBe(false)
    }
    const unknown = await api.get(`/api/sessions/nosuch/check/${REGISTERED}`)
    expect(unknown.status).toBe(404)
    expect((await unknown.json()).code).toBe('unknown_session')
    expect({ rows: await checkRows(), count: await counted() }).toEqual(before)
  })

  it('without a runner, cached answers are still served; an uncached check on the offline session is 409', async () => {
    await runner.stop()
    await waitFor(async () => (await t.db.query(`SELECT status FROM sessions WHERE name = 'default'`))[0]!.status === 'offline', 10_000, 'default offline')
    const yes = await api.get(`/api/sessions/default/check/${REGISTERED}`)
    expect([yes.status, await yes.json()]).toEqual([200, { exists: true, jid: `${REGISTERED}@s.whatsapp.net` }])
    const no = await api.get(`/api/sessions/default/check/${NOT_ON_WHATSAPP}`)
    expect([no.status, await no.json()]).toEqual([200, { exists: false }])
    const offline = await api.get('/api/sessions/default/check/96170555201')
    expect(offline.status).toBe(409)
    expect((await offline.json()).code).toBe('session_offline')
  })

  it('a session still shown online with no runner behind it: 504 after 10 s, and the request row is gone', async () => {
    // A runner killed without a word leaves its session "online" until the lease sweeper runs; and a minute has
    // passed for the limit (its window is moved back rather than waited for).
    await t.db.execute(`UPDATE sessions SET status = 'online', check_window_at = now() - interval '61 seconds' WHERE name = 'default'`)
    const started = Date.now()
    const res = await api.get('/api/sessions/default/check/96170555202')
    const took = Date.now() - started
    expect(res.status).toBe(504)
    expect((await res.json()).code).toBe('runner_timeout')
    expect(took).toBeGreaterThanOrEqual(10_000)
    expect(took).toBeLessThan(13_000)
    expect((await checkRows()).map((r) => r.phone)).not.toContain('96170555202')
  }, 30_000)
})
