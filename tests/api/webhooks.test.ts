import { beforeEach, expect, it } from 'vitest'
import { setContactOptIn } from '../../db/lifecycle/opt-out.js'
import { createSession } from '../../db/queries/sessions.js'
import { listWebhooks } from '../../db/queries/webhook-endpoints.js'
import * as webhookClaims from '../../db/queries/webhook-claims.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'

/** `/api/webhooks…`: configuration, the secret shown once, URL policy, deliveries and replay. */
describeEachEngine('webhook routes', (ctx) => {
  const t = () => createTestApp(ctx.db)
  beforeEach(async () => {
    await ctx.db.execute('DELETE FROM webhook_deliveries')
    await ctx.db.execute('DELETE FROM webhooks')
  })

  it('creates a webhook and shows a generated secret once; the list never shows it', async () => {
    const res = await t().post('/api/webhooks', { url: 'https://example.com/wa-events', events: ['message.sent', 'message.failed'] })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({
      success: true,
      webhook: { url: 'https://example.com/wa-events', events: ['message.sent', 'message.failed'], session: null, enabled: true },
    })
    expect(body.webhook.id).toBeTypeOf('number')
    expect(body.webhook.secret).toMatch(/^whsec_[0-9a-f]{64}$/)
    expect(body.webhook.created_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    const list = await (await t().get('/api/webhooks')).json()
    expect(list).toEqual({ webhooks: [{ ...body.webhook, secret: undefined }].map(({ secret: _s, ...w }) => w) })
    expect(JSON.stringify(list)).not.toContain(body.webhook.secret)
  })

  it('accepts a given secret and a session filter; refuses an unknown session', async () => {
    await createSession(ctx.db, 'sales')
    const ok = await t().post('/api/webhooks', { url: 'https://hooks.example.org/x?token=1', events: ['session.status'], session: 'sales', secret: 'my-own-secret-1234567' })
    expect(ok.status).toBe(200)
    expect((await ok.json()).webhook).toMatchObject({ session: 'sales', secret: 'my-own-secret-1234567', url: 'https://hooks.example.org/x?token=1' })
    const missing = await t().post('/api/webhooks', { url: 'https://example.com/', events: ['session.status'], session: 'nosuch' })
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ success: false, code: 'unknown_session' })
  })

  it('validates the body: URL syntax (400), private targets (422), events, secret', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ events: ['message.sent'] }, 400, 'missing_field'],
      [{ url: 'not a url', events: ['message.sent'] }, 400, 'invalid_url'],
      [{ url: 'ftp://example.com/', events: ['message.sent'] }, 400, 'invalid_url'],
      [{ url: 'https://user:pw@example.com/', events: ['message.sent'] }, 400, 'invalid_url'],
      [{ url: 'http://127.0.0.1:8080/hook', events: ['message.sent'] }, 422, 'url_not_allowed'],
      [{ url: 'http://[::ffff:10.0.0.1]/', events: ['message.sent'] }, 422, 'url_not_allowed'],
      [{ url: 'http://169.254.169.254/latest/meta-data', events: ['message.sent'] }, 422, 'url_not_allowed'],
      [{ url: 'http://localhost:3000/', events: ['message.sent'] }, 422, 'url_not_allowed'],
      [{ url: 'http://0x7f000001/', events: ['message.sent'] }, 422, 'url_not_allowed'],
      [{ url: 'https://example.com/', events: [] }, 400, 'invalid_array'],
      [{ url: 'https://example.com/', events: ['message.sent', 'message.exploded'] }, 400, 'invalid_event'],
      [{ url: 'https://example.com/', events: 'message.sent' }, 400, 'invalid_type'],
      [{ url: 'https://example.com/', events: ['message.sent'], secret: 'short' }, 400, 'invalid_secret'],
      [{ url: 'https://example.com/', events: ['message.sent'], session: '../x' }, 400, 'invalid_session_name'],
    ]
    for (const [body, status, code] of cases) {
      const res = await t().post('/api/webhooks', body)
      expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), status])
      expect(await res.json()).toMatchObject({ success: false, code })
    }
    expect(await listWebhooks(ctx.db)).toEqual([])
  })

  it('WEBHOOK_ALLOW_HOSTS lets a self-hosted receiver through', async () => {
    const app = createTestApp(ctx.db, { env: { WEBHOOK_ALLOW_HOSTS: '127.0.0.1:8080,receiver.lan:80' } })
    expect((await app.post('/api/webhooks', { url: 'http://127.0.0.1:8080/hook', events: ['message.sent'] })).status).toBe(200)
    expect((await app.post('/api/webhooks', { url: 'http://receiver.lan/hook', events: ['message.sent'] })).status).toBe(200)
    // The entry names port 80 only: the same host's other ports stay refused.
    expect((await app.post('/api/webhooks', { url: 'http://receiver.lan:5432/hook', events: ['message.sent'] })).status).toBe(422)
    expect((await app.post('/api/webhooks', { url: 'http://127.0.0.1:9090/hook', events: ['message.sent'] })).status).toBe(422)
    const open = createTestApp(ctx.db, { env: { WEBHOOK_ALLOW_PRIVATE: '1' } })
    expect((await open.post('/api/webhooks', { url: 'http://10.1.2.3/hook', events: ['message.sent'] })).status).toBe(200)
  })

  it('deletes a webhook (404 after), needs the API key everywhere', async () => {
    const { webhook } = await (await t().post('/api/webhooks', { url: 'https://example.com/', events: ['message.sent'] })).json()
    for (const [method, path] of [['GET', '/api/webhooks'], ['POST', '/api/webhooks'], ['DELETE', `/api/webhooks/${webhook.id}`], ['GET', `/api/webhooks/${webhook.id}/deliveries`], ['POST', '/api/webhooks/deliveries/1/replay']]) {
      const res = await t().app.request(path!, { method })
      expect([path, res.status]).toEqual([path, 401])
    }
    expect((await t().del(`/api/webhooks/${webhook.id}`)).status).toBe(200)
    const again = await t().del(`/api/webhooks/${webhook.id}`)
    expect(again.status).toBe(404)
    expect(await again.json()).toMatchObject({ code: 'unknown_webhook' })
    expect((await t().del('/api/webhooks/abc')).status).toBe(400)
  })

  it('lists deliveries newest first in pages, filters by status, and replays a dead one (409 otherwise)', async () => {
    const { webhook } = await (await t().post('/api/webhooks', { url: 'https://example.com/', events: ['contact.opted_in'] })).json()
    for (let i = 0; i < 3; i++) await setContactOptIn(ctx.db, `96155500${i}00`, 'yes')
    const p1 = await (await t().get(`/api/webhooks/${webhook.id}/deliveries?limit=2`)).json()
    expect(p1.deliveries).toHaveLength(2)
    expect(p1.next).toBe(String(p1.deliveries[1].id))
    expect(p1.deliveries[0]).toMatchObject({ webhook_id: webhook.id, type: 'contact.opted_in', status: 'pending', attempts: 0, data: { phone: '96155500200', opt_in: 'yes' } })
    const p2 = await (await t().get(`/api/webhooks/${webhook.id}/deliveries?limit=2&cursor=${p1.next}`)).json()
    expect(p2.deliveries).toHaveLength(1)
    expect(p2.next).toBeNull()
    // Make the oldest one dead, as the runner would after the window.
    const id = p2.deliveries[0].id as number
    const claims = await webhookClaims.claimDeliveries(ctx.db, { owner: 'r', limit: 10, lockMs: 60_000 })
    const mine = claims.find((x) => x.id === id)!
    await webhookClaims.markFailed(ctx.db, { id, owner: 'r', attempts: mine.attempts, httpStatus: 410, error: 'HTTP 410: gone', backoffMs: 0, windowMs: 0, permanent: true })
    const dead = await (await t().get(`/api/webhooks/${webhook.id}/deliveries?status=dead`)).json()
    expect(dead.deliveries).toEqual([expect.objectContaining({ id, status: 'dead', last_status: 410, last_error: 'HTTP 410: gone' })])
    expect((await t().post(`/api/webhooks/deliveries/${id}/replay`)).status).toBe(200)
    const conflict = await t().post(`/api/webhooks/deliveries/${id}/replay`)
    expect(conflict.status).toBe(409)
    expect(await conflict.json()).toMatchObject({ code: 'not_replayable' })
    expect((await t().post('/api/webhooks/deliveries/999999999/replay')).status).toBe(404)
    expect((await t().get(`/api/webhooks/${webhook.id}/deliveries?status=sent`)).status).toBe(400)
    expect((await t().get('/api/webhooks/999999999/deliveries')).status).toBe(404)
  })

  it('documents the routes in the OpenAPI document', async () => {
    const doc = await (await t().get('/api/openapi.json')).json()
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/webhooks', '/api/webhooks/{id}', '/api/webhooks/{id}/deliveries', '/api/webhooks/deliveries/{id}/replay']))
    expect(doc.paths['/api/webhooks'].post.requestBody.content['application/json'].schema.properties.events.items.enum).toContain('message.received')
  })
})
