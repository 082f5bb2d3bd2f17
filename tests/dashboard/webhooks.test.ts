import { beforeAll, beforeEach, expect, it } from 'vitest'
import { setContactOptIn } from '../../db/lifecycle/opt-out.js'
import { getDelivery } from '../../db/queries/webhook-deliveries.js'
import { countWebhooks, createWebhook, listWebhooks } from '../../db/queries/webhook-endpoints.js'
import * as webhookClaims from '../../db/queries/webhook-claims.js'
import type { App } from '../../api/app.js'
import { describeEachEngine } from '../support/db.js'
import { dashboardApp, ORIGIN, signIn, textOf, type Browserish } from './support.js'

/** The dashboard's Webhooks page: list, add (secret shown once), delete, recent deliveries, replay a dead one. */
describeEachEngine('dashboard webhooks', (ctx) => {
  let app: App
  let b: Browserish

  beforeAll(async () => {
    app = dashboardApp(ctx.db)
    b = await signIn(app)
  })
  beforeEach(async () => {
    await ctx.db.execute('DELETE FROM webhook_deliveries')
    await ctx.db.execute('DELETE FROM webhooks')
  })

  it('needs a sign-in, and its forms need the CSRF token', async () => {
    const res = await app.request(`${ORIGIN}/dashboard/webhooks`)
    expect(res.status).toBe(303)
    const forged = await b.post('/dashboard/webhooks', { url: 'https://example.com/x', events: 'message.sent' }, { csrf: 'forged' })
    expect(forged.status).toBe(403)
    expect(await listWebhooks(ctx.db)).toEqual([])
    const page = await b.get('/dashboard/webhooks')
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('aria-current="page"')
    expect(textOf(html)).toContain('No webhooks yet')
  })

  it('adds a webhook and shows its secret once; refuses a private URL inline', async () => {
    const form = new FormData()
    form.set('url', 'https://example.com/wa-events')
    form.append('events', 'message.sent')
    form.append('events', 'contact.opted_out')
    const res = await b.post('/dashboard/webhooks', form)
    expect(res.status).toBe(200)
    const html = await res.text()
    const secret = /data-field="secret">([^<]+)</.exec(html)?.[1]
    expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/)
    const [hook] = await listWebhooks(ctx.db)
    expect(hook).toMatchObject({ url: 'https://example.com/wa-events', events: ['message.sent', 'contact.opted_out'], session: null })
    const again = await (await b.get('/dashboard/webhooks')).text()
    expect(again).toContain('https://example.com/wa-events')
    expect(again).not.toContain(secret!)
    const bad = new FormData()
    bad.set('url', 'http://192.168.1.10/hook')
    bad.append('events', 'message.sent')
    const refused = await b.post('/dashboard/webhooks', bad)
    expect(refused.status).toBe(422)
    expect(textOf(await refused.text())).toMatch(/non-public address, private \(192\.168\.0\.0\/16\)/)
    expect(await countWebhooks(ctx.db)).toBe(1)
  })

  it('shows every refused field beside its field at once', async () => {
    const bad = new FormData()
    bad.set('url', 'ftp://example.com/hook')
    bad.append('events', 'message.lost')
    bad.set('secret', 'short')
    const refused = await b.post('/dashboard/webhooks', bad)
    expect(refused.status).toBe(422)
    const html = await refused.text()
    const beside = (id: string) => textOf(new RegExp(`<p class="error" id="${id}">([^<]*)</p>`).exec(html)?.[1] ?? '')
    expect(beside('wh-url-error')).toMatch(/http/)
    expect(beside('wh-events-error')).toMatch(/^Must be one of message\.sent/)
    expect(beside('wh-secret-error')).toMatch(/^Must be 16–200 printable ASCII characters/)
    expect(await countWebhooks(ctx.db)).toBe(0)
  })

  it('lists deliveries, replays a dead one, deletes a webhook', async () => {
    const hook = await createWebhook(ctx.db, { url: 'https://example.com/h', events: ['contact.opted_in'], session: null, secret: 's'.repeat(20) })
    await setContactOptIn(ctx.db, '96177000001', 'yes')
    const [c] = await webhookClaims.claimDeliveries(ctx.db, { owner: 'r', limit: 1, lockMs: 60_000 })
    await webhookClaims.markFailed(ctx.db, { id: c!.id, owner: 'r', attempts: 1, httpStatus: 500, error: 'HTTP 500: boom', backoffMs: 0, windowMs: 0, permanent: true })
    const html = await (await b.get('/dashboard/webhooks?status=dead')).text()
    expect(html).toContain(`data-delivery="${c!.id}"`)
    expect(textOf(html)).toContain('HTTP 500: boom')
    const replay = await b.post(`/dashboard/webhooks/deliveries/${c!.id}/replay`, { back: '/dashboard/webhooks?status=dead' })
    expect(replay.status).toBe(303)
    expect(replay.headers.get('location')).toBe(`/dashboard/webhooks?status=dead&done=replayed&id=${c!.id}`)
    expect((await getDelivery(ctx.db, c!.id))!.status).toBe('pending')
    const twice = await b.post(`/dashboard/webhooks/deliveries/${c!.id}/replay`, {})
    expect(twice.headers.get('location')).toBe(`/dashboard/webhooks?done=not-replayable&id=${c!.id}`)
    const del = await b.post(`/dashboard/webhooks/endpoints/${hook.id}/delete`, {})
    expect(del.status).toBe(303)
    expect(await listWebhooks(ctx.db)).toEqual([])
    expect(textOf(await (await b.get(del.headers.get('location')!)).text())).toContain(`Webhook #${hook.id} and its delivery history are deleted.`)
  })
})
