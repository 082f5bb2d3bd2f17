import { expect, it } from 'vitest'
import { createNodeApp } from '../../api/node.js'
import { parseApiConfig } from '../../api/config.js'
import { DatabaseUnavailableError, type Db } from '../../db/driver.js'
import { ROTATED_API_KEY, TEST_API_KEY, createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'

/** Every /api route of the app, with a method and a path that would otherwise be valid. */
const API_ROUTES: Array<[string, string]> = [
  ['GET', '/api/status'],
  ['GET', '/api/sessions'],
  ['POST', '/api/send'],
  ['POST', '/api/send-image'],
  ['POST', '/api/send-batch'],
  ['POST', '/api/resend/1'],
  ['POST', '/api/regenerate-qr'],
  ['POST', '/api/sessions'],
  ['DELETE', '/api/sessions/support'],
  ['GET', '/api/messages'],
  ['GET', '/api/messages/1'],
  ['GET', '/api/openapi.json'],
  ['GET', '/api/no-such-route'],
  ['GET', '/api'],
]

describeEachEngine('X-API-Key, unknown routes, OpenAPI, health', (ctx) => {
  it.each(API_ROUTES)('%s %s without the right X-API-Key answers 401 {"success":false,"error":"Unauthorized"}', async (method, path) => {
    const t = createTestApp(ctx.db)
    for (const headers of <Array<Record<string, string>>>[{}, { 'X-API-Key': 'wrong' }, { 'X-API-Key': `${TEST_API_KEY}x` }, { 'X-API-Key': '' }, { 'x-api-key': TEST_API_KEY.slice(0, -1) }]) {
      const res = await t.app.request(path, { method, headers: { 'Content-Type': 'application/json', ...headers }, body: method === 'GET' ? undefined : '{}' })
      expect(res.status).toBe(401)
      const body = await res.json()
      expect(body).toMatchObject({ success: false, error: 'Unauthorized' })
    }
  })

  it('accepts every key of a comma-separated API_SECRET (rotation) and the header in any case', async () => {
    const t = createTestApp(ctx.db)
    for (const key of [TEST_API_KEY, ROTATED_API_KEY]) {
      expect((await t.app.request('/api/status', { headers: { 'x-api-key': key } })).status).toBe(200)
    }
  })

  it('answers unknown routes with a JSON 404, never HTML or text', async () => {
    const t = createTestApp(ctx.db)
    for (const [method, path] of [['GET', '/api/nope'], ['PUT', '/api/send'], ['GET', '/nothing-here'], ['GET', '/api']]) {
      const res = await t.app.request(path!, { method, headers: t.headers() })
      expect(res.status).toBe(404)
      expect(res.headers.get('content-type')).toContain('application/json')
      expect(await res.json()).toMatchObject({ success: false, code: 'not_found' })
    }
  })

  it('serves an OpenAPI 3.1 document generated from the request schemas', async () => {
    const t = createTestApp(ctx.db)
    const res = await t.get('/api/openapi.json')
    expect(res.status).toBe(200)
    const doc = await res.json()
    expect(doc.openapi).toBe('3.1.0')
    for (const path of ['/api/status', '/api/sessions', '/api/send', '/api/send-image', '/api/resend/{id}', '/api/regenerate-qr', '/api/sessions/{name}', '/api/send-batch', '/api/messages', '/api/messages/{id}', '/healthz', '/readyz']) {
      expect(doc.paths[path], path).toBeDefined()
    }
    const send = doc.paths['/api/send'].post.requestBody.content['application/json'].schema
    // `phone` or `group`, exactly one of them (checked by the handler; the document lists both as optional).
    expect(send.required).toEqual(['message'])
    expect(Object.keys(send.properties)).toEqual(expect.arrayContaining(['phone', 'group', 'message']))
    expect(send.properties.message.maxLength).toBe(4096)
    expect(send.properties.session.pattern).toBe('^[A-Za-z0-9_-]{1,40}$')
    expect(doc.paths['/api/send-batch'].post.requestBody.content['application/json'].schema.properties.messages.maxItems).toBe(1000)
    const image = doc.paths['/api/send-image'].post.requestBody.content['multipart/form-data'].schema
    expect(image.required).toEqual(['file'])
    expect(Object.keys(image.properties)).toEqual(expect.arrayContaining(['phone', 'group', 'file']))
    expect(send.properties.group.description).toMatch(/instead of `?phone/i)
    expect(doc.components.securitySchemes.apiKey).toEqual({ type: 'apiKey', in: 'header', name: 'X-API-Key' })
    // The published limit follows the configuration that validates.
    const small = createTestApp(ctx.db, { env: { MESSAGE_MAX_CHARS: '160' } })
    const doc2 = await (await small.get('/api/openapi.json')).json()
    expect(doc2.paths['/api/send'].post.requestBody.content['application/json'].schema.properties.message.maxLength).toBe(160)
  })

  it('serves a readable HTML reference at /docs without a key', async () => {
    const t = createTestApp(ctx.db)
    const res = await t.app.request('/docs')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    const html = await res.text()
    expect(html).toContain('/api/send-image')
    expect(html).toContain('X-API-Key')
  })

  it('GET /healthz answers without a key; GET /readyz reports the database and schema', async () => {
    const t = createTestApp(ctx.db)
    let res = await t.app.request('/healthz')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ success: true, status: 'ok' })
    res = await t.app.request('/readyz')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ success: true, status: 'ready', engine: ctx.engine })
  })
})

/** A Db whose every call fails as an unreachable server would. */
function downDb(base: Db): Db {
  const fail = async () => {
    throw new DatabaseUnavailableError('database unavailable: ECONNREFUSED')
  }
  return { ...base, dialect: base.dialect, engine: base.engine, query: fail, execute: fail, transaction: fail, close: async () => {} } as Db
}

describeEachEngine('database outages', (ctx) => {
  it('answers 503 database_unavailable on every route that touches the database, and /readyz says why', async () => {
    const config = parseApiConfig({ API_SECRET: TEST_API_KEY, SESSION_CACHE_MS: '0' })
    const app = createNodeApp({ db: downDb(ctx.db), config })
    const h = { 'X-API-Key': TEST_API_KEY, 'Content-Type': 'application/json' }
    const calls: Array<[string, string, unknown]> = [
      ['GET', '/api/status', undefined],
      ['GET', '/api/sessions', undefined],
      ['POST', '/api/send', { phone: '9611234567', message: 'x' }],
      ['POST', '/api/send-batch', { messages: [{ phone: '9611234567', message: 'x' }] }],
      ['POST', '/api/sessions', { name: 'x' }],
      ['GET', '/api/messages', undefined],
    ]
    for (const [method, path, body] of calls) {
      const res = await app.request(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
      expect(res.status, path).toBe(503)
      expect(await res.json()).toMatchObject({ success: false, code: 'database_unavailable' })
    }
    const ready = await app.request('/readyz')
    expect(ready.status).toBe(503)
    expect(await ready.json()).toMatchObject({ success: false, code: 'database_unavailable' })
    expect((await app.request('/healthz')).status).toBe(200)
  })

  it('fails every coalesced waiter with 503 when the multi-row insert fails', async () => {
    const config = parseApiConfig({ API_SECRET: TEST_API_KEY, SESSION_CACHE_MS: '60000' })
    let down = false
    const db = new Proxy(ctx.db, {
      get(target, prop, receiver) {
        if ((prop === 'query' || prop === 'execute') && down) {
          return async () => {
            throw new DatabaseUnavailableError('database unavailable: PROTOCOL_CONNECTION_LOST')
          }
        }
        const v = Reflect.get(target, prop, receiver)
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
    const app = createNodeApp({ db, config })
    const h = { 'X-API-Key': TEST_API_KEY, 'Content-Type': 'application/json' }
    // Warm the session cache, then take the database away.
    expect((await app.request('/api/send', { method: 'POST', headers: h, body: JSON.stringify({ phone: '9611234567', message: 'x' }) })).status).toBe(200)
    down = true
    const results = await Promise.all(
      Array.from({ length: 20 }, () => app.request('/api/send', { method: 'POST', headers: h, body: JSON.stringify({ phone: '9611234567', message: 'y' }) })),
    )
    for (const res of results) expect(res.status).toBe(503)
  })
})
