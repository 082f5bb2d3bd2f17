import { expect, it } from 'vitest'
import { getMessage } from '../../db/queries/messages.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'

describeEachEngine('POST /api/send', (ctx) => {
  const t = () => createTestApp(ctx.db)

  it('queues a text message and answers {"success":true,"message_id":<integer>}', async () => {
    const res = await t().post('/api/send', { phone: '9611234567', message: 'Hello from the gateway!' })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(Object.keys(body)).toEqual(['success', 'message_id'])
    expect(body.success).toBe(true)
    expect(Number.isInteger(body.message_id)).toBe(true)
    const row = await getMessage(ctx.db, body.message_id)
    expect(row).toMatchObject({ session: 'default', phone: '9611234567', type: 'text', body: 'Hello from the gateway!', status: 'pending' })
  })

  it('stores Arabic and emoji text unchanged', async () => {
    const message = 'مرحبا 👋🏽 — اختبار'
    const res = await t().post('/api/send', { phone: '9611234567', message })
    const { message_id } = await res.json()
    expect((await getMessage(ctx.db, message_id))?.body).toBe(message)
  })

  it('normalizes the phone: spaces, dashes, dots, parentheses and a leading + or 00 are stripped', async () => {
    for (const [input, stored] of [
      ['+961 (1) 234-567', '9611234567'],
      ['00961.1.234.567', '9611234567'],
      ['1234567', '1234567'],
      ['123456789012345', '123456789012345'],
    ]) {
      const res = await t().post('/api/send', { phone: input, message: 'x' })
      expect(res.status, input).toBe(200)
      expect((await getMessage(ctx.db, (await res.json()).message_id))?.phone).toBe(stored)
    }
  })

  it.each([
    ['0611234567', 'leading 0'],
    ['123456', '6 digits'],
    ['1234567890123456', '16 digits'],
    ['96112a4567', 'a letter'],
    ['+', 'nothing'],
    ['', 'empty'],
  ])('refuses the phone %s (%s) with 400 invalid_phone naming the rule', async (phone) => {
    const res = await t().post('/api/send', { phone, message: 'x' })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body).toMatchObject({ success: false, code: 'invalid_phone' })
    expect(body.error).toContain('7–15 digits')
    expect(body.error).toContain('country code')
  })

  it('refuses a missing phone or message with 400 missing_field naming the field', async () => {
    let res = await t().post('/api/send', { message: 'x' })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ success: false, error: 'phone: is required', code: 'missing_field', errors: [{ path: 'phone', code: 'missing_field', message: 'is required' }] })
    res = await t().post('/api/send', { phone: '9611234567' })
    expect(await res.json()).toEqual({ success: false, error: 'message: is required', code: 'missing_field', errors: [{ path: 'message', code: 'missing_field', message: 'is required' }] })
  })

  it('refuses wrong-typed fields with 400 invalid_type', async () => {
    for (const body of [
      { phone: '9611234567', message: 42 },
      { phone: ['9611234567'], message: 'x' },
      { phone: '9611234567', message: 'x', session: 7 },
    ]) {
      const res = await t().post('/api/send', body)
      expect(res.status).toBe(400)
      expect((await res.json()).code).toBe('invalid_type')
    }
  })

  it('accepts an integer phone, as PHP sends an int column', async () => {
    const res = await t().post('/api/send', { phone: 9611234567, message: 'x' })
    expect(res.status).toBe(200)
  })

  it('refuses a blank message, a too long one and ill-formed Unicode with 400 invalid_message', async () => {
    const cases: Array<[string, string]> = [
      ['   \n ', 'empty'],
      ['x'.repeat(4097), 'at most 4096 characters'],
      ['bad \ud800 half', 'well-formed Unicode'],
      ['nul \u0000 inside', 'well-formed Unicode'],
    ]
    for (const [message, words] of cases) {
      const res = await t().post('/api/send', { phone: '9611234567', message })
      expect(res.status).toBe(400)
      const body = await res.json()
      expect(body.code).toBe('invalid_message')
      expect(body.error).toContain(words)
    }
  })

  it('counts characters, not UTF-16 units: 4096 emoji pass, MESSAGE_MAX_CHARS lowers the limit', async () => {
    let res = await t().post('/api/send', { phone: '9611234567', message: '😀'.repeat(4096) })
    expect(res.status).toBe(200)
    const small = createTestApp(ctx.db, { env: { MESSAGE_MAX_CHARS: '10' } })
    res = await small.post('/api/send', { phone: '9611234567', message: '12345678901' })
    expect(res.status).toBe(400)
    expect((await res.json()).error).toContain('at most 10 characters')
  })

  it('refuses malformed JSON with 400 invalid_json and non-objects with 400 invalid_type', async () => {
    let res = await t().post('/api/send', '{"phone": "961', {})
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_json')
    res = await t().post('/api/send', '[1,2]')
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'invalid_type', error: 'must be a JSON object, got an array' })
    res = await t().post('/api/send', '')
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_json')
  })

  it('refuses a body that is not JSON with 415 unsupported_media_type', async () => {
    const res = await t().app.request('/api/send', {
      method: 'POST',
      headers: t().headers({ 'Content-Type': 'application/x-www-form-urlencoded' }),
      body: 'phone=9611234567&message=hi',
    })
    expect(res.status).toBe(415)
    expect(await res.json()).toMatchObject({ success: false, code: 'unsupported_media_type' })
    const noType = await t().app.request('/api/send', { method: 'POST', headers: t().headers(), body: '{"phone":"9611234567","message":"x"}' })
    expect(noType.status).toBe(415)
  })

  it('refuses a body over the JSON limit with 413 body_too_large, declared or streamed', async () => {
    const big = JSON.stringify({ phone: '9611234567', message: 'x', padding: 'y'.repeat(70_000) })
    let res = await t().post('/api/send', big)
    expect(res.status).toBe(413)
    expect((await res.json()).code).toBe('body_too_large')
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big))
        controller.close()
      },
    })
    res = await t().app.request('/api/send', {
      method: 'POST', headers: t().headers({ 'Content-Type': 'application/json' }), body: stream, duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(413)
  })

  it('refuses a declared length larger than any route accepts before reading, and counts the 413 in /metrics', async () => {
    const app = t()
    const res = await app.app.request('/api/send', {
      method: 'POST', headers: app.headers({ 'Content-Type': 'application/json', 'Content-Length': String(200 * 1024 * 1024) }), body: '{}',
    })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ success: false, code: 'body_too_large', error: expect.stringContaining('larger than any route accepts') })
    expect(res.headers.get('x-request-id')).toBeTruthy()
    // Refused by the first middleware, without calling the rest: still counted, under the route it asked for.
    const metrics = await (await app.get('/metrics')).text()
    expect(metrics).toMatch(/^wa_gateway_http_requests_total\{method="POST",route="\/api\/send",status="413"\} 1$/m)
    expect(metrics).toMatch(/^wa_gateway_http_request_duration_seconds_count\{method="POST",route="\/api\/send"\} 1$/m)
  })

  it('counts refused and failed answers in /metrics with their status: 401, 400, 404', async () => {
    const app = t()
    expect((await app.post('/api/send', { phone: '9611234567', message: 'x' }, { 'X-API-Key': 'wrong' })).status).toBe(401)
    expect((await app.post('/api/send', { phone: '12', message: 'x' })).status).toBe(400)
    expect((await app.get('/api/nothing-here')).status).toBe(404)
    const metrics = await (await app.get('/metrics')).text()
    expect(metrics).toMatch(/^wa_gateway_http_requests_total\{method="POST",route="\/api\/send",status="401"\} 1$/m)
    expect(metrics).toMatch(/^wa_gateway_http_requests_total\{method="POST",route="\/api\/send",status="400"\} 1$/m)
    expect(metrics).toMatch(/^wa_gateway_http_requests_total\{method="GET",route="unmatched",status="404"\} 1$/m)
  })

  it('ignores unknown JSON fields', async () => {
    const res = await t().post('/api/send', { phone: '9611234567', message: 'x', priority: 'high', extra: { a: 1 } })
    expect(res.status).toBe(200)
  })

  it('sends from a named session, 404 unknown_session for an unknown one, 409 while it is being deleted', async () => {
    const app = t()
    expect((await app.post('/api/sessions', { name: 'sales' })).status).toBe(200)
    let res = await app.post('/api/send', { phone: '9611234567', message: 'x', session: 'sales' })
    expect(res.status).toBe(200)
    expect((await getMessage(ctx.db, (await res.json()).message_id))?.session).toBe('sales')
    res = await app.post('/api/send', { phone: '9611234567', message: 'x', session: 'nope' })
    expect(res.status).toBe(404)
    expect(await res.json()).toMatchObject({ code: 'unknown_session' })
    res = await app.post('/api/send', { phone: '9611234567', message: 'x', session: 'bad name!' })
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_session_name')
    expect((await app.del('/api/sessions/sales')).status).toBe(200)
    res = await app.post('/api/send', { phone: '9611234567', message: 'x', session: 'sales' })
    expect(res.status).toBe(409)
    expect((await res.json()).code).toBe('session_deleting')
  })

  it('gives concurrent sends distinct ids and one row each (group commit)', async () => {
    const app = t()
    const n = 200
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => app.post('/api/send', { phone: `96170${String(i).padStart(6, '0')}`, message: `m${i}` })),
    )
    const ids: number[] = []
    for (const res of results) {
      expect(res.status).toBe(200)
      ids.push((await res.json()).message_id)
    }
    expect(new Set(ids).size).toBe(n)
    // Every id points at its own request's row.
    for (let i = 0; i < n; i += 17) {
      const row = await getMessage(ctx.db, ids[i]!)
      expect(row).toMatchObject({ phone: `96170${String(i).padStart(6, '0')}`, body: `m${i}` })
    }
    expect(app.app.coalescer!.stats.largestBatch).toBeGreaterThan(1)
  })
})

describeEachEngine('Idempotency-Key on POST /api/send', (ctx) => {
  it('returns the same message_id for a retry with the same key and body, without a second row', async () => {
    const t = createTestApp(ctx.db)
    const key = `k-${crypto.randomUUID()}`
    const first = await (await t.post('/api/send', { phone: '9611234567', message: 'once' }, { 'Idempotency-Key': key })).json()
    const again = await t.post('/api/send', { phone: '+961 1 234 567', message: 'once' }, { 'Idempotency-Key': key })
    expect(again.status).toBe(200)
    expect((await again.json()).message_id).toBe(first.message_id)
    const page = await (await t.get('/api/messages?phone=9611234567&limit=500')).json()
    expect(page.messages.filter((m: { body: string }) => m.body === 'once')).toHaveLength(1)
  })

  it('answers 409 idempotency_conflict for the same key with a different body', async () => {
    const t = createTestApp(ctx.db)
    const key = `k-${crypto.randomUUID()}`
    await t.post('/api/send', { phone: '9611234567', message: 'a' }, { 'Idempotency-Key': key })
    const res = await t.post('/api/send', { phone: '9611234567', message: 'b' }, { 'Idempotency-Key': key })
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ success: false, code: 'idempotency_conflict' })
  })

  it('gives concurrent retries with one key one row', async () => {
    const t = createTestApp(ctx.db)
    const key = `k-${crypto.randomUUID()}`
    const results = await Promise.all(
      Array.from({ length: 10 }, () => t.post('/api/send', { phone: '9611234567', message: 'race' }, { 'Idempotency-Key': key })),
    )
    const ids = await Promise.all(results.map(async (r) => (expect(r.status).toBe(200), (await r.json()).message_id)))
    expect(new Set(ids).size).toBe(1)
  })

  it('refuses a malformed key with 400 invalid_idempotency_key', async () => {
    const t = createTestApp(ctx.db)
    const res = await t.post('/api/send', { phone: '9611234567', message: 'x' }, { 'Idempotency-Key': 'has space' })
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_idempotency_key')
  })
})
