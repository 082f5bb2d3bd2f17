/**
 * Smaller findings of the security review: the response headers of JSON answers and of `/docs`, `/readyz` answered
 * from a short cache (it needs no key), impossible dates refused instead of rolled over, and query parameters given
 * twice refused instead of silently read as their first value.
 */
import { expect, it } from 'vitest'
import type { Db } from '../../db/driver.js'
import { createSession } from '../../db/queries/sessions.js'
import { createWebhook } from '../../db/queries/webhook-endpoints.js'
import { createApp } from '../../api/app.js'
import { parseApiConfig } from '../../api/config.js'
import { sharedDatabase } from '../../api/middleware/database.js'
import { createTestApp, TEST_API_KEY } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'
import { dashboardApp, signIn } from '../dashboard/support.js'

/** A Db that counts the statements run on it outside transactions. */
function counting(db: Db): { db: Db; count: () => number } {
  let n = 0
  const wrapped = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'query' || prop === 'execute') {
        return (...args: unknown[]) => {
          n++
          return (target[prop] as (...a: unknown[]) => unknown).apply(target, args)
        }
      }
      return Reflect.get(target, prop, receiver)
    },
  })
  return { db: wrapped, count: () => n }
}

describeEachEngine('response headers, /readyz cache, strict dates and single query parameters', (ctx) => {
  it('JSON answers carry Cache-Control: no-store and X-Content-Type-Options: nosniff, errors and the early 413 included', async () => {
    const t = createTestApp(ctx.db)
    const answers = [
      await t.get('/api/sessions'),
      await t.app.request('/api/sessions'), // 401
      await t.get('/api/nowhere'), // 404
      await t.post('/api/send', { phone: 'x' }), // 400
      await t.app.request('/api/send', { method: 'POST', headers: t.headers({ 'Content-Length': String(100 * 1024 * 1024) }) }), // 413
      await t.app.request('/healthz'),
      await t.app.request('/readyz'),
      await t.get('/api/openapi.json'),
    ]
    for (const res of answers) {
      expect(res.headers.get('content-type'), `${res.status}`).toMatch(/^application\/json/)
      expect(res.headers.get('cache-control'), `${res.status}`).toBe('no-store')
      expect(res.headers.get('x-content-type-options'), `${res.status}`).toBe('nosniff')
    }
    expect(answers.map((r) => r.status)).toEqual([200, 401, 404, 400, 413, 200, 200, 200])
    // An answer with its own caching keeps it.
    const asset = await t.app.request('/dashboard/assets/style.css')
    expect(asset.headers.get('cache-control')).toBe('public, max-age=300')
  })

  it('/docs has the dashboard\'s Content-Security-Policy and frame headers, and its style is a file the policy allows', async () => {
    const t = createTestApp(ctx.db)
    const docs = await t.app.request('/docs')
    const page = await t.app.request('/dashboard/sign-in')
    expect(docs.status).toBe(200)
    const csp = docs.headers.get('content-security-policy')
    expect(csp).toBe(page.headers.get('content-security-policy'))
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("style-src 'self'")
    expect(docs.headers.get('x-frame-options')).toBe('DENY')
    expect(docs.headers.get('x-content-type-options')).toBe('nosniff')
    expect(docs.headers.get('referrer-policy')).toBe('same-origin')
    const html = await docs.text()
    expect(html).not.toContain('<style')
    expect(html).toContain('<link rel="stylesheet" href="docs/style.css">')
    const css = await t.app.request('/docs/style.css')
    expect(css.status).toBe(200)
    expect(css.headers.get('content-type')).toMatch(/^text\/css/)
    expect(await css.text()).toContain('border-collapse')
  })

  it('/readyz probes the database once per second at most, however many calls come', async () => {
    const { db, count } = counting(ctx.db)
    const app = createApp({ database: sharedDatabase(db), config: parseApiConfig({ API_SECRET: TEST_API_KEY }) })
    const first = await Promise.all(Array.from({ length: 10 }, () => app.request('/readyz')))
    for (const res of first) expect(await res.json()).toMatchObject({ success: true, status: 'ready' })
    const perProbe = count()
    expect(perProbe).toBeGreaterThan(0)
    for (let i = 0; i < 10; i++) expect((await app.request('/readyz')).status).toBe(200)
    expect(count()).toBe(perProbe)
    await new Promise((r) => setTimeout(r, 1100))
    expect((await app.request('/readyz')).status).toBe(200)
    expect(count()).toBe(2 * perProbe)
  })

  it('refuses dates and times that do not exist, in every time filter and in send_at', async () => {
    const t = createTestApp(ctx.db)
    for (const bad of ['2025-02-30', '2025-02-29', '2025-04-31 10:00:00', '2025-01-01T24:00:00Z', '2025-01-01 10:60:00', '2025-01-01T10:00:00+24:00']) {
      for (const k of ['since', 'until']) {
        const res = await t.get(`/api/messages?${k}=${encodeURIComponent(bad)}`)
        expect(res.status, `${k}=${bad}`).toBe(400)
        expect(await res.json()).toMatchObject({ success: false, code: 'invalid_timestamp' })
      }
    }
    expect((await t.get('/api/messages?since=2024-02-29&until=2024-02-29%2023:59:59')).status).toBe(200)

    for (const bad of ['2026-02-30T09:00:00Z', '2026-04-31T09:00:00+02:00', '2026-01-01T24:00:00Z', '2026-01-01T09:00:00+24:00']) {
      const single = await t.post('/api/send', { phone: '9611234567', message: 'x', send_at: bad })
      expect(single.status, bad).toBe(400)
      expect(await single.json()).toMatchObject({ code: 'invalid_send_at' })
      const batch = await t.post('/api/send-batch', { messages: [{ phone: '9611234567', message: 'x' }], send_at: bad })
      expect(batch.status, bad).toBe(400)
      const item = await t.post('/api/send-batch', { messages: [{ phone: '9611234567', message: 'x', send_at: bad }] })
      expect(item.status, bad).toBe(400)
      const form = new FormData()
      form.set('phone', '9611234567')
      form.set('send_at', bad)
      form.set('file', new Blob([new Uint8Array([0xff, 0xd8, 0xff])], { type: 'image/jpeg' }), 'x.jpg')
      const image = await t.app.request('/api/send-image', { method: 'POST', headers: t.headers(), body: form })
      expect(image.status, bad).toBe(400)
      expect(await image.json()).toMatchObject({ code: 'invalid_send_at' })
    }
    const ok = await t.post('/api/send', { phone: '9611234567', message: 'x', send_at: '2024-02-29T09:00:00Z' })
    expect(ok.status).toBe(200)
    await t.app.coalescer?.drain()
  })

  it('refuses a query parameter given twice on every route that reads them, the dashboard\'s pages included', async () => {
    const t = createTestApp(ctx.db)
    await createSession(ctx.db, 'twice')
    const hook = await createWebhook(ctx.db, { url: 'https://example.com/x', events: ['message.sent'], session: null, secret: 'whsec_0123456789abcdef' })
    for (const path of [
      '/api/messages?status=sent&status=failed',
      '/api/messages?session=default&session=default',
      '/api/messages?limit=5&limit=6',
      '/api/status?session=default&session=twice',
      `/api/webhooks/${hook.id}/deliveries?status=dead&status=pending`,
    ]) {
      const res = await t.get(path)
      expect(res.status, path).toBe(400)
      expect(await res.json()).toMatchObject({ success: false, code: 'repeated_parameter' })
    }
    expect((await t.get('/api/messages?status=sent&limit=5')).status).toBe(200)

    const app = dashboardApp(ctx.db)
    const b = await signIn(app)
    for (const path of ['/dashboard/messages?status=sent&status=failed', '/dashboard/webhooks?status=dead&status=dead', '/dashboard/contacts?q=1&q=2', '/dashboard/sign-in?next=%2Fdashboard&next=%2Fdashboard%2Fsend']) {
      const res = await b.get(path)
      expect(res.status, path).toBe(400)
      expect(await res.text()).toContain('give each query parameter once')
    }
    expect((await b.get('/dashboard/messages?status=sent')).status).toBe(200)
  })
})
