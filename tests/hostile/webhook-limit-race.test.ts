/**
 * The 50-webhook limit under concurrency: a count checked before the insert, outside any lock, let 80 concurrent
 * creates end with 53 webhooks. Every create now takes the same lock, counts and inserts in one transaction
 * (db/queries/webhook-endpoints.ts), so 80 concurrent creates end with exactly 50, through the API and the dashboard alike.
 */
import { beforeEach, expect, it } from 'vitest'
import { countWebhooks, listWebhooks } from '../../db/queries/webhook-endpoints.js'
import { MAX_WEBHOOKS } from '../../api/webhook-schemas.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'
import { dashboardApp, signIn } from '../dashboard/support.js'

const CONCURRENT = 80

describeEachEngine('the webhook limit under concurrent creates', (ctx) => {
  beforeEach(async () => {
    await ctx.db.execute('DELETE FROM webhook_deliveries')
    await ctx.db.execute('DELETE FROM webhooks')
  })

  it(`POST /api/webhooks: ${CONCURRENT} at once leave exactly ${MAX_WEBHOOKS}, the rest answered 409`, async () => {
    const t = createTestApp(ctx.db)
    const answers = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => t.post('/api/webhooks', { url: `https://example.com/hook/${i}`, events: ['message.sent'] })),
    )
    const statuses = answers.map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(MAX_WEBHOOKS)
    expect(statuses.filter((s) => s === 409)).toHaveLength(CONCURRENT - MAX_WEBHOOKS)
    const refused = answers.find((r) => r.status === 409)!
    expect(await refused.json()).toMatchObject({ success: false, code: 'too_many_webhooks' })
    expect(await countWebhooks(ctx.db)).toBe(MAX_WEBHOOKS)
  }, 60_000)

  it(`the dashboard's Add form: ${CONCURRENT} at once leave exactly ${MAX_WEBHOOKS}`, async () => {
    const app = dashboardApp(ctx.db)
    const b = await signIn(app)
    const answers = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => b.post('/dashboard/webhooks', { url: `https://example.com/dash/${i}`, events: 'message.sent' })),
    )
    const statuses = answers.map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(MAX_WEBHOOKS)
    expect(statuses.filter((s) => s === 409)).toHaveLength(CONCURRENT - MAX_WEBHOOKS)
    expect(await countWebhooks(ctx.db)).toBe(MAX_WEBHOOKS)
  }, 60_000)

  it('a full table refuses one more, and a delete makes room again', async () => {
    const t = createTestApp(ctx.db)
    for (let i = 0; i < MAX_WEBHOOKS; i++) {
      expect((await t.post('/api/webhooks', { url: `https://example.com/seq/${i}`, events: ['message.sent'] })).status).toBe(200)
    }
    expect((await t.post('/api/webhooks', { url: 'https://example.com/one-more', events: ['message.sent'] })).status).toBe(409)
    const [first] = await listWebhooks(ctx.db)
    expect((await t.del(`/api/webhooks/${first!.id}`)).status).toBe(200)
    expect((await t.post('/api/webhooks', { url: 'https://example.com/one-more', events: ['message.sent'] })).status).toBe(200)
    expect(await countWebhooks(ctx.db)).toBe(MAX_WEBHOOKS)
  }, 60_000)
})
