import { expect, it } from 'vitest'
import type { Db } from '../../db/driver.js'
import { getSession } from '../../db/queries/sessions.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'

const ph = (db: Db, n: number) => (db.dialect === 'mysql' ? '?' : `$${n}`)

async function setSession(db: Db, name: string, fields: { status: string; phone?: string | null; lastSeen?: Date | null; qrCode?: string | null; qr?: string | null; detail?: string | null; pausedUntil?: Date | null }) {
  await db.execute(
    `UPDATE sessions SET status = ${ph(db, 1)}, phone = ${ph(db, 2)}, last_seen = ${ph(db, 3)}, qr_code = ${ph(db, 4)}, qr = ${ph(db, 5)},
       detail = ${ph(db, 6)}, paused_until = ${ph(db, 7)} WHERE name = ${ph(db, 8)}`,
    [fields.status, fields.phone ?? null, fields.lastSeen ?? null, fields.qrCode ?? null, fields.qr ?? null, fields.detail ?? null, fields.pausedUntil ?? null, name],
  )
}

describeEachEngine('sessions: GET /api/status, GET|POST /api/sessions, DELETE /api/sessions/:name, POST /api/regenerate-qr', (ctx) => {
  it('GET /api/status answers the default session with the guide fields plus detail, qr and proxy', async () => {
    const t = createTestApp(ctx.db)
    await setSession(ctx.db, 'default', { status: 'online', phone: '9611234567', lastSeen: new Date('2025-05-11T14:00:00.123Z'), detail: 'stale' })
    const res = await t.get('/api/status')
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toEqual({ name: 'default', status: 'online', phone: '9611234567', last_seen: '2025-05-11 14:00:00', qr_code: null, detail: null, qr: null, proxy: null })
    expect(Object.keys(body).slice(0, 5)).toEqual(['name', 'status', 'phone', 'last_seen', 'qr_code'])
  })

  it('shows the QR (data URL and raw text) while connecting, and why a session is offline or paused', async () => {
    const t = createTestApp(ctx.db)
    await setSession(ctx.db, 'default', { status: 'connecting', qrCode: 'data:image/png;base64,iVBORw0KGgo=', qr: '2@abc,def,ghi' })
    expect(await (await t.get('/api/status')).json()).toMatchObject({ status: 'connecting', qr_code: 'data:image/png;base64,iVBORw0KGgo=', qr: '2@abc,def,ghi' })
    await setSession(ctx.db, 'default', { status: 'offline', detail: 'logged_out' })
    expect(await (await t.get('/api/status')).json()).toMatchObject({ status: 'offline', detail: 'logged_out', qr_code: null, qr: null, last_seen: null, phone: null })
    await setSession(ctx.db, 'default', { status: 'online', phone: '9611234567', detail: 'restricted', pausedUntil: new Date(Date.now() + 3_600_000) })
    expect(await (await t.get('/api/status')).json()).toMatchObject({ status: 'online', detail: 'restricted' })
  })

  it('GET /api/status?session=NAME selects another; unknown → 404 unknown_session, bad name → 400', async () => {
    const t = createTestApp(ctx.db)
    await t.post('/api/sessions', { name: 'status-sel' })
    expect(await (await t.get('/api/status?session=status-sel')).json()).toMatchObject({ name: 'status-sel', status: 'connecting' })
    let res = await t.get('/api/status?session=missing')
    expect(res.status).toBe(404)
    expect(await res.json()).toMatchObject({ success: false, code: 'unknown_session' })
    res = await t.get('/api/status?session=a.b')
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_session_name')
  })

  it('POST /api/sessions creates a session with the guide\'s message (em dash)', async () => {
    const t = createTestApp(ctx.db)
    const res = await t.post('/api/sessions', { name: 'support' })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ success: true, message: 'Session "support" created — check dashboard for QR code' })
    expect((await getSession(ctx.db, 'support'))?.status).toBe('connecting')
  })

  it('GET /api/sessions lists every session as the status object, default first', async () => {
    const t = createTestApp(ctx.db)
    await t.post('/api/sessions', { name: 'aaa-first-by-name' })
    const list = await (await t.get('/api/sessions')).json()
    expect(Array.isArray(list)).toBe(true)
    expect(list[0].name).toBe('default')
    for (const s of list) expect(Object.keys(s)).toEqual(['name', 'status', 'phone', 'last_seen', 'qr_code', 'detail', 'qr', 'proxy'])
    expect(list.map((s: { name: string }) => s.name)).toContain('aaa-first-by-name')
  })

  it('POST /api/sessions refuses a duplicate (409 session_exists) and bad names (400)', async () => {
    const t = createTestApp(ctx.db)
    await t.post('/api/sessions', { name: 'dup' })
    let res = await t.post('/api/sessions', { name: 'dup' })
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ success: false, code: 'session_exists' })
    for (const name of ['', 'has space', 'x'.repeat(41), 'ümlaut', 'a/b']) {
      res = await t.post('/api/sessions', { name })
      expect(res.status, name).toBe(400)
      expect((await res.json()).code).toBe('invalid_session_name')
    }
    res = await t.post('/api/sessions', { name: 12 })
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_type')
    res = await t.post('/api/sessions', {})
    expect(await res.json()).toEqual({ success: false, error: 'name: is required', code: 'missing_field', errors: [{ path: 'name', code: 'missing_field', message: 'is required' }] })
    res = await t.post('/api/sessions', { name: 'x'.repeat(40) })
    expect(res.status).toBe(200)
  })

  it('DELETE /api/sessions/:name requests deletion; the session leaves the list; a repeat is 409', async () => {
    const t = createTestApp(ctx.db)
    await t.post('/api/sessions', { name: 'gone' })
    let res = await t.del('/api/sessions/gone')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ success: true })
    expect((await getSession(ctx.db, 'gone'))?.deleteRequestedAt).toBeInstanceOf(Date)
    const names = (await (await t.get('/api/sessions')).json()).map((s: { name: string }) => s.name)
    expect(names).not.toContain('gone')
    res = await t.del('/api/sessions/gone')
    expect(res.status).toBe(409)
    expect((await res.json()).code).toBe('session_deleting')
    res = await t.post('/api/sessions', { name: 'gone' })
    expect(res.status).toBe(409)
    expect((await res.json()).code).toBe('session_deleting')
    res = await t.get('/api/status?session=gone')
    expect(res.status).toBe(404)
  })

  it('DELETE refuses default (409 default_session), unknown (404) and bad names in the path (400)', async () => {
    const t = createTestApp(ctx.db)
    let res = await t.del('/api/sessions/default')
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ success: false, code: 'default_session' })
    expect((await getSession(ctx.db, 'default'))?.deleteRequestedAt).toBeNull()
    res = await t.del('/api/sessions/nobody')
    expect(res.status).toBe(404)
    expect((await res.json()).code).toBe('unknown_session')
    res = await t.del(`/api/sessions/${'y'.repeat(41)}`)
    expect(res.status).toBe(400)
    res = await t.del('/api/sessions/bad%20name')
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_session_name')
  })

  it('POST /api/regenerate-qr asks the runner to reconnect, default when no body', async () => {
    const t = createTestApp(ctx.db)
    let res = await t.post('/api/regenerate-qr', { session: 'default' })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ success: true, message: 'Reconnection initiated for session "default"' })
    expect((await getSession(ctx.db, 'default'))?.reconnectRequestedAt).toBeInstanceOf(Date)
    res = await t.post('/api/regenerate-qr')
    expect(await res.json()).toEqual({ success: true, message: 'Reconnection initiated for session "default"' })
    res = await t.post('/api/regenerate-qr', {})
    expect(res.status).toBe(200)
    await t.post('/api/sessions', { name: 'qr2' })
    res = await t.post('/api/regenerate-qr', { session: 'qr2' })
    expect((await res.json()).message).toBe('Reconnection initiated for session "qr2"')
  })

  it('POST /api/regenerate-qr: unknown 404, deleting 409, bad name 400, non-JSON 415', async () => {
    const t = createTestApp(ctx.db)
    let res = await t.post('/api/regenerate-qr', { session: 'nobody' })
    expect(res.status).toBe(404)
    await t.post('/api/sessions', { name: 'qr-del' })
    await t.del('/api/sessions/qr-del')
    res = await t.post('/api/regenerate-qr', { session: 'qr-del' })
    expect(res.status).toBe(409)
    res = await t.post('/api/regenerate-qr', { session: '../etc' })
    expect(res.status).toBe(400)
    res = await t.app.request('/api/regenerate-qr', { method: 'POST', headers: t.headers({ 'Content-Type': 'text/plain' }), body: 'session=default' })
    expect(res.status).toBe(415)
  })
})
