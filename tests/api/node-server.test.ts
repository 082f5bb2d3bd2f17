/**
 * Starts the real Node server (`tsx api/node.ts`, as `npm run api` does) and runs the guide's
 * curl examples against it, host changed to the local server, checking each answer's shape.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../../db/driver.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'

const run = promisify(execFile)
const KEY = 'guide-example-secret-123'
const GUIDE_HOST = 'https://wa.libralb.online'

/** The guide's curl examples, verbatim (its collapsed "\ " line continuations included). */
const GUIDE = {
  status: `curl -H "X-API-Key: YOUR_SECRET" https://wa.libralb.online/api/status`,
  sessions: `curl -H "X-API-Key: YOUR_SECRET" https://wa.libralb.online/api/sessions`,
  send: `curl -X POST https://wa.libralb.online/api/send \\
-H "X-API-Key: YOUR_SECRET" \\
-H "Content-Type: application/json" \\
-d '{"phone":"9611234567","message":"Hello from the gateway!"}'`,
  sendImage: `curl -X POST https://wa.libralb.online/api/send-image \\ -H "X-API-Key: YOUR_SECRET" \\ -F "phone=9611234567" \\ -F "caption=Check this out!" \\ -F "file=@/path/to/photo.jpg"`,
  resend: `curl -X POST https://wa.libralb.online/api/resend/42 \\ -H "X-API-Key: YOUR_SECRET"`,
  regenerateQr: `curl -X POST https://wa.libralb.online/api/regenerate-qr \\
-H "X-API-Key: YOUR_SECRET" \\
-H "Content-Type: application/json" \\
-d '{"session":"default"}'`,
  createSession: `curl -X POST https://wa.libralb.online/api/sessions \\
-H "X-API-Key: YOUR_SECRET" \\
-H "Content-Type: application/json" \\
-d '{"name":"support"}'`,
  sendFromSupport: `curl -X POST https://wa.libralb.online/api/send \\
-H "X-API-Key: YOUR_SECRET" \\
-H "Content-Type: application/json" \\
-d '{"phone":"9611234567","message":"From support line","session":"support"}'`,
  deleteSession: `curl -X DELETE https://wa.libralb.online/api/sessions/support \\ -H "X-API-Key: YOUR_SECRET"`,
}

function pickEngine(): Engine {
  const missing = unavailableEngines()
  const engines = selectedEngines()
  return (['postgres', 'mysql', 'pglite'] as Engine[]).find((e) => engines.includes(e) && !missing[e]) ?? 'pglite'
}

describe('the Node server answers the guide\'s curl examples', () => {
  let child: ChildProcess
  let base = ''
  let t: TestDatabase | null = null
  let dir = ''
  let photo = ''

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wa-api-'))
    photo = join(dir, 'photo.jpg')
    writeFileSync(photo, await sharp({ create: { width: 80, height: 60, channels: 3, background: '#0a8' } }).jpeg().toBuffer())
    const engine = pickEngine()
    let databaseUrl: string
    if (engine === 'pglite') {
      databaseUrl = `pglite:${join(dir, 'db')}`
    } else {
      t = await createTestDatabase(engine, { migrate: false })
      databaseUrl = t.url!
    }
    child = spawn(process.execPath, ['--import', 'tsx', 'api/node.ts'], {
      env: { ...process.env, API_SECRET: `${KEY},previous-key-0123456789`, DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 90_000)
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        const m = /"url":"(http:\/\/[^"]+)"/.exec(output)
        if (m) {
          clearTimeout(timer)
          resolve(m[1]!)
        }
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)))
    })
  }, 120_000)

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
    await t?.drop()
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  async function curl(example: string): Promise<{ status: number; body: unknown }> {
    const command = example
      // The guide lost some line breaks: "\ -H" is a line continuation, not an escaped space.
      .replace(/ \\ /g, ' \\\n')
      .replaceAll(GUIDE_HOST, base)
      .replaceAll('YOUR_SECRET', KEY)
      .replaceAll('/path/to/photo.jpg', photo)
    const { stdout } = await run('bash', ['-c', `${command} -s -w '\\n%{http_code}'`])
    const lines = stdout.trimEnd().split('\n')
    const status = Number(lines.pop())
    return { status, body: JSON.parse(lines.join('\n')) }
  }

  it('runs every example with the documented answer shapes', async () => {
    const status = await curl(GUIDE.status)
    expect(status.status).toBe(200)
    expect(status.body).toMatchObject({ name: 'default', status: expect.stringMatching(/^(online|offline|connecting)$/) })
    expect(Object.keys(status.body as object)).toEqual(['name', 'status', 'phone', 'last_seen', 'qr_code', 'detail', 'qr', 'proxy'])

    const sessions = await curl(GUIDE.sessions)
    expect(sessions.status).toBe(200)
    expect((sessions.body as Array<{ name: string }>)[0]!.name).toBe('default')

    const send = await curl(GUIDE.send)
    expect(send.status).toBe(200)
    expect(send.body).toEqual({ success: true, message_id: expect.any(Number) })
    expect(Number.isInteger((send.body as { message_id: number }).message_id)).toBe(true)

    const image = await curl(GUIDE.sendImage)
    expect(image.status).toBe(200)
    expect(image.body).toEqual({ success: true, message_id: expect.any(Number) })

    // Make message 42 exist and failed, as in the guide's example.
    const nextId = (image.body as { message_id: number }).message_id + 1
    const fill = await fetch(`${base}/api/send-batch`, {
      method: 'POST',
      headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: Array.from({ length: Math.max(1, 43 - nextId) }, () => ({ phone: '9611234567', message: 'filler' })) }),
    })
    const ids: number[] = ((await fill.json()) as { message_ids: number[] }).message_ids
    expect(ids).toContain(42)
    const notYet = await curl(GUIDE.resend)
    expect(notYet.status).toBe(409)
    expect(notYet.body).toMatchObject({ success: false, code: 'not_resendable' })

    const qr = await curl(GUIDE.regenerateQr)
    expect(qr.body).toEqual({ success: true, message: 'Reconnection initiated for session "default"' })

    const created = await curl(GUIDE.createSession)
    expect(created.body).toEqual({ success: true, message: 'Session "support" created — check dashboard for QR code' })

    const fromSupport = await curl(GUIDE.sendFromSupport)
    expect(fromSupport.body).toEqual({ success: true, message_id: expect.any(Number) })

    const deleted = await curl(GUIDE.deleteSession)
    expect(deleted.body).toEqual({ success: true })

    const unauthorized = await curl(GUIDE.status.replace('YOUR_SECRET', 'wrong'))
    expect(unauthorized.status).toBe(401)
    expect(unauthorized.body).toMatchObject({ success: false, error: 'Unauthorized' })
  })

  it('refuses a 10.5 MB upload with 413 JSON', async () => {
    const big = join(dir, 'big.jpg')
    const bytes = Buffer.alloc(Math.round(10.5 * 1024 * 1024))
    bytes.set([0xff, 0xd8, 0xff])
    writeFileSync(big, bytes)
    const res = await curl(`curl -X POST ${GUIDE_HOST}/api/send-image -H "X-API-Key: YOUR_SECRET" -F "phone=9611234567" -F "file=@${big}"`)
    expect(res.status).toBe(413)
    expect(res.body).toMatchObject({ success: false, code: 'body_too_large' })
  })

  it('names every answer with X-Request-Id: the caller\'s own when well-formed, else a new one, errors included', async () => {
    const headers = { 'X-API-Key': KEY, 'Content-Type': 'application/json' }
    const fresh = await fetch(`${base}/api/send`, { method: 'POST', headers, body: JSON.stringify({ phone: '9611234567', message: 'id?' }) })
    expect(fresh.status).toBe(200)
    const id = fresh.headers.get('x-request-id')
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    const again = await fetch(`${base}/api/status`, { headers: { ...headers, 'X-Request-Id': 'order-1234_retry=2' } })
    expect(again.headers.get('x-request-id')).toBe('order-1234_retry=2')
    const other = await fetch(`${base}/api/status`, { headers })
    expect(other.headers.get('x-request-id')).not.toBe(id)
    // A malformed id is replaced; errors and unknown routes carry one too, and exactly one.
    const bad = await fetch(`${base}/api/send`, { method: 'POST', headers: { ...headers, 'X-Request-Id': 'has space' }, body: '{' })
    expect(bad.status).toBe(400)
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const unauthorized = await fetch(`${base}/api/status`, { headers: { 'X-Request-Id': 'abc' } })
    expect(unauthorized.status).toBe(401)
    expect(unauthorized.headers.get('x-request-id')).toBe('abc')
  })

  it('puts X-Request-Id on every kind of answer, whatever path the adapter writes it by', async () => {
    // The id is set on Node's response before the app runs, and each kind of body reaches Node differently
    // (a JSON string, HTML, text with headers of its own, a redirect, an asset with caching headers, HEAD).
    const kinds: Array<[string, RequestInit, number]> = [
      ['/api/openapi.json', { headers: { 'X-API-Key': KEY } }, 200],
      ['/docs', {}, 200],
      ['/metrics', { headers: { Authorization: `Bearer ${KEY}` } }, 200],
      ['/dashboard', { redirect: 'manual' }, 303],
      ['/dashboard/assets/style.css', {}, 200],
      ['/healthz', { method: 'HEAD' }, 200],
    ]
    for (const [path, init, status] of kinds) {
      const res = await fetch(`${base}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), 'X-Request-Id': `kind-${path.length}` } })
      expect([path, res.status]).toEqual([path, status])
      expect([path, res.headers.get('x-request-id')]).toEqual([path, `kind-${path.length}`])
      await res.arrayBuffer()
    }
  })

  it('answers /healthz and /readyz without a key', async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ success: true, status: 'ok' })
    expect(await (await fetch(`${base}/readyz`)).json()).toMatchObject({ success: true, status: 'ready' })
  })
})
