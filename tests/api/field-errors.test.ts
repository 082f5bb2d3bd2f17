import { describe, expect, it } from 'vitest'
import { createApp } from '../../api/app.js'
import { parseApiConfig } from '../../api/config.js'

const KEY = 'field-errors-test-key'

/**
 * Validation answers before any query, so these requests never reach a database; one that did would fail on the
 * missing `db` and answer 500, which every assertion below would catch.
 */
const app = createApp({ config: parseApiConfig({ API_SECRET: KEY }), database: (_c, next) => next(), dashboard: false })

function post(path: string, body: unknown) {
  return app.request(path, { method: 'POST', headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
}

describe('a bad request answers every field problem at once', () => {
  it('POST /api/send: error and code are the first problem, errors lists them all in field order', async () => {
    const res = await post('/api/send', { phone: '012', message: '   ', session: 'no spaces', send_at: 'tomorrow' })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(Object.keys(body)).toEqual(['success', 'error', 'code', 'errors'])
    expect(body.success).toBe(false)
    expect(body.code).toBe('invalid_phone')
    expect(body.error).toMatch(/^phone: /)
    expect(body.errors.map((e: { path: string; code: string }) => [e.path, e.code])).toEqual([
      ['phone', 'invalid_phone'],
      ['message', 'invalid_message'],
      ['session', 'invalid_session_name'],
      ['send_at', 'invalid_send_at'],
    ])
    // Each message is the field's own, without its path: `error` is the first one with the path in front.
    expect(body.error).toBe(`phone: ${body.errors[0].message}`)
  })

  it('keeps a single problem\'s answer as it was, plus a one-item errors', async () => {
    const body = await (await post('/api/send', { message: 'x' })).json()
    expect(body).toEqual({ success: false, error: 'phone: is required', code: 'missing_field', errors: [{ path: 'phone', code: 'missing_field', message: 'is required' }] })
  })

  it('POST /api/send-batch names every bad item by index', async () => {
    const phone = '9614100000'
    const res = await post('/api/send-batch', { messages: [{ phone, message: 'ok' }, { phone: '012', message: 'x' }, { phone }, { phone, message: 'ok' }] })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toMatch(/^messages\[1\]\.phone: /)
    expect(body.errors.map((e: { path: string }) => e.path)).toEqual(['messages[1].phone', 'messages[2].message'])
  })

  it('keeps a non-400 first problem\'s status (send_at too far is 422) and lists the rest', async () => {
    const farAhead = new Date(Date.now() + 2 * 365 * 86_400_000).toISOString()
    const res = await post('/api/send', { phone: '9611234567', message: 'x', send_at: farAhead, session: '' })
    const body = await res.json()
    expect(body.code).toBe('invalid_session_name')
    expect(res.status).toBe(400)
    expect(body.errors.map((e: { code: string }) => e.code)).toEqual(['invalid_session_name', 'send_at_too_far'])
  })

  it('POST /api/send-image reports the text fields and the missing file together', async () => {
    const form = new FormData()
    form.set('phone', 'abc')
    const res = await app.request('/api/send-image', { method: 'POST', headers: { 'X-API-Key': KEY }, body: form })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.code).toBe('invalid_phone')
    expect(body.errors.map((e: { path: string; code: string }) => [e.path, e.code])).toEqual([['phone', 'invalid_phone'], ['file', 'missing_field']])
  })

  it('GET /api/messages lists every bad query parameter', async () => {
    const res = await app.request('/api/messages?status=lost&limit=0&since=2025-02-30', { headers: { 'X-API-Key': KEY } })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.code).toBe('invalid_status')
    expect(body.errors.map((e: { path: string }) => e.path)).toEqual(['status', 'since', 'limit'])
  })

  it('caps the list at 100 problems for a batch full of bad items', async () => {
    const res = await post('/api/send-batch', { messages: Array.from({ length: 300 }, () => ({ phone: '0', message: '' })) })
    const body = await res.json()
    expect(body.errors).toHaveLength(100)
    expect(body.errors[99].path).toBe('messages[49].message')
  })

  it('answers other refusals (not field validation) without errors', async () => {
    const res = await app.request('/api/send', { method: 'POST', headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' }, body: '{"phone":' })
    expect(res.status).toBe(400)
    expect(Object.keys(await res.json())).toEqual(['success', 'error', 'code'])
  })
})
