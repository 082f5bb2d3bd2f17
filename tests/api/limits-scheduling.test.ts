/**
 * Through the HTTP API: `send_at` on send, send-image and send-batch; `PATCH /api/sessions/:name` (sending
 * limits); the hold reason in `/api/status`; `POST /api/sessions/:name/pairing-code` answered by a stand-in runner.
 */
import sharp from 'sharp'
import { expect, it } from 'vitest'
import type { Queryable } from '../../db/driver.js'
import { answerPairingRequest } from '../../db/queries/pairing.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'
import { dbNow, getMessage, ownedSession, ph } from '../support/queue-fixtures.js'
import { findSessionRequests } from '../../db/queries/session-reports.js'

const HOUR = 3_600_000

function patch(t: TestApp, path: string, body: unknown): Promise<Response> {
  return Promise.resolve(t.app.request(path, { method: 'PATCH', headers: t.headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body) }))
}

async function setColumns(db: Queryable, name: string, sql: string, params: unknown[] = []): Promise<void> {
  await db.execute(`UPDATE sessions SET ${sql} WHERE name = ${ph(db, params.length + 1)}`, [...params, name])
}

describeEachEngine('send_at (scheduled sends)', (ctx) => {
  const t = () => createTestApp(ctx.db)

  it('POST /api/send with send_at in an offset waits until that instant, and the audit record says it is scheduled', async () => {
    const at = new Date(Math.ceil((Date.now() + 2 * HOUR) / 1000) * 1000)
    // The same instant written in Beirut's offset (+02:00 or +03:00 depending on DST does not matter: it names itself).
    const local = new Date(at.getTime() + 2 * HOUR).toISOString().replace('Z', '+02:00')
    const res = await t().post('/api/send', { phone: '9611234567', message: 'later', send_at: local })
    expect(res.status).toBe(200)
    const { message_id } = await res.json()
    const row = (await getMessage(ctx.db, message_id))
    expect(row.availableAt.toISOString()).toBe(at.toISOString())
    const record = await (await t().get(`/api/messages/${message_id}`)).json()
    expect(record).toMatchObject({ status: 'pending', scheduled: true, send_at: at.toISOString().slice(0, 19).replace('T', ' ') })
    expect(record.available_at).toBe(record.send_at)
  })

  it('a past send_at means now; absent means now and not scheduled', async () => {
    const now = await dbNow(ctx.db)
    const past = (await (await t().post('/api/send', { phone: '9611234567', message: 'x', send_at: '2020-01-01T00:00:00Z' })).json()).message_id
    const plain = (await (await t().post('/api/send', { phone: '9611234567', message: 'x' })).json()).message_id
    for (const id of [past, plain]) {
      const m = (await getMessage(ctx.db, id))
      expect(Math.abs(m.availableAt.getTime() - now.getTime())).toBeLessThan(10_000)
    }
    expect((await (await t().get(`/api/messages/${past}`)).json()).scheduled).toBe(false)
    expect((await (await t().get(`/api/messages/${plain}`)).json())).toMatchObject({ send_at: null, scheduled: false })
  })

  it.each([
    ['2026-11-25 09:00:00', 'no zone'],
    ['2026-11-25T09:00:00', 'no zone'],
    ['tomorrow', 'not a time'],
    ['2026-13-01T00:00:00Z', 'no such month'],
  ])('refuses send_at %s (%s) with 400 invalid_send_at', async (send_at) => {
    const res = await t().post('/api/send', { phone: '9611234567', message: 'x', send_at })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ success: false, code: 'invalid_send_at' })
  })

  it('refuses send_at more than a year ahead with 422 send_at_too_far', async () => {
    const far = new Date(Date.now() + 367 * 24 * HOUR).toISOString()
    const res = await t().post('/api/send', { phone: '9611234567', message: 'x', send_at: far })
    expect(res.status).toBe(422)
    const body = await res.json()
    expect(body).toMatchObject({ success: false, code: 'send_at_too_far' })
    expect(body.error).toMatch(/^send_at: /)
    const ok = await t().post('/api/send', { phone: '9611234567', message: 'x', send_at: new Date(Date.now() + 360 * 24 * HOUR).toISOString() })
    expect(ok.status).toBe(200)
  })

  it('send-batch takes send_at per item and as a default for the rest; a bad one names its item', async () => {
    const a = new Date(Math.ceil((Date.now() + HOUR) / 1000) * 1000)
    const b = new Date(a.getTime() + HOUR)
    const res = await t().post('/api/send-batch', {
      send_at: a.toISOString(),
      messages: [{ phone: '9611234567', message: 'one' }, { phone: '9611234568', message: 'two', send_at: b.toISOString() }],
    })
    expect(res.status).toBe(200)
    const { message_ids } = await res.json()
    expect((await getMessage(ctx.db, message_ids[0])).availableAt.getTime()).toBe(a.getTime())
    expect((await getMessage(ctx.db, message_ids[1])).availableAt.getTime()).toBe(b.getTime())
    const bad = await t().post('/api/send-batch', { messages: [{ phone: '9611234567', message: 'x' }, { phone: '9611234567', message: 'y', send_at: 'soon' }] })
    expect(bad.status).toBe(400)
    expect((await bad.json()).error).toMatch(/^messages\[1\]\.send_at: /)
  })

  it('send-image takes send_at as a form field', async () => {
    const png = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#123456' } }).png().toBuffer()
    const at = new Date(Math.ceil((Date.now() + 3 * HOUR) / 1000) * 1000)
    const form = new FormData()
    form.append('phone', '9611234567')
    form.append('send_at', at.toISOString())
    form.append('file', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'a.png')
    const res = await t().app.request('/api/send-image', { method: 'POST', headers: t().headers(), body: form })
    expect(res.status).toBe(200)
    const m = (await getMessage(ctx.db, (await res.json()).message_id))
    expect([m.type, m.availableAt.getTime(), m.sendAt?.getTime()]).toEqual(['image', at.getTime(), at.getTime()])
  })

  it('an Idempotency-Key repeated with another send_at is a conflict; with the same one, the same id', async () => {
    const key = { 'Idempotency-Key': `sched-${ctx.engine}-${Date.now()}` }
    const at = new Date(Date.now() + HOUR).toISOString()
    const first = await (await t().post('/api/send', { phone: '9611234567', message: 'k', send_at: at }, key)).json()
    const again = await (await t().post('/api/send', { phone: '9611234567', message: 'k', send_at: at }, key)).json()
    expect(again.message_id).toBe(first.message_id)
    const other = await t().post('/api/send', { phone: '9611234567', message: 'k', send_at: new Date(Date.now() + 2 * HOUR).toISOString() }, key)
    expect(other.status).toBe(409)
  })
})

describeEachEngine('PATCH /api/sessions/:name (sending limits)', (ctx) => {
  const t = () => createTestApp(ctx.db)

  it('sets limits, answers them with the counters, and null returns a field to the runner default', async () => {
    const res = await patch(t(), '/api/sessions/default', {
      daily_cap: 200, warmup_start: 20, warmup_days: 14, first_contact_daily_cap: 10, circuit_breaker_failures: 5,
      quiet_hours: '22:00-08:00', time_zone: 'Asia/Beirut',
    })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({
      success: true, name: 'default',
      settings: { daily_cap: 200, warmup_start: 20, warmup_days: 14, first_contact_daily_cap: 10, circuit_breaker_failures: 5, quiet_hours: '22:00-08:00', time_zone: 'Asia/Beirut' },
      counters: { sent: 0, first_contact: 0, consecutive_failures: 0 },
      hold: null,
    })
    const cleared = await (await patch(t(), '/api/sessions/default', { quiet_hours: null, daily_cap: 0 })).json()
    expect(cleared.settings).toMatchObject({ quiet_hours: null, daily_cap: 0, warmup_start: 20 })
    expect((await (await t().get('/api/sessions/default')).json()).settings.daily_cap).toBe(0)
    await patch(t(), '/api/sessions/default', { quiet_hours: 'off' })
    expect((await (await t().get('/api/sessions/default')).json()).settings.quiet_hours).toBe('off')
  })

  it.each([
    [{ quiet_hours: '10pm-8am' }, 'invalid_quiet_hours'],
    [{ quiet_hours: '08:00-08:00' }, 'invalid_quiet_hours'],
    [{ time_zone: 'Mars/Olympus' }, 'invalid_time_zone'],
    [{ daily_cap: -1 }, 'invalid_daily_cap'],
    [{ circuit_breaker_failures: 1.5 }, 'invalid_circuit_breaker_failures'],
    [{ presence: 'maybe' }, 'invalid_presence'],
    [{ presence: true }, 'invalid_type'],
  ])('refuses %j with 400 %s', async (body, code) => {
    const res = await patch(t(), '/api/sessions/default', body)
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ success: false, code })
  })

  it('sets presence ("on" / "off"), shows it with the limits, and null returns it to the runner default', async () => {
    const res = await patch(t(), '/api/sessions/default', { presence: 'off' })
    expect(res.status).toBe(200)
    expect((await res.json()).settings).toMatchObject({ presence: 'off' })
    expect((await (await t().get('/api/sessions/default')).json()).settings.presence).toBe('off')
    // Another field's change leaves it as it is; trimmed like the other text settings.
    await patch(t(), '/api/sessions/default', { daily_cap: 5 })
    expect((await (await t().get('/api/sessions/default')).json()).settings).toMatchObject({ presence: 'off', daily_cap: 5 })
    expect((await (await patch(t(), '/api/sessions/default', { presence: ' on ' })).json()).settings.presence).toBe('on')
    expect((await (await patch(t(), '/api/sessions/default', { presence: null, daily_cap: null })).json()).settings.presence).toBeNull()
    expect((await (await t().get('/api/sessions/default')).json()).settings.presence).toBeNull()
  })

  it('answers 404 for an unknown session', async () => {
    expect((await patch(t(), '/api/sessions/nope', { daily_cap: 1 })).status).toBe(404)
  })

  it('/api/status gives the hold reason of an online session as its detail while the hold lasts', async () => {
    const reason = 'daily cap reached (20/20), resumes at 2026-11-26 00:00 Asia/Beirut'
    const future = ctx.db.dialect === 'mysql' ? 'NOW(6) + INTERVAL 1 HOUR' : "now() + interval '1 hour'"
    await setColumns(ctx.db, 'default', `status = 'online', hold_until = ${future}, hold_reason = ${ph(ctx.db, 1)}`, [reason])
    expect((await (await t().get('/api/status')).json()).detail).toBe(reason)
    const past = ctx.db.dialect === 'mysql' ? 'NOW(6) - INTERVAL 1 SECOND' : "now() - interval '1 second'"
    await setColumns(ctx.db, 'default', `hold_until = ${past}`)
    expect((await (await t().get('/api/status')).json()).detail).toBeNull()
    await setColumns(ctx.db, 'default', `status = 'offline', hold_until = NULL, hold_reason = NULL`)
  })
})

describeEachEngine('POST /api/sessions/:name/pairing-code', (ctx) => {
  it('waits for the runner and answers {"success":true,"code":"ABCD-EFGH"}', async () => {
    const t = createTestApp(ctx.db)
    const f = await ownedSession(ctx.db, 'runner-pc')
    let stop = false
    // A stand-in for the runner: finds the request on the row and answers it, as runner/runner.ts does.
    const runner = (async () => {
      while (!stop) {
        for (const r of (await findSessionRequests(ctx.db, 'runner-pc')).pairing) {
          await answerPairingRequest(ctx.db, { name: r.name, owner: 'runner-pc', epoch: r.leaseEpoch }, r.phone, { code: 'ABCD-EFGH' })
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    try {
      const res = await t.post(`/api/sessions/${f.name}/pairing-code`, { phone: '+961 70 123 456' })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ success: true, code: 'ABCD-EFGH' })
    } finally {
      stop = true
      await runner
    }
  })

  it('answers 504 runner_timeout when no runner answers, and withdraws the request', async () => {
    const t = createTestApp(ctx.db, { env: { PAIRING_CODE_WAIT_MS: '300' } })
    const res = await t.post('/api/sessions/default/pairing-code', { phone: '96170123456' })
    expect(res.status).toBe(504)
    const body = await res.json()
    expect(body).toMatchObject({ success: false, code: 'runner_timeout' })
    expect(body.error).toMatch(/No runner produced a pairing code for session "default" within 0 s/)
    const [row] = await ctx.db.query(`SELECT pairing_phone FROM sessions WHERE name = 'default'`)
    expect(row!.pairing_phone).toBeNull()
  })

  it('refuses a linked session (409), an unknown one (404) and a bad phone (400)', async () => {
    const t = createTestApp(ctx.db, { env: { PAIRING_CODE_WAIT_MS: '300' } })
    await setColumns(ctx.db, 'default', `status = 'online', phone = '96170000000'`)
    expect(await (await t.post('/api/sessions/default/pairing-code', { phone: '96170123456' })).json()).toMatchObject({ code: 'session_linked' })
    await setColumns(ctx.db, 'default', `status = 'offline'`)
    expect((await t.post('/api/sessions/nope/pairing-code', { phone: '96170123456' })).status).toBe(404)
    const bad = await t.post('/api/sessions/default/pairing-code', { phone: '12' })
    expect([bad.status, (await bad.json()).code]).toEqual([400, 'invalid_phone'])
  })
})
