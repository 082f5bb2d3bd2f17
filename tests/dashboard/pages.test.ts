import { beforeAll, expect, it } from 'vitest'
import { getContact } from '../../db/queries/contacts.js'
import { setContactOptIn } from '../../db/lifecycle/opt-out.js'
import { getMedia } from '../../db/queries/media.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { settleRevoke } from '../../db/lifecycle/revoke.js'
import { getMessage, listMessages } from '../../db/queries/messages.js'
import { createSession, getSession } from '../../db/queries/sessions.js'
import { replaceGroups } from '../../db/queries/groups.js'
import { ownedSession } from '../support/queue-fixtures.js'
import { updateSessionSettings } from '../../db/lifecycle/settings.js'
import { checkProxyUrl, maskProxyUrl, sealProxyUrl } from '../../db/shared/proxy.js'
import { deriveProxyKey } from '../../runner/proxy-key.js'
import type { App } from '../../api/app.js'
import { parseApiConfig } from '../../api/config.js'
import { createNodeApp } from '../../api/node.js'
import { describeEachEngine } from '../support/db.js'
import {
  cookiePair, dashboardApp, KEY, ORIGIN, OTHER_KEY, setMessageState, setSessionState, signIn, textOf, TINY_PNG, type Browserish,
} from './support.js'

const PAGES = ['/dashboard', '/dashboard/sessions', '/dashboard/messages', '/dashboard/messages/1', '/dashboard/send', '/dashboard/contacts', '/dashboard/sessions/support/delete']

const signInForm = (key: string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN, ...headers },
  body: new URLSearchParams({ api_key: key }),
})

describeEachEngine('dashboard', (ctx) => {
  let app: App
  let b: Browserish

  beforeAll(async () => {
    app = dashboardApp(ctx.db)
    b = await signIn(app)
  })

  // ---------- authentication ----------

  it('sends every page to sign-in without a session, and answers 401 on the live JSON', async () => {
    for (const path of PAGES) {
      const res = await app.request(`${ORIGIN}${path}?x=1`)
      expect(res.status, path).toBe(303)
      expect(res.headers.get('location'), path).toBe(`/dashboard/sign-in?next=${encodeURIComponent(`${path}?x=1`)}`)
    }
    const json = await app.request(`${ORIGIN}/dashboard/sessions.json`)
    expect(json.status).toBe(401)
    expect(await json.json()).toMatchObject({ success: false, code: 'unauthorized' })
    const post = await app.request(`${ORIGIN}/dashboard/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
      body: 'name=nope',
    })
    expect(post.status).toBe(303)
    expect(await getSession(ctx.db, 'nope')).toBeNull()
  })

  it('does not accept the API key header in place of the dashboard cookie', async () => {
    const res = await app.request(`${ORIGIN}/dashboard`, { headers: { 'X-API-Key': KEY } })
    expect(res.status).toBe(303)
  })

  it('signs in with an API key and sets a signed, HttpOnly, SameSite=Strict cookie with an expiry on /dashboard', async () => {
    const res = await app.request(`${ORIGIN}/dashboard/sign-in`, signInForm(OTHER_KEY))
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/dashboard')
    const cookie = res.headers.get('set-cookie')!
    // A random session id and Hono's HMAC signature (base64, URL-encoded): nothing derived from the key.
    expect(cookie).toMatch(/^wa_dashboard=[\w-]{43}\.[\w%]{44,}; /)
    expect(cookie).not.toContain(OTHER_KEY)
    expect(cookie).toMatch(/; HttpOnly/)
    expect(cookie).toMatch(/; SameSite=Strict/)
    expect(cookie).toMatch(/; Path=\/dashboard/)
    expect(cookie).toMatch(/; Max-Age=43200/)
    expect(cookie).toMatch(/; Expires=/)
    expect(cookie).not.toMatch(/; Secure/)
    const page = await app.request(`${ORIGIN}/dashboard`, { headers: { cookie: cookiePair(cookie) } })
    expect(page.status).toBe(200)
  })

  it('marks the cookie Secure when the request is https (directly or behind a proxy)', async () => {
    const direct = await app.request('https://gateway.test/dashboard/sign-in', signInForm(KEY, { origin: 'https://gateway.test' }))
    expect(direct.headers.get('set-cookie')).toMatch(/; Secure/)
    const proxied = await app.request(`${ORIGIN}/dashboard/sign-in`, signInForm(KEY, { 'x-forwarded-proto': 'https' }))
    expect(proxied.headers.get('set-cookie')).toMatch(/; Secure/)
  })

  it('returns to the page that asked for sign-in, but never to another site', async () => {
    const form = (next: string) => ({ ...signInForm(KEY), body: new URLSearchParams({ api_key: KEY, next }) })
    const back = await app.request(`${ORIGIN}/dashboard/sign-in`, form('/dashboard/messages?status=failed'))
    expect(back.headers.get('location')).toBe('/dashboard/messages?status=failed')
    const evil = await app.request(`${ORIGIN}/dashboard/sign-in`, form('https://evil.test/phish'))
    expect(evil.headers.get('location')).toBe('/dashboard')
  })

  it('refuses a wrong key with 401, no cookie and an inline error', async () => {
    const res = await app.request(`${ORIGIN}/dashboard/sign-in`, signInForm('wrong-key', { 'x-real-ip': '198.51.100.1' }))
    expect(res.status).toBe(401)
    expect(res.headers.get('set-cookie')).toBeNull()
    expect(textOf(await res.text())).toContain('That is not a valid API key')
  })

  it('slows failed sign-ins down: a delay per failure, then 429 with Retry-After for that address', async () => {
    const slow = dashboardApp(ctx.db, { signIn: { failureDelayMs: 300, freeFailures: 2 }, trustProxy: { kind: 'cloudflare' } })
    const attempt = (ip: string, key = 'bad-key') =>
      slow.request(`${ORIGIN}/dashboard/sign-in`, signInForm(key, { 'cf-connecting-ip': ip }))
    const started = Date.now()
    expect((await attempt('203.0.113.7')).status).toBe(401)
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect((await attempt('203.0.113.7')).status).toBe(401)
    expect((await attempt('203.0.113.7')).status).toBe(401)
    const locked = await attempt('203.0.113.7', KEY)
    expect(locked.status).toBe(429)
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(locked.headers.get('set-cookie')).toBeNull()
    // Another address is not affected.
    expect((await attempt('203.0.113.8', KEY)).status).toBe(303)
  })

  it('ignores client-written address headers unless TRUST_PROXY names who wrote them', async () => {
    const direct = dashboardApp(ctx.db, { signIn: { failureDelayMs: 1000, freeFailures: 2 }, socketAddress: () => '198.51.100.20' })
    let n = 0
    const rotating = () => {
      n++
      return { 'cf-connecting-ip': `10.0.0.${n}`, 'x-real-ip': `10.0.1.${n}`, 'x-forwarded-for': `10.0.2.${n}` }
    }
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await direct.request(`${ORIGIN}/dashboard/sign-in`, signInForm('bad-key', rotating()))).status)
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429])
  })

  it('lets exactly the allowed number of concurrent guesses from one address be checked', async () => {
    // The fourth failure locks the address for 2 s (1 s answer delay + 1 s), long enough for all 60 to arrive.
    const slow = dashboardApp(ctx.db, { signIn: { failureDelayMs: 1000, freeFailures: 3 }, socketAddress: () => '198.51.100.21' })
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => slow.request(`${ORIGIN}/dashboard/sign-in`, signInForm(`guess-${i}`))),
    )
    const statuses = answers.map((r) => r.status)
    expect(statuses.filter((s) => s === 401)).toHaveLength(4)
    expect(statuses.filter((s) => s === 429)).toHaveLength(56)
  })

  it('rejects a forged or expired cookie and a cookie of a rotated-away key', async () => {
    const forged = await app.request(`${ORIGIN}/dashboard`, { headers: { cookie: 'wa_dashboard=v1.eyJleHAiOjk5OTk5OTk5OTk5OTl9.AAAA' } })
    expect(forged.status).toBe(303)
    // A well-formed id with a signature made under another secret.
    const [id, sig] = decodeURIComponent(b.cookie.slice('wa_dashboard='.length)).split('.')
    const tampered = `wa_dashboard=${encodeURIComponent(`${id!.slice(0, -2)}AA.${sig}`)}`
    expect((await app.request(`${ORIGIN}/dashboard`, { headers: { cookie: tampered } })).status).toBe(303)
    let now = Date.now()
    const timed = dashboardApp(ctx.db, { clock: () => now, sessionTtlMs: 1000 })
    const t = await signIn(timed)
    expect((await t.get('/dashboard')).status).toBe(200)
    now += 1001
    expect((await t.get('/dashboard')).status).toBe(303)

    const secret = 's'.repeat(40)
    const before = dashboardApp(ctx.db, { keys: ['old-key-0123456789', 'new-key-0123456789'], cookieSecret: secret })
    const oldSession = await signIn(before, 'old-key-0123456789')
    const newSession = await signIn(before, 'new-key-0123456789')
    const after = dashboardApp(ctx.db, { keys: ['new-key-0123456789'], cookieSecret: secret })
    expect((await after.request(`${ORIGIN}/dashboard`, { headers: { cookie: oldSession.cookie } })).status).toBe(303)
    expect((await after.request(`${ORIGIN}/dashboard`, { headers: { cookie: newSession.cookie } })).status).toBe(200)
    // The same with the stored secret (no DASHBOARD_COOKIE_SECRET), which every process on this database shares.
    const stored = await signIn(dashboardApp(ctx.db, { keys: ['old-key-0123456789', 'new-key-0123456789'] }), 'old-key-0123456789')
    expect((await dashboardApp(ctx.db, { keys: ['old-key-0123456789'] }).request(`${ORIGIN}/dashboard`, { headers: { cookie: stored.cookie } })).status).toBe(200)
    expect((await dashboardApp(ctx.db, { keys: ['new-key-0123456789'] }).request(`${ORIGIN}/dashboard`, { headers: { cookie: stored.cookie } })).status).toBe(303)
  })

  it('signs out: clears the cookie (POST with the CSRF token)', async () => {
    const s = await signIn(app)
    const res = await s.post('/dashboard/sign-out', {})
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/dashboard/sign-in?signed_out=1')
    expect(res.headers.get('set-cookie')).toMatch(/^wa_dashboard=;.*Max-Age=0/)
    // The cookie itself is dead too, not only deleted from this browser: a copy of it no longer signs in.
    expect((await s.get('/dashboard')).status).toBe(303)
    expect((await s.get('/dashboard/sessions.json')).status).toBe(401)
  })

  // ---------- CSRF ----------

  it('refuses a form post without the CSRF token, with a wrong one, or with another session’s', async () => {
    const other = await signIn(app)
    for (const csrf of [null, 'bogus', other.csrf]) {
      const res = await b.post('/dashboard/sessions', { name: 'csrf-victim' }, { csrf })
      expect(res.status).toBe(403)
      expect(textOf(await res.text())).toContain('Request refused')
    }
    expect(await getSession(ctx.db, 'csrf-victim')).toBeNull()
  })

  it('refuses a post from another origin even with a valid token', async () => {
    const cross = await b.post('/dashboard/sessions', { name: 'csrf-victim' }, { headers: { origin: 'https://evil.test' } })
    expect(cross.status).toBe(403)
    const fetchSite = await b.post('/dashboard/sessions', { name: 'csrf-victim' }, { headers: { origin: undefined as unknown as string, 'sec-fetch-site': 'cross-site' } })
    expect(fetchSite.status).toBe(403)
    const signInCross = await app.request(`${ORIGIN}/dashboard/sign-in`, signInForm(KEY, { origin: 'https://evil.test' }))
    expect(signInCross.status).toBe(403)
    expect(await getSession(ctx.db, 'csrf-victim')).toBeNull()
  })

  it('accepts a post whose Origin is a configured public origin (proxy without Host forwarding)', async () => {
    const proxied = dashboardApp(ctx.db, { publicOrigins: ['https://wa.example.com'] })
    const s = await signIn(proxied)
    const res = await s.post('/dashboard/sessions', { name: 'via-proxy' }, { headers: { origin: 'https://wa.example.com' } })
    expect(res.status).toBe(303)
    expect(await getSession(ctx.db, 'via-proxy')).not.toBeNull()
    expect((await b.post('/dashboard/sessions', { name: 'via-proxy2' }, { headers: { origin: 'https://wa.example.com' } })).status).toBe(403)
  })

  it('sets a strict Content-Security-Policy and no-store on pages', async () => {
    const res = await b.get('/dashboard')
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    const css = await app.request(`${ORIGIN}/dashboard/assets/style.css`)
    expect(css.status).toBe(200)
    expect(css.headers.get('content-type')).toContain('text/css')
    const js = await app.request(`${ORIGIN}/dashboard/assets/live.js`)
    expect(js.headers.get('content-type')).toContain('javascript')
  })

  // ---------- pages with data ----------

  it('renders the overview: sessions, queue counts, sent in 24 h, recent failures, paused sessions with the reason', async () => {
    await createSession(ctx.db, 'ovw')
    await setSessionState(ctx.db, 'ovw', { status: 'offline', detail: 'restricted', pausedUntil: new Date(Date.now() + 3_600_000) })
    const failed = await enqueueMessage(ctx.db, { session: 'default', phone: '96170000001', type: 'text', body: 'x' })
    await setMessageState(ctx.db, failed.id, { status: 'failed', error: 'no WhatsApp account', attempts: 3 })
    const sent = await enqueueMessage(ctx.db, { session: 'default', phone: '96170000002', type: 'text', body: 'y' })
    await setMessageState(ctx.db, sent.id, { status: 'sent', sentAt: new Date(), attempts: 1 })
    const html = await (await b.get('/dashboard')).text()
    const text = textOf(html)
    expect(text).toContain('Sent in the last 24 h 1')
    expect(text).toMatch(/failed [1-9]/)
    expect(text).toContain('ovw is paused until')
    expect(text).toContain('reason: restricted')
    expect(text).toContain('no WhatsApp account')
    expect(html).toContain(`href="/dashboard/messages/${failed.id}"`)
  })

  it('renders Sessions with status, phone, last seen, detail and the QR image while connecting', async () => {
    await createSession(ctx.db, 'support')
    await setSessionState(ctx.db, 'support', { status: 'connecting', qrCode: 'data:image/png;base64,QUFB', detail: null })
    await setSessionState(ctx.db, 'default', { status: 'online', phone: '9611234567', lastSeen: new Date('2025-05-11T14:00:00Z') })
    const html = await (await b.get('/dashboard/sessions')).text()
    expect(html).toContain('data-live="/dashboard/sessions.json"')
    expect(html).toContain('<img src="data:image/png;base64,QUFB"')
    expect(html).toContain('/dashboard/assets/live.js')
    const text = textOf(html)
    expect(text).toContain('+9611234567')
    expect(text).toContain('2025-05-11 14:00:00 UTC')
    expect(text).toContain('The default session cannot be deleted')
    expect(html).toContain('href="/dashboard/sessions/support/delete"')
    expect(html).not.toContain('href="/dashboard/sessions/default/delete"')
    // Detail by the API's rule: an offline session says why; an online one shows no leftover reason.
    await createSession(ctx.db, 'gone-out')
    await setSessionState(ctx.db, 'gone-out', { status: 'offline', detail: 'logged_out' })
    await createSession(ctx.db, 'was-paused')
    await setSessionState(ctx.db, 'was-paused', { status: 'online', phone: '9613333333', detail: 'restricted: old pause', pausedUntil: new Date(Date.now() - 1000) })
    const details = await (await b.get('/dashboard/sessions')).text()
    expect(details).toMatch(/data-session="gone-out"[\s\S]*?data-field="detail" dir="auto">logged_out</)
    expect(details).toMatch(/data-session="was-paused"[\s\S]*?data-field="detail" dir="auto">—</)
    const live = (await (await b.get('/dashboard/sessions.json')).json()) as { sessions: Array<Record<string, unknown>> }
    expect(live.sessions.find((s) => s.name === 'was-paused')).toMatchObject({ status: 'online', detail: null })
    expect(live.sessions.find((s) => s.name === 'support')).toMatchObject({ status: 'connecting', qr_code: 'data:image/png;base64,QUFB' })
    expect(live.sessions.find((s) => s.name === 'default')).toMatchObject({ status: 'online', phone: '9611234567', qr_code: null })
  })

  it('lists each session\'s groups on Sessions: subject, members, read-only when only admins may send', async () => {
    const f = await ownedSession(ctx.db, 'runner-d')
    const member = { phone: '96171000001', lid: null, admin: false }
    await replaceGroups(ctx.db, f, [
      { id: '120363400000000001@g.us', subject: 'Drivers 🚚', announce: false, isAdmin: false, canSend: true, createdAt: null, participants: [member, member] },
      { id: '120363400000000002@g.us', subject: 'نشرة', announce: true, isAdmin: false, canSend: false, createdAt: null, participants: [member] },
    ])
    const html = await (await b.get('/dashboard/sessions')).text()
    const card = new RegExp(`data-session="${f.name}"[\\s\\S]*?data-field="groups" dir="auto">([\\s\\S]*?)</dd>`).exec(html)
    expect(textOf(card![1]!)).toBe('Drivers 🚚 (2) · نشرة (1, read-only)')
    expect(html).toMatch(/data-session="default"[\s\S]*?data-field="groups" dir="auto">—</)
  })

  it('shows a session\'s proxy masked, never its password, and "none" without one', async () => {
    await createSession(ctx.db, 'proxied')
    const key = deriveProxyKey(new Uint8Array(32).fill(3))
    const url = 'socks5://dash:Dash-Secret-77@10.9.8.7:1080'
    const sealed = await sealProxyUrl(url, key.publicKey, 'proxied')
    expect(await updateSessionSettings(ctx.db, 'proxied', {}, { sealed, url: maskProxyUrl(checkProxyUrl(url)) })).toBe(true)
    const html = await (await b.get('/dashboard/sessions')).text()
    expect(html).toMatch(/data-session="proxied"[\s\S]*?<dt>Proxy<\/dt><dd>socks5:\/\/dash:\*\*\*@10\.9\.8\.7:1080<\/dd>/)
    expect(html).toMatch(/data-session="default"[\s\S]*?<dt>Proxy<\/dt><dd>none<\/dd>/)
    expect(html).not.toContain('Dash-Secret-77')
    expect(JSON.stringify(await (await b.get('/dashboard/sessions.json')).json())).not.toContain('Dash-Secret-77')
  })

  it('shows Arabic and emoji as typed, with dir="auto" on user text', async () => {
    const body = 'مرحبا بك 👋🏽 — طلبك جاهز'
    const m = await enqueueMessage(ctx.db, { session: 'default', phone: '96170000003', type: 'text', body })
    const list = await (await b.get('/dashboard/messages?phone=96170000003')).text()
    expect(list).toContain(`<span dir="auto">${body}</span>`)
    const detail = await (await b.get(`/dashboard/messages/${m.id}`)).text()
    expect(detail).toMatch(new RegExp(`<blockquote class="message-body" dir="auto">${body}</blockquote>`))
  })

  it('filters the audit log by status, session, phone and date, and paginates by id', async () => {
    const ids: number[] = []
    for (let i = 0; i < 53; i++) ids.push((await enqueueMessage(ctx.db, { session: 'support', phone: '96170000099', type: 'text', body: `bulk ${i}` })).id)
    const first = await (await b.get('/dashboard/messages?session=support&phone=%2B961%2070%20000%20099')).text()
    expect((first.match(/data-message-id=/g) ?? []).length).toBe(50)
    const older = /href="(\/dashboard\/messages\?[^"]*before=\d+)"/.exec(first)
    expect(older).not.toBeNull()
    const second = await (await b.get(older![1]!.replace(/&amp;/g, '&'))).text()
    expect((second.match(/data-message-id=/g) ?? []).length).toBe(3)
    expect(second).toContain(`data-message-id="${ids[0]}"`)
    expect(second).toContain('« Newest')

    const failedOnly = textOf(await (await b.get('/dashboard/messages?status=failed')).text())
    expect(failedOnly).toContain('no WhatsApp account')
    expect(failedOnly).not.toContain('bulk 1')

    const today = new Date().toISOString().slice(0, 10)
    const byDay = await (await b.get(`/dashboard/messages?from=${today}&to=${today}&phone=96170000099`)).text()
    expect((byDay.match(/data-message-id=/g) ?? []).length).toBe(50)
    const past = await (await b.get('/dashboard/messages?to=2000-01-01')).text()
    expect(textOf(past)).toContain('No messages match these filters')
  })

  it('shows filter mistakes inline with the API’s phone rule', async () => {
    const res = await b.get('/dashboard/messages?phone=abc&from=2025-13-45')
    expect(res.status).toBe(422)
    const text = textOf(await res.text())
    expect(text).toContain('Must be 7–15 digits with the country code')
    expect(text).toContain('Use a date such as 2025-05-11')
  })

  it('shows a message’s timeline: queued, sent, delivered, read, errors, attempts', async () => {
    const m = await enqueueMessage(ctx.db, { session: 'default', phone: '96170000004', type: 'text', body: 'timeline' })
    await setMessageState(ctx.db, m.id, {
      status: 'sent', attempts: 2, sentAt: new Date('2025-05-11T14:00:05Z'), deliveredAt: new Date('2025-05-11T14:00:07Z'), readAt: new Date('2025-05-11T14:01:00Z'),
    })
    const text = textOf(await (await b.get(`/dashboard/messages/${m.id}`)).text())
    expect(text).toMatch(/Queued — \d{4}-\d\d-\d\d/)
    expect(text).toContain('Sent to WhatsApp — 2025-05-11 14:00:05 UTC')
    expect(text).toContain('Delivered to the phone — 2025-05-11 14:00:07 UTC')
    expect(text).toContain('Read — 2025-05-11 14:01:00 UTC')
    expect(text).toContain('Attempts 2')
    expect(text).not.toContain('Resend')

    const f = await enqueueMessage(ctx.db, { session: 'default', phone: '96170000005', type: 'text', body: 'will fail' })
    await setMessageState(ctx.db, f.id, { status: 'failed', attempts: 5, error: 'the number is not on WhatsApp' })
    const failed = textOf(await (await b.get(`/dashboard/messages/${f.id}`)).text())
    expect(failed).toContain('Failed after 5 attempts')
    expect(failed).toContain('the number is not on WhatsApp')
    expect(failed).toContain('Resend')
  })

  it('answers an unknown message or page with an HTML 404 inside the dashboard', async () => {
    const res = await b.get('/dashboard/messages/99999999')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect((await b.get('/dashboard/nothing-here')).status).toBe(404)
  })

  // ---------- actions ----------

  it('resends a failed message and an opted-out one, and refuses a sent one', async () => {
    const f = await enqueueMessage(ctx.db, { session: 'default', phone: '96170000006', type: 'text', body: 'again' })
    await setMessageState(ctx.db, f.id, { status: 'failed', attempts: 5, error: 'boom' })
    const res = await b.post(`/dashboard/messages/${f.id}/resend`, { back: '/dashboard/messages?status=failed' })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe(`/dashboard/messages?status=failed&done=resent&id=${f.id}`)
    expect(await getMessage(ctx.db, f.id)).toMatchObject({ status: 'pending', attempts: 0, error: null })
    expect(textOf(await (await b.get(res.headers.get('location')!)).text())).toContain(`Message #${f.id} is back in the queue`)

    const o = await enqueueMessage(ctx.db, { session: 'default', phone: '96170000007', type: 'text', body: 'opted' })
    await setMessageState(ctx.db, o.id, { status: 'opted_out', error: 'contact opted out' })
    await b.post(`/dashboard/messages/${o.id}/resend`, {})
    expect((await getMessage(ctx.db, o.id))!.status).toBe('pending')

    const s = await enqueueMessage(ctx.db, { session: 'default', phone: '96170000008', type: 'text', body: 'sent' })
    await setMessageState(ctx.db, s.id, { status: 'sent', sentAt: new Date() })
    const refused = await b.post(`/dashboard/messages/${s.id}/resend`, { back: 'https://evil.test/' })
    expect(refused.headers.get('location')).toBe(`/dashboard/messages/${s.id}?done=not-resendable&id=${s.id}`)
    expect((await getMessage(ctx.db, s.id))!.status).toBe('sent')
  })

  it('adds a session with the API’s name rule, inline errors for a bad or taken name', async () => {
    const ok = await b.post('/dashboard/sessions', { name: 'sales' })
    expect(ok.status).toBe(303)
    expect(ok.headers.get('location')).toBe('/dashboard/sessions?done=created&name=sales')
    expect(await getSession(ctx.db, 'sales')).toMatchObject({ status: 'connecting' })

    const bad = await b.post('/dashboard/sessions', { name: 'no spaces!' })
    expect(bad.status).toBe(422)
    const badText = textOf(await bad.text())
    expect(badText).toContain('Must be letters, digits, dash or underscore only, 1–40 characters')
    expect(await getSession(ctx.db, 'no spaces!')).toBeNull()

    const taken = await b.post('/dashboard/sessions', { name: 'sales' })
    expect(taken.status).toBe(409)
    expect(textOf(await taken.text())).toContain('already exists')
  })

  it('regenerates a QR (reconnect request) and deletes a non-default session after a confirmation page', async () => {
    await createSession(ctx.db, 'temp')
    const regen = await b.post('/dashboard/sessions/temp/regenerate', {})
    expect(regen.headers.get('location')).toBe('/dashboard/sessions?done=regenerate&name=temp')
    expect((await getSession(ctx.db, 'temp'))!.reconnectRequestedAt).not.toBeNull()

    const confirm = await b.get('/dashboard/sessions/temp/delete')
    expect(confirm.status).toBe(200)
    const confirmHtml = await confirm.text()
    expect(textOf(confirmHtml)).toContain('Delete session “temp”?')
    expect(confirmHtml).toContain('action="/dashboard/sessions/temp/delete"')
    expect((await getSession(ctx.db, 'temp'))!.deleteRequestedAt).toBeNull()

    const del = await b.post('/dashboard/sessions/temp/delete', {})
    expect(del.headers.get('location')).toBe('/dashboard/sessions?done=deleted&name=temp')
    expect((await getSession(ctx.db, 'temp'))!.deleteRequestedAt).not.toBeNull()
    expect(await (await b.get('/dashboard/sessions')).text()).not.toContain('data-session="temp"')
  })

  it('never deletes the default session', async () => {
    const page = await b.get('/dashboard/sessions/default/delete')
    expect(page.headers.get('location')).toBe('/dashboard/sessions?done=default&name=default')
    const res = await b.post('/dashboard/sessions/default/delete', {})
    expect(res.headers.get('location')).toBe('/dashboard/sessions?done=default&name=default')
    expect((await getSession(ctx.db, 'default'))!.deleteRequestedAt).toBeNull()
  })

  it('sends a text from the form and links to its audit entry', async () => {
    const res = await b.post('/dashboard/send', { phone: '+961 70 000 010', session: 'support', message: 'من النموذج ✅' })
    expect(res.status).toBe(303)
    const location = res.headers.get('location')!
    const id = Number(/sent=(\d+)/.exec(location)![1])
    expect(await getMessage(ctx.db, id)).toMatchObject({ phone: '96170000010', session: 'support', type: 'text', body: 'من النموذج ✅', status: 'pending' })
    const after = await (await b.get(location)).text()
    expect(after).toContain(`href="/dashboard/messages/${id}"`)
    expect(after).toMatch(/<option value="support" selected="">/)
  })

  it('schedules a text from the form at the time picked in the browser’s zone, and says so', async () => {
    const inTwoDays = new Date(Date.now() + 2 * 86_400_000)
    const day = inTwoDays.toISOString().slice(0, 10)
    const res = await b.post('/dashboard/send', { phone: '96170000012', session: 'default', message: 'Your table is ready', send_at: `${day}T09:30`, utc_offset: '120' })
    expect(res.status).toBe(303)
    const location = res.headers.get('location')!
    const id = Number(/sent=(\d+)/.exec(location)![1])
    const m = await getMessage(ctx.db, id)
    expect(m).toMatchObject({ status: 'pending', body: 'Your table is ready' })
    expect(m!.sendAt!.toISOString()).toBe(`${day}T07:30:00.000Z`)
    expect(m!.availableAt.toISOString()).toBe(`${day}T07:30:00.000Z`)
    const notice = textOf(await (await b.get(location)).text())
    expect(notice).toMatch(new RegExp(`Queued as message #${id}, scheduled for ${day} 07:30:00 UTC ?\\.`))
    // Left empty: now, and the notice says nothing about a schedule.
    const now = await b.post('/dashboard/send', { phone: '96170000012', message: 'now please', send_at: '', utc_offset: '120' })
    const nowId = Number(/sent=(\d+)/.exec(now.headers.get('location')!)![1])
    expect((await getMessage(ctx.db, nowId))!.sendAt).toBeNull()
    expect(textOf(await (await b.get(now.headers.get('location')!)).text())).toContain(`Queued as message #${nowId}. Follow it`)
  })

  it('refuses a Send-at time that has passed, is malformed or is more than a year ahead, inline, and queues nothing', async () => {
    const before = (await listMessages(ctx.db, { limit: 1 }))[0]?.id
    const post = (send_at: string, utc_offset = '0') => b.post('/dashboard/send', { phone: '96170000013', message: 'later', send_at, utc_offset })
    const past = await post('2020-01-01T09:00')
    expect(past.status).toBe(422)
    const html = await past.text()
    expect(textOf(html)).toContain('2020-01-01 09:00 (UTC) has already passed; pick a later time, or leave it empty to send now.')
    expect(html).toMatch(/id="send_at"[^>]*aria-invalid="true"/)
    expect(html).toContain('value="2020-01-01T09:00"')
    expect(html).toContain('id="send_at-error"')
    expect(textOf(await (await post('next tuesday')).text())).toContain('Pick a date and time')
    const year = new Date().getUTCFullYear() + 2
    const far = await post(`${year}-06-01T09:00`)
    expect(far.status).toBe(422)
    expect(textOf(await far.text())).toContain('Is more than one year ahead; schedule it at most one year from now')
    expect((await post('2027-01-01T09:00', '5000')).status).toBe(422)
    expect((await listMessages(ctx.db, { limit: 1 }))[0]?.id).toBe(before)
  })

  it('shows the API’s validation inline on the Send form, one error per field, and queues nothing', async () => {
    const before = (await listMessages(ctx.db, { limit: 1 }))[0]?.id
    const res = await b.post('/dashboard/send', { phone: '123', session: 'nope', message: '   ' })
    expect(res.status).toBe(422)
    const html = await res.text()
    const text = textOf(html)
    expect(text).toContain('Must be 7–15 digits with the country code and no leading 0')
    expect(text).toContain('Must not be empty or only whitespace')
    expect(text).toContain('Session “nope” does not exist')
    expect(html).toContain('id="phone-error"')
    expect(html).toMatch(/id="phone"[^>]*aria-invalid="true"/)
    expect(html).toContain('value="123"')
    const tooLong = await b.post('/dashboard/send', { phone: '9611234567', message: 'x'.repeat(4097) })
    expect(textOf(await tooLong.text())).toContain('Must be at most 4096 characters long')
    expect((await listMessages(ctx.db, { limit: 1 }))[0]?.id).toBe(before)
  })

  it('sends an image with a caption from the form, and refuses a file that is not an image', async () => {
    const form = new FormData()
    form.set('phone', '96170000011')
    form.set('session', 'default')
    form.set('message', 'صورة 📷')
    form.set('file', new File([TINY_PNG], 'pixel.png', { type: 'image/png' }))
    const res = await b.post('/dashboard/send', form)
    expect(res.status).toBe(303)
    const id = Number(/sent=(\d+)/.exec(res.headers.get('location')!)![1])
    const m = await getMessage(ctx.db, id)
    expect(m).toMatchObject({ type: 'image', body: 'صورة 📷', phone: '96170000011' })
    expect(await getMedia(ctx.db, m!.mediaId!)).toMatchObject({ mime: 'image/png', width: 1, height: 1 })
    const img = await b.get(`/dashboard/media/${m!.mediaId}`)
    expect(img.headers.get('content-type')).toBe('image/png')
    expect(new Uint8Array(await img.arrayBuffer())).toEqual(TINY_PNG)

    const bad = new FormData()
    bad.set('phone', '96170000011')
    bad.set('message', '')
    bad.set('file', new File([new TextEncoder().encode('<svg onload=alert(1)>')], 'x.png', { type: 'image/png' }))
    const refused = await b.post('/dashboard/send', bad)
    expect(refused.status).toBe(422)
    expect(textOf(await refused.text())).toContain('The file is not a JPEG, PNG, GIF or WEBP image')
  })

  // ---------- every kind ----------

  /** A Send form of `kind` with `fields` (and a file when given). */
  const sendForm = (kind: string, fields: Record<string, string>, file?: File) => {
    const form = new FormData()
    form.set('kind', kind)
    form.set('session', 'default')
    for (const [k, v] of Object.entries(fields)) form.set(k, v)
    if (file) form.set('file', file)
    return form
  }
  const sentId = (res: Response) => Number(/sent=(\d+)/.exec(res.headers.get('location') ?? '')?.[1])
  const PDF = new TextEncoder().encode('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n')
  /** An ID3 tag and nothing else: MP3 by its bytes, not OGG/Opus. */
  const MP3 = Uint8Array.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 0, 0xff, 0xfb, 0x90, 0x64])

  it('offers every kind on the Send page, each field group marked with its kinds, the file limit of each kind', async () => {
    const html = await (await b.get('/dashboard/send')).text()
    for (const k of ['text', 'image', 'document', 'video', 'audio', 'voice', 'location', 'contact']) expect(html).toContain(`id="kind-${k}" name="kind" value="${k}"`)
    expect(html).toMatch(/id="kind-text" name="kind" value="text" checked=""/)
    expect(html).toMatch(/<div class="field" data-kinds="location"><label for="latitude">/)
    expect(html).toMatch(/<div class="field" data-kinds="contact"><label for="contact_phones">/)
    expect(html).toMatch(/<div class="field" data-kinds="document"><label for="filename">/)
    expect(html).toContain('id="reply_to"')
    const text = textOf(html)
    expect(text).toContain('JPG, PNG, GIF or WEBP, at most 10 MB')
    expect(text).toContain('Any file (PDF, Office, CSV…), at most 64 MB')
    expect(text).toContain('MP4 or 3GP, at most 16 MB')
    expect(text).toContain('OGG/Opus only (this gateway has no ffmpeg')
    // No inline style or script: the groups are shown by the stylesheet, from the checked radio.
    expect(html).not.toMatch(/<script>|style="/)
    const css = await (await app.request(`${ORIGIN}/dashboard/assets/style.css`)).text()
    expect(css).toContain('.send-form:has(#kind-location:checked) [data-kinds~=location]')
  })

  it('sends a document with its file name, a location and a contact card from the form', async () => {
    const doc = await b.post('/dashboard/send', sendForm('document', { phone: '96170000020', message: 'Invoice 1042', filename: 'invoice-1042.pdf' }, new File([PDF], 'upload.bin')))
    expect(doc.status).toBe(303)
    const d = await getMessage(ctx.db, sentId(doc))
    expect(d).toMatchObject({ type: 'document', body: 'Invoice 1042', phone: '96170000020', details: { fileName: 'invoice-1042.pdf' } })
    expect(await getMedia(ctx.db, d!.mediaId!)).toMatchObject({ mime: 'application/pdf', size: PDF.byteLength })

    const loc = await b.post('/dashboard/send', sendForm('location', { phone: '96170000021', latitude: '33.8938', longitude: '35.5018', location_name: 'Beirut office', location_address: '' }))
    expect(loc.status).toBe(303)
    expect(await getMessage(ctx.db, sentId(loc))).toMatchObject({
      type: 'location', body: null, mediaId: null, details: { location: { latitude: 33.8938, longitude: 35.5018, name: 'Beirut office' } },
    })

    const card = await b.post('/dashboard/send', sendForm('contact', {
      phone: '96170000022', contact_name: 'Support desk', contact_phones: '+961 1 234 567,\n9611234568', contact_email: 'help@example.com', contact_organization: '',
    }))
    expect(card.status).toBe(303)
    expect(await getMessage(ctx.db, sentId(card))).toMatchObject({
      type: 'contact', details: { contact: { name: 'Support desk', phones: ['9611234567', '9611234568'], email: 'help@example.com' } },
    })
    // Fields of kinds not chosen are ignored: a text with a file and coordinates left in hidden groups is a text.
    const text = await b.post('/dashboard/send', sendForm('text', { phone: '96170000023', message: 'only text', latitude: 'x' }, new File([PDF], 'a.pdf')))
    expect(await getMessage(ctx.db, sentId(text))).toMatchObject({ type: 'text', body: 'only text', mediaId: null })
  })

  it('shows a bad latitude, a bad contact phone and a missing file beside their fields, keeps the kind chosen, queues nothing', async () => {
    const before = (await listMessages(ctx.db, { limit: 1 }))[0]?.id
    const res = await b.post('/dashboard/send', sendForm('location', { phone: '96170000024', latitude: '123', longitude: 'east' }))
    expect(res.status).toBe(422)
    const html = await res.text()
    expect(html).toMatch(/<input id="latitude" name="latitude" aria-invalid="true" aria-describedby="latitude-error latitude-hint"[^>]*value="123"/)
    expect(html).toMatch(/id="latitude-error">Must be between -90 and 90 \(got 123\)</)
    expect(html).toMatch(/id="longitude-error">Must be a number, got a string</)
    expect(html).toMatch(/id="kind-location" name="kind" value="location" checked=""/)
    expect(html).not.toContain('id="phone-error"')

    const card = await b.post('/dashboard/send', sendForm('contact', { phone: '96170000024', contact_name: '', contact_phones: '9611234567, 12' }))
    const cardHtml = await card.text()
    expect(cardHtml).toMatch(/id="contact_name-error">Is required</)
    expect(cardHtml).toMatch(/id="contact_phones-error">Number 2: Must be 7–15 digits/)

    const noFile = await b.post('/dashboard/send', sendForm('video', { phone: '96170000024' }))
    expect(await noFile.text()).toMatch(/id="file-error">Choose the video file to send\.</)
    const notVideo = await b.post('/dashboard/send', sendForm('video', { phone: '96170000024' }, new File([PDF], 'clip.mp4')))
    expect(textOf(await notVideo.text())).toContain('The file is not an MP4 or 3GP video')
    const badReply = await b.post('/dashboard/send', sendForm('text', { phone: '96170000024', message: 'hi', reply_to: '999999999' }))
    expect(await badReply.text()).toMatch(/id="reply_to-error">Names no received message/)
    expect((await listMessages(ctx.db, { limit: 1 }))[0]?.id).toBe(before)
  })

  it('sends a voice note only when it is Opus or the gateway can convert it (the API’s MediaRuntime)', async () => {
    const refused = await b.post('/dashboard/send', sendForm('voice', { phone: '96170000025' }, new File([MP3], 'memo.mp3')))
    expect(refused.status).toBe(422)
    expect(textOf(await refused.text())).toContain('a voice note must be OGG/Opus and this gateway has no ffmpeg')
    // Sent as plain audio it goes as it is.
    const audio = await b.post('/dashboard/send', sendForm('audio', { phone: '96170000025' }, new File([MP3], 'memo.mp3')))
    expect(await getMessage(ctx.db, sentId(audio))).toMatchObject({ type: 'audio', body: null, details: { ptt: false } })

    const withFfmpeg = await signIn(dashboardApp(ctx.db, { media: { canConvertAudio: () => Promise.resolve(true) } }))
    expect(textOf(await (await withFfmpeg.get('/dashboard/send')).text())).toContain('OGG/Opus, or other audio (converted here)')
    const voice = await withFfmpeg.post('/dashboard/send', sendForm('voice', { phone: '96170000025' }, new File([MP3], 'memo.mp3')))
    expect(voice.status).toBe(303)
    expect(await getMessage(ctx.db, sentId(voice))).toMatchObject({ type: 'audio', details: { ptt: true } })
    // The dashboard the API builds itself gets the API's own MediaRuntime.
    const config = parseApiConfig({ API_SECRET: KEY })
    const built = createNodeApp({ db: ctx.db, config, coalescer: false, media: { canConvertAudio: () => Promise.resolve(true) } })
    expect(textOf(await (await (await signIn(built)).get('/dashboard/send')).text())).toContain('OGG/Opus, or other audio (converted here)')
  })

  it('lists each kind: file name and size, coordinates, contact name, voice note, revoke target, revoked time', async () => {
    const phone = '96170000030'
    const doc = await b.post('/dashboard/send', sendForm('document', { phone, filename: 'report.pdf' }, new File([PDF], 'x.pdf')))
    const docId = sentId(doc)
    await b.post('/dashboard/send', sendForm('location', { phone, latitude: '48.8584', longitude: '2.2945', location_name: 'Tour Eiffel' }))
    await b.post('/dashboard/send', sendForm('contact', { phone, contact_name: 'Front desk', contact_phones: '9611234567' }))
    const withFfmpeg = await signIn(dashboardApp(ctx.db, { media: { canConvertAudio: () => Promise.resolve(true) } }))
    await withFfmpeg.post('/dashboard/send', sendForm('voice', { phone }, new File([MP3], 'memo.mp3')))
    await setMessageState(ctx.db, docId, { status: 'sent', sentAt: new Date() })
    const revoke = await b.post(`/dashboard/messages/${docId}/revoke`, {})
    const revokeId = Number(new URL(revoke.headers.get('location')!, ORIGIN).searchParams.get('revoke'))
    await setMessageState(ctx.db, revokeId, { status: 'sent', sentAt: new Date() })
    await settleRevoke(ctx.db, docId)

    const html = await (await b.get(`/dashboard/messages?phone=${phone}`)).text()
    const row = (id: number) => textOf(new RegExp(`<tr data-message-id="${id}">([\\s\\S]*?)</tr>`).exec(html)![1]!)
    const ids = [...html.matchAll(/<tr data-message-id="(\d+)">/g)].map((m) => Number(m[1]))
    expect(row(docId)).toMatch(new RegExp(`document report\\.pdf ${(PDF.byteLength)} bytes .*revoked \\d{4}-\\d\\d-\\d\\d`))
    expect(row(docId)).not.toContain('Revoke')
    expect(textOf(html)).toContain('location Tour Eiffel 48.8584, 2.2945')
    expect(textOf(html)).toContain('contact Front desk')
    expect(textOf(html)).toMatch(/voice note \d+ bytes/)
    expect(row(revokeId)).toContain(`revoke revokes #${docId}`)
    expect(html).toContain(`href="/dashboard/messages/${docId}"`)
    expect(ids).toContain(revokeId)
    // The detail page says the same; the file itself is not served (only images are previewed).
    const detail = textOf(await (await b.get(`/dashboard/messages/${docId}`)).text())
    expect(detail).toContain('Document to +96170000030')
    expect(detail).toContain('Revoked (deleted for everyone)')
    const mediaId = (await getMessage(ctx.db, docId))!.mediaId!
    const file = await b.get(`/dashboard/media/${mediaId}`)
    expect(file.status).toBe(404)
    expect(file.headers.get('content-type')).toContain('text/html')
    expect(textOf(await file.text())).toContain('Only images are previewed here')
  })

  it('cancels a pending message and revokes a sent one from the Messages page (CSRF checked), with a notice', async () => {
    const phone = '96170000031'
    const pending = await enqueueMessage(ctx.db, { session: 'default', phone, type: 'text', body: 'cancel me' })
    const sent = await enqueueMessage(ctx.db, { session: 'default', phone, type: 'text', body: 'revoke me' })
    await setMessageState(ctx.db, sent.id, { status: 'sent', sentAt: new Date() })
    const old = await enqueueMessage(ctx.db, { session: 'default', phone, type: 'text', body: 'too old' })
    await setMessageState(ctx.db, old.id, { status: 'sent', sentAt: new Date(Date.now() - 61 * 3_600_000) })
    const back = `/dashboard/messages?phone=${phone}`
    const list = await (await b.get(back)).text()
    const row = (id: number) => new RegExp(`<tr data-message-id="${id}">([\\s\\S]*?)</tr>`).exec(list)![1]!
    expect(row(pending.id)).toContain(`action="/dashboard/messages/${pending.id}/cancel"`)
    expect(row(pending.id)).not.toContain('/revoke"')
    expect(row(sent.id)).toContain(`action="/dashboard/messages/${sent.id}/revoke"`)
    expect(row(sent.id)).not.toContain('/cancel"')
    expect(row(old.id)).not.toContain('/revoke"')

    // Without the token (or with another's) nothing happens.
    expect((await b.post(`/dashboard/messages/${pending.id}/cancel`, { back }, { csrf: null })).status).toBe(403)
    expect((await b.post(`/dashboard/messages/${sent.id}/revoke`, { back }, { csrf: 'bogus' })).status).toBe(403)
    expect((await getMessage(ctx.db, pending.id))!.status).toBe('pending')

    const cancelled = await b.post(`/dashboard/messages/${pending.id}/cancel`, { back })
    expect(cancelled.status).toBe(303)
    expect(cancelled.headers.get('location')).toBe(`${back}&done=cancelled&id=${pending.id}`)
    expect((await getMessage(ctx.db, pending.id))!.status).toBe('cancelled')
    const after = await (await b.get(cancelled.headers.get('location')!)).text()
    expect(textOf(after)).toContain(`Message #${pending.id} is cancelled`)
    expect(after).toMatch(new RegExp(`<tr data-message-id="${pending.id}">[\\s\\S]*?<span class="badge s-cancelled">cancelled</span>`))

    const revoked = await b.post(`/dashboard/messages/${sent.id}/revoke`, { back })
    const location = revoked.headers.get('location')!
    const revokeId = Number(new URL(location, ORIGIN).searchParams.get('revoke'))
    expect(await getMessage(ctx.db, revokeId)).toMatchObject({ type: 'revoke', targetId: sent.id, status: 'pending' })
    expect(textOf(await (await b.get(location)).text())).toContain(`The revoke of message #${sent.id} is queued as #${revokeId}`)

    // Too late, or the wrong state: the page says why and nothing changes.
    const late = await b.post(`/dashboard/messages/${old.id}/revoke`, { back })
    expect(textOf(await (await b.get(late.headers.get('location')!)).text())).toContain(`Message #${old.id} was sent more than 60 hours ago`)
    const again = await b.post(`/dashboard/messages/${pending.id}/cancel`, {})
    expect(again.headers.get('location')).toBe(`/dashboard/messages/${pending.id}?done=cancelled&id=${pending.id}`)
    const notPending = await b.post(`/dashboard/messages/${sent.id}/cancel`, {})
    expect(textOf(await (await b.get(notPending.headers.get('location')!)).text())).toContain('can no longer be cancelled')
    expect((await getMessage(ctx.db, sent.id))!.status).toBe('sent')
    const notSent = await b.post(`/dashboard/messages/${pending.id}/revoke`, {})
    expect(textOf(await (await b.get(notSent.headers.get('location')!)).text())).toContain('cannot be revoked')
  })

  it('searches contacts by phone and shows the opt-in state and when it changed', async () => {
    await setContactOptIn(ctx.db, '9617100001', 'yes')
    await setContactOptIn(ctx.db, '9617100002', 'no')
    await setContactOptIn(ctx.db, '9627100003', 'pending')
    const html = await (await b.get('/dashboard/contacts?q=%2B961%2071')).text()
    expect(html).toContain('data-contact="9617100001"')
    expect(html).toContain('data-contact="9617100002"')
    expect(html).not.toContain('data-contact="9627100003"')
    expect(textOf(html)).toMatch(/\+9617100001 — yes \d{4}-\d\d-\d\d/)
    const onlyNo = await (await b.get('/dashboard/contacts?opt_in=no')).text()
    expect(onlyNo).toContain('data-contact="9617100002"')
    expect(onlyNo).not.toContain('data-contact="9617100001"')
    const bad = await b.get('/dashboard/contacts?q=abc')
    expect(bad.status).toBe(422)
  })

  it('changes a contact’s state: staff to yes, reset to pending, opt out (pending messages follow)', async () => {
    const yes = await b.post('/dashboard/contacts', { phone: '+961 712 0001', opt_in: 'yes' })
    expect(yes.status).toBe(303)
    expect(await getContact(ctx.db, '9617120001')).toMatchObject({ optIn: 'yes' })
    expect((await getContact(ctx.db, '9617120001'))!.optInAt).not.toBeNull()
    expect(textOf(await (await b.get(yes.headers.get('location')!)).text())).toContain('+9617120001 is now “yes”.')

    await b.post('/dashboard/contacts', { phone: '9617120001', opt_in: 'pending', back: '/dashboard/contacts?q=96171' })
    expect(await getContact(ctx.db, '9617120001')).toMatchObject({ optIn: 'pending', optInAt: null })

    const m = await enqueueMessage(ctx.db, { session: 'default', phone: '9617120001', type: 'text', body: 'pending one' })
    const no = await b.post('/dashboard/contacts', { phone: '9617120001', opt_in: 'no' })
    expect(no.headers.get('location')).toContain('n=1')
    expect((await getMessage(ctx.db, m.id))!.status).toBe('opted_out')

    const bad = await b.post('/dashboard/contacts', { phone: 'x', opt_in: 'maybe' })
    expect(bad.status).toBe(422)
    const text = textOf(await bad.text())
    expect(text).toContain('The phone must be 7–15 digits')
    expect(text).toContain('Pick one of pending, yes, no')
  })

  it('shows newcomer-friendly empty states', async () => {
    const fresh = await (await b.get('/dashboard/messages?session=sales')).text()
    expect(textOf(fresh)).toContain('No messages match these filters')
    const contacts = textOf(await (await b.get('/dashboard/contacts?q=1999')).text())
    expect(contacts).toContain('No contacts match')
  })
})
