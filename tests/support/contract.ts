/**
 * The API contract as a black box, shared by every runtime the API runs on: the guide's endpoints with their
 * exact answer shapes, 401s, validation errors, image upload, plus health and metrics. It talks HTTP only,
 * through a `fetch`-like function, so the same tests run against `createApp` on Node (`app.request`) and against
 * the built worker on workerd (`mf.dispatchFetch`). A `Db` on the same database lets a test set up states the API
 * cannot create (a failed message to resend) and read back what was stored.
 *
 * @example
 * describe('contract on Node', () => {
 *   let target: ContractTarget
 *   beforeAll(async () => { target = { fetch: (p, i) => Promise.resolve(app.request(p, i)), apiKey, db } })
 *   defineContractTests(() => target)
 * })
 */
import sharp from 'sharp'
import { beforeAll, expect, it } from 'vitest'
import type { Db } from '../../db/driver.js'

export interface ContractTarget {
  /** Sends one request; `path` starts with `/`. */
  fetch(path: string, init?: RequestInit): Promise<Response>
  /** A valid X-API-Key. */
  apiKey: string
  /** The database behind the API (set-up and read-back only). */
  db: Db
}

/** The guide's endpoints (and the additions' read routes), each with a method and an otherwise valid path. */
export const GUIDE_ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['GET', '/api/status'],
  ['GET', '/api/sessions'],
  ['POST', '/api/send'],
  ['POST', '/api/send-image'],
  ['POST', '/api/resend/1'],
  ['POST', '/api/regenerate-qr'],
  ['POST', '/api/sessions'],
  ['DELETE', '/api/sessions/support'],
  ['POST', '/api/send-batch'],
  ['GET', '/api/messages'],
  ['GET', '/api/messages/1'],
]

let suffix = 0
const unique = (prefix: string) => `${prefix}${process.pid % 1000}x${++suffix}`

/** Registers the contract tests in the current `describe`; `target()` is read inside each test. */
export function defineContractTests(target: () => ContractTarget): void {
  const t = () => target()
  const headers = (extra: Record<string, string> = {}) => ({ 'X-API-Key': t().apiKey, ...extra })
  const get = (path: string) => t().fetch(path, { headers: headers() })
  const post = (path: string, body?: unknown) =>
    t().fetch(path, {
      method: 'POST',
      headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
  const del = (path: string) => t().fetch(path, { method: 'DELETE', headers: headers() })
  const json = async (res: Response) => {
    expect(res.headers.get('content-type') ?? '').toContain('application/json')
    return res.json()
  }
  const p = (n: number) => (t().db.dialect === 'mysql' ? '?' : `$${n}`)
  /** A stored file's bytes, from its chunks in order (db/queries/media.ts). */
  const storedBytes = async (mediaId: unknown): Promise<Buffer> => {
    const chunks = await t().db.query(`SELECT bytes FROM media_chunks WHERE media_id = ${p(1)} ORDER BY seq`, [mediaId])
    return Buffer.concat(chunks.map((c) => Buffer.from(c.bytes as Uint8Array)))
  }
  const storedMessage = async (id: number) => {
    const [row] = await t().db.query(`SELECT status, body, phone, session, type, media_id FROM messages WHERE id = ${p(1)}`, [id])
    return row
  }

  let png: Uint8Array
  let jpeg: Uint8Array
  beforeAll(async () => {
    const base = sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 20, g: 120, b: 200 } } })
    png = new Uint8Array(await base.clone().png().toBuffer())
    jpeg = new Uint8Array(await base.clone().jpeg().toBuffer())
  })
  const imageForm = (fields: Record<string, string>, file?: { bytes: Uint8Array; name: string }) => {
    const form = new FormData()
    for (const [k, v] of Object.entries(fields)) form.append(k, v)
    if (file) form.append('file', new Blob([file.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), file.name)
    return form
  }
  const postForm = (form: FormData) => t().fetch('/api/send-image', { method: 'POST', headers: headers(), body: form })

  it('answers 401 {"success":false,"error":"Unauthorized"} on every /api route without the right X-API-Key', async () => {
    for (const [method, path] of GUIDE_ROUTES) {
      for (const key of [undefined, 'wrong', `${t().apiKey}x`]) {
        const res = await t().fetch(path, {
          method,
          headers: { 'Content-Type': 'application/json', ...(key === undefined ? {} : { 'X-API-Key': key }) },
          body: method === 'GET' ? undefined : '{}',
        })
        expect(res.status, `${method} ${path} key=${key}`).toBe(401)
        expect(await json(res)).toMatchObject({ success: false, error: 'Unauthorized' })
      }
    }
  })

  it('GET /api/status answers the default session with the guide fields', async () => {
    const res = await get('/api/status')
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body).toMatchObject({ name: 'default' })
    for (const field of ['name', 'status', 'phone', 'last_seen', 'qr_code']) expect(body, field).toHaveProperty(field)
    expect(['online', 'offline', 'connecting']).toContain(body.status)
  })

  it('POST /api/sessions creates a session with the guide message; GET /api/sessions lists it after default', async () => {
    const name = unique('support')
    let res = await post('/api/sessions', { name })
    expect(res.status).toBe(200)
    expect(await json(res)).toEqual({ success: true, message: `Session "${name}" created — check dashboard for QR code` })
    res = await get('/api/sessions')
    expect(res.status).toBe(200)
    const list = (await json(res)) as Array<Record<string, unknown>>
    expect(list[0]).toMatchObject({ name: 'default' })
    const mine = list.find((s) => s.name === name)
    expect(mine).toMatchObject({ name, status: 'connecting', phone: null, last_seen: null })
    res = await post('/api/sessions', { name })
    expect(res.status).toBe(409)
    expect(await json(res)).toMatchObject({ success: false, code: 'session_exists' })
    for (const bad of ['has space', 'x'.repeat(41), '']) {
      res = await post('/api/sessions', { name: bad })
      expect(res.status, bad).toBe(400)
      expect(typeof (await json(res)).error).toBe('string')
    }
  })

  it('DELETE /api/sessions/:name answers {"success":true}; default cannot be deleted', async () => {
    const name = unique('sales')
    expect((await post('/api/sessions', { name })).status).toBe(200)
    let res = await del(`/api/sessions/${name}`)
    expect(res.status).toBe(200)
    expect(await json(res)).toEqual({ success: true })
    expect(((await json(await get('/api/sessions'))) as Array<{ name: string }>).some((s) => s.name === name)).toBe(false)
    res = await del('/api/sessions/default')
    expect(res.status).toBe(409)
    expect(await json(res)).toMatchObject({ success: false, code: 'default_session' })
    expect((await del(`/api/sessions/${unique('ghost')}`)).status).toBe(404)
  })

  it('POST /api/regenerate-qr answers the guide message, for default and a named session', async () => {
    let res = await post('/api/regenerate-qr', { session: 'default' })
    expect(res.status).toBe(200)
    expect(await json(res)).toEqual({ success: true, message: 'Reconnection initiated for session "default"' })
    res = await post('/api/regenerate-qr')
    expect(res.status).toBe(200)
    res = await post('/api/regenerate-qr', { session: unique('ghost') })
    expect(res.status).toBe(404)
  })

  it('POST /api/send queues a text and answers {"success":true,"message_id":<integer>}; Arabic and emoji are stored unchanged', async () => {
    const message = 'مرحبا بالعالم 👋🏽 — café ✓ 𝄞'
    const res = await post('/api/send', { phone: '9611234567', message })
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(Object.keys(body)).toEqual(['success', 'message_id'])
    expect(body.success).toBe(true)
    expect(Number.isInteger(body.message_id)).toBe(true)
    expect(await storedMessage(body.message_id)).toMatchObject({ status: 'pending', body: message, phone: '9611234567', session: 'default', type: 'text' })
    const audit = await json(await get(`/api/messages/${body.message_id}`))
    expect(audit).toMatchObject({ id: body.message_id, body: message, status: 'pending' })
  })

  it('POST /api/send from a named session; unknown session 404', async () => {
    const session = unique('line')
    await post('/api/sessions', { name: session })
    const res = await post('/api/send', { phone: '9611234568', message: 'From support line', session })
    expect(res.status).toBe(200)
    expect(await storedMessage((await json(res)).message_id)).toMatchObject({ session })
    const unknown = await post('/api/send', { phone: '9611234568', message: 'x', session: unique('ghost') })
    expect(unknown.status).toBe(404)
    expect(await json(unknown)).toMatchObject({ success: false, code: 'unknown_session' })
  })

  it('POST /api/send refuses bad input with 400/415 and an error string', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ message: 'no phone' }, 400, 'missing_field'],
      [{ phone: '9611234567' }, 400, 'missing_field'],
      [{ phone: '0123', message: 'x' }, 400, 'invalid_phone'],
      [{ phone: '9611234567', message: '   ' }, 400, 'invalid_message'],
      [{ phone: '9611234567', message: 5 }, 400, 'invalid_type'],
      ['{"phone":', 400, 'invalid_json'],
    ]
    for (const [body, status, code] of cases) {
      const res = await post('/api/send', body)
      expect(res.status, JSON.stringify(body)).toBe(status)
      const answer = await json(res)
      expect(answer, JSON.stringify(body)).toMatchObject({ success: false, code })
      expect(typeof answer.error).toBe('string')
    }
    const form = await t().fetch('/api/send', { method: 'POST', headers: headers({ 'Content-Type': 'text/plain' }), body: 'phone=1' })
    expect(form.status).toBe(415)
  })

  it('POST /api/send-image uploads a JPEG or PNG with a caption (multipart) and stores the original bytes', async () => {
    for (const [kind, bytes] of [['jpeg', jpeg], ['png', png]] as const) {
      const res = await postForm(imageForm({ phone: '9611234567', caption: `Check this out! ${kind}` }, { bytes, name: `photo.${kind}` }))
      expect(res.status, kind).toBe(200)
      const body = await json(res)
      expect(Object.keys(body)).toEqual(['success', 'message_id'])
      const row = await storedMessage(body.message_id)
      expect(row).toMatchObject({ type: 'image', body: `Check this out! ${kind}`, status: 'pending' })
      const [media] = await t().db.query(`SELECT mime, size, width, height FROM media WHERE id = ${p(1)}`, [row!.media_id])
      expect(media).toMatchObject({ mime: `image/${kind}`, width: 40, height: 30, size: bytes.length })
      expect((await storedBytes(row!.media_id)).equals(Buffer.from(bytes))).toBe(true)
    }
    // No caption is fine.
    expect((await postForm(imageForm({ phone: '9611234567' }, { bytes: png, name: 'a.png' }))).status).toBe(200)
  })

  it('POST /api/send-image refuses a missing file or phone (400), a non-image (4xx), JSON (415) and more than 10 MB (413)', async () => {
    let res = await postForm(imageForm({ phone: '9611234567' }))
    expect(res.status).toBe(400)
    expect(await json(res)).toMatchObject({ success: false, code: 'missing_field' })
    res = await postForm(imageForm({}, { bytes: png, name: 'a.png' }))
    expect(res.status).toBe(400)
    res = await postForm(imageForm({ phone: '9611234567' }, { bytes: new TextEncoder().encode('%PDF-1.7 not an image'), name: 'x.jpg' }))
    expect([400, 415, 422]).toContain(res.status)
    expect((await json(res)).success).toBe(false)
    res = await post('/api/send-image', { phone: '9611234567', file: 'abc' })
    expect(res.status).toBe(415)
    const big = new Uint8Array(10 * 1024 * 1024 + 1)
    big.set(png)
    res = await postForm(imageForm({ phone: '9611234567' }, { bytes: big, name: 'big.png' }))
    expect(res.status).toBe(413)
    expect((await json(res)).success).toBe(false)
  })

  // On MySQL this also proves the driver sends large binaries through the binary protocol: inlined as hex they
  // would be ~20 MB, past MariaDB's default 16 MiB max_allowed_packet.
  it('POST /api/send-image stores an image just under the 10 MB limit byte for byte', async () => {
    // An uncompressed PNG of 1700×1900 pixels: about 9.7 MB.
    const big = new Uint8Array(
      await sharp({ create: { width: 1700, height: 1900, channels: 3, background: { r: 128, g: 32, b: 32 } } }).png({ compressionLevel: 0 }).toBuffer(),
    )
    expect(big.length).toBeGreaterThan(9 * 1024 * 1024)
    expect(big.length).toBeLessThan(10 * 1024 * 1024)
    const res = await postForm(imageForm({ phone: '9611234567', caption: 'big' }, { bytes: big, name: 'big.png' }))
    expect(res.status).toBe(200)
    const row = await storedMessage((await json(res)).message_id)
    const [media] = await t().db.query(`SELECT size FROM media WHERE id = ${p(1)}`, [row!.media_id])
    expect(Number(media!.size)).toBe(big.length)
    expect((await storedBytes(row!.media_id)).equals(Buffer.from(big))).toBe(true)
  })

  it('POST /api/resend/:id puts a failed message back to pending; pending 409, unknown 404, bad id 400', async () => {
    const { message_id } = await json(await post('/api/send', { phone: '9612000001', message: 'resend me' }))
    let res = await post(`/api/resend/${message_id}`)
    expect(res.status).toBe(409)
    expect(await json(res)).toMatchObject({ success: false, code: 'not_resendable' })
    await t().db.execute(`UPDATE messages SET status = 'failed', attempts = 5, error = 'x' WHERE id = ${p(1)}`, [message_id])
    res = await post(`/api/resend/${message_id}`)
    expect(res.status).toBe(200)
    expect(await json(res)).toEqual({ success: true })
    expect(await storedMessage(message_id)).toMatchObject({ status: 'pending' })
    expect((await post('/api/resend/987654321')).status).toBe(404)
    expect((await post('/api/resend/abc')).status).toBe(400)
  })

  it('POST /api/send-batch queues several messages and answers their ids in order', async () => {
    const res = await post('/api/send-batch', { messages: [{ phone: '9611000001', message: 'a' }, { phone: '9611000002', message: 'b' }] })
    expect(res.status).toBe(200)
    const body = await json(res)
    expect(body.success).toBe(true)
    expect(body.message_ids).toHaveLength(2)
    expect(body.message_ids[1]).toBeGreaterThan(body.message_ids[0])
  })

  it('GET /api/sessions/:name/check/:phone waits for the runner\'s answer on the row, then serves it from the cache; 429 past the limit', async () => {
    const name = unique('check')
    expect((await post('/api/sessions', { name })).status).toBe(200)
    const phone = `96170${String(suffix).padStart(6, '0')}`
    expect((await get(`/api/sessions/${name}/check/${phone}`)).status).toBe(409)
    expect((await get(`/api/sessions/${name}/check/12ab`)).status).toBe(400)
    expect((await get(`/api/sessions/${unique('ghost')}/check/${phone}`)).status).toBe(404)
    // The test plays the session's runner: online, and it answers the request row once the API has written it.
    await t().db.execute(`UPDATE sessions SET status = 'online' WHERE name = ${p(1)}`, [name])
    const asked = get(`/api/sessions/${name}/check/+${phone}`)
    const answer = `UPDATE number_checks SET answered_at = requested_at, jid = ${p(1)} WHERE session = ${p(2)} AND phone = ${p(3)}`
    for (let i = 0; i < 100 && (await t().db.execute(answer, [`${phone}@s.whatsapp.net`, name, phone])).affectedRows === 0; i++) {
      await new Promise((r) => setTimeout(r, 50))
    }
    let res = await asked
    expect(res.status).toBe(200)
    expect(await json(res)).toEqual({ exists: true, jid: `${phone}@s.whatsapp.net` })
    // The limit is reached: an uncached check is refused, the cached one still answers.
    await t().db.execute(`UPDATE sessions SET check_count = 10 WHERE name = ${p(1)}`, [name])
    res = await get(`/api/sessions/${name}/check/${phone}1`)
    expect(res.status).toBe(429)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await json(res)).toMatchObject({ success: false, code: 'rate_limited' })
    res = await get(`/api/sessions/${name}/check/${phone}`)
    expect([res.status, await json(res)]).toEqual([200, { exists: true, jid: `${phone}@s.whatsapp.net` }])
  })

  it('GET / sends a browser to the dashboard (302 to /dashboard), without a key', async () => {
    const res = await t().fetch('/', { redirect: 'manual' })
    expect(res.status).toBe(302)
    expect(new URL(res.headers.get('location')!, 'http://gateway.test').pathname).toBe('/dashboard')
  })

  it('answers unknown routes with a JSON 404', async () => {
    const res = await get('/api/no-such-route')
    expect(res.status).toBe(404)
    expect(await json(res)).toMatchObject({ success: false, code: 'not_found' })
  })

  it('every answer carries X-Request-Id: the caller\'s own when well-formed, else a new UUID', async () => {
    const own = await t().fetch('/healthz', { headers: { 'X-Request-Id': 'shop-77_a=b' } })
    expect(own.headers.get('x-request-id')).toBe('shop-77_a=b')
    const fresh = await t().fetch('/healthz', { headers: { 'X-Request-Id': 'not valid!' } })
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect((await t().fetch('/api/status')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('GET /healthz and /readyz answer without a key; /readyz checks the database and schema', async () => {
    expect((await t().fetch('/healthz')).status).toBe(200)
    const res = await t().fetch('/readyz')
    expect(res.status).toBe(200)
    expect(await json(res)).toMatchObject({ success: true, status: 'ready', engine: t().db.engine })
  })

  it('GET /metrics needs a key and reports requests by route and status and the queue depth by status', async () => {
    expect((await t().fetch('/metrics')).status).toBe(401)
    await get('/api/status')
    const res = await t().fetch('/metrics', { headers: { Authorization: `Bearer ${t().apiKey}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/plain')
    const text = await res.text()
    expect(text).toMatch(/^wa_gateway_http_requests_total\{method="GET",route="\/api\/status",status="200"\} \d+$/m)
    expect(text).toMatch(/^wa_gateway_messages\{status="pending"\} [1-9]\d*$/m)
    expect(text).toMatch(/^wa_gateway_messages\{status="failed"\} \d+$/m)
    expect(text).toMatch(/^wa_gateway_api_processes 1$/m)
  })
}
