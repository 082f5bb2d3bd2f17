import { expect, it } from 'vitest'
import type { Db } from '../../db/driver.js'
import { setContactOptIn } from '../../db/lifecycle/opt-out.js'
import { getMessage } from '../../db/queries/messages.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'

async function markFailed(db: Db, id: number): Promise<void> {
  const p = (n: number) => (db.dialect === 'mysql' ? '?' : `$${n}`)
  await db.execute(`UPDATE messages SET status = 'failed', attempts = 5, error = ${p(1)} WHERE id = ${p(2)}`, ['no route to phone', id])
}

describeEachEngine('POST /api/resend/:id', (ctx) => {
  it('puts a failed message back to pending and answers {"success":true}', async () => {
    const t = createTestApp(ctx.db)
    const { message_id } = await (await t.post('/api/send', { phone: '9612000001', message: 'x' })).json()
    await markFailed(ctx.db, message_id)
    const res = await t.post(`/api/resend/${message_id}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ success: true })
    expect(await getMessage(ctx.db, message_id)).toMatchObject({ status: 'pending', attempts: 0, error: null })
  })

  it('resends an opted_out message', async () => {
    const t = createTestApp(ctx.db)
    const { message_id } = await (await t.post('/api/send', { phone: '9612000002', message: 'x' })).json()
    await setContactOptIn(ctx.db, '9612000002', 'no')
    expect((await getMessage(ctx.db, message_id))?.status).toBe('opted_out')
    expect((await t.post(`/api/resend/${message_id}`)).status).toBe(200)
    expect((await getMessage(ctx.db, message_id))?.status).toBe('pending')
  })

  it('refuses a pending message with 409 not_resendable, an unknown id with 404, a bad id with 400', async () => {
    const t = createTestApp(ctx.db)
    const { message_id } = await (await t.post('/api/send', { phone: '9612000003', message: 'x' })).json()
    let res = await t.post(`/api/resend/${message_id}`)
    expect(res.status).toBe(409)
    const body = await res.json()
    expect(body).toMatchObject({ success: false, code: 'not_resendable' })
    expect(body.error).toContain('only failed or opted_out')
    res = await t.post('/api/resend/999999999')
    expect(res.status).toBe(404)
    expect((await res.json()).code).toBe('unknown_message')
    for (const bad of ['abc', '0', '-1', '1.5', '99999999999999999999']) {
      res = await t.post(`/api/resend/${bad}`)
      expect(res.status, bad).toBe(400)
      expect((await res.json()).code).toBe('invalid_id')
    }
  })
})

describeEachEngine('GET /api/messages and /api/messages/:id', (ctx) => {
  it('returns the full record of one message', async () => {
    const t = createTestApp(ctx.db)
    const { message_id } = await (await t.post('/api/send', { phone: '9613000001', message: 'audit me' })).json()
    await markFailed(ctx.db, message_id)
    const res = await t.get(`/api/messages/${message_id}`)
    expect(res.status).toBe(200)
    const m = await res.json()
    expect(m).toMatchObject({
      id: message_id, session: 'default', phone: '9613000001', type: 'text', body: 'audit me', status: 'failed',
      attempts: 5, error: 'no route to phone', media_id: null, sent_at: null, delivered_at: null, read_at: null,
    })
    expect(m.wa_message_id).toMatch(/^3EB0[0-9A-F]{18}$/)
    expect(m.created_at).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
    expect((await t.get('/api/messages/987654321')).status).toBe(404)
    expect((await t.get('/api/messages/x')).status).toBe(400)
  })

  it('pages newest first with limit and a next cursor until null, without gaps or repeats', async () => {
    const t = createTestApp(ctx.db)
    const phone = '9613000099'
    const res = await t.post('/api/send-batch', { messages: Array.from({ length: 23 }, (_, i) => ({ phone, message: `p${i}` })) })
    const ids: number[] = (await res.json()).message_ids
    const seen: number[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: { messages: Array<{ id: number }>; next: string | null } = await (
        await t.get(`/api/messages?phone=${phone}&limit=5${cursor ? `&cursor=${cursor}` : ''}`)
      ).json()
      seen.push(...page.messages.map((m) => m.id))
      cursor = page.next
      pages++
    } while (cursor)
    expect(pages).toBe(5)
    expect(seen).toEqual([...ids].sort((a, b) => b - a))
  })

  it('filters by status, session, phone, since and until', async () => {
    const t = createTestApp(ctx.db)
    await t.post('/api/sessions', { name: 'filt' })
    const a = (await (await t.post('/api/send', { phone: '9613100001', message: 'a', session: 'filt' })).json()).message_id
    const b = (await (await t.post('/api/send', { phone: '9613100002', message: 'b', session: 'filt' })).json()).message_id
    await markFailed(ctx.db, b)
    const list = async (q: string) => ((await (await t.get(`/api/messages?${q}`)).json()).messages as Array<{ id: number }>).map((m) => m.id)
    expect(await list('session=filt')).toEqual([b, a])
    expect(await list('session=filt&status=failed')).toEqual([b])
    expect(await list('session=filt&status=pending')).toEqual([a])
    expect(await list('phone=%2B961-3100001')).toEqual([a])
    expect(await list('session=filt&since=2000-01-01')).toEqual([b, a])
    expect(await list('session=filt&until=2000-01-01%2000:00:00')).toEqual([])
    expect(await list('session=filt&since=2999-01-01T00:00:00Z')).toEqual([])
  })

  it('refuses bad filters with 400 and a code per rule', async () => {
    const t = createTestApp(ctx.db)
    const cases: Array<[string, string]> = [
      ['status=done', 'invalid_status'],
      ['limit=0', 'invalid_limit'],
      ['limit=501', 'invalid_limit'],
      ['limit=ten', 'invalid_limit'],
      ['since=yesterday', 'invalid_timestamp'],
      ['until=2025-13-45', 'invalid_timestamp'],
      ['cursor=abc', 'invalid_cursor'],
      ['session=no%20way', 'invalid_session_name'],
      ['phone=12', 'invalid_phone'],
    ]
    for (const [q, code] of cases) {
      const res = await t.get(`/api/messages?${q}`)
      expect(res.status, q).toBe(400)
      expect((await res.json()).code, q).toBe(code)
    }
    expect((await t.get('/api/messages?limit=500')).status).toBe(200)
  })
})
