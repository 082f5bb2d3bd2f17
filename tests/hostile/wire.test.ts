/**
 * Hostile input on the wire, against the real Node server (`api/node.ts` as a child process): what `app.request()`
 * cannot express — invalid UTF-8 bytes as sent, bodies streamed past the limits without a Content-Length,
 * connections cut mid-body, lying Content-Length headers, malformed request lines and headers. The server must answer
 * every request that reaches the app with a 4xx JSON error, never a 5xx, never hang, never exit; requests broken at
 * the HTTP level are refused by Node's parser (a 4xx without a JSON body, recorded as such); and the database must
 * be unchanged afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../../db/driver.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import { concat, jpegHeader, pngHeader } from './generator.js'
import { diffSnapshots, snapshot, type Snapshot } from './snapshot.js'

const KEY = 'wire-hostile-key-0123456789'
const enc = new TextEncoder()

export interface RawAnswer {
  status: number | null
  headers: Record<string, string>
  body: string
  /** The server closed the connection without any answer. */
  noAnswer: boolean
  ms: number
}

/**
 * Writes `chunks` to a fresh TCP connection (with `gapMs` between them), then ends (`end`), resets (`destroy`) or
 * keeps the connection open, and collects whatever the server sends until it closes or `timeoutMs` passes.
 */
export function rawExchange(
  port: number,
  chunks: Uint8Array[],
  { after = 'end', timeoutMs = 8000, gapMs = 0 }: { after?: 'end' | 'destroy' | 'keep'; timeoutMs?: number; gapMs?: number } = {},
): Promise<RawAnswer> {
  const started = performance.now()
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1')
    const received: Buffer[] = []
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      sock.destroy()
      resolve(parseAnswer(Buffer.concat(received), performance.now() - started))
    }
    const timer = setTimeout(finish, timeoutMs)
    sock.on('data', (d: Buffer) => received.push(d))
    sock.on('close', finish)
    sock.on('error', () => finish())
    const writeAll = async () => {
      for (const c of chunks) {
        if (sock.destroyed) break
        // Honour backpressure: a 10 MB body must really be streamed, not buffered in this process.
        if (!sock.write(c)) await new Promise((r) => sock.once('drain', r))
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs))
      }
      if (after === 'end') sock.end()
      else if (after === 'destroy') sock.resetAndDestroy()
    }
    // A write that fails (the server answered early and closed) ends nothing here: the socket's own 'close' ends the
    // exchange, once the answer the server sent before closing has been read.
    sock.on('connect', () => void writeAll().catch(() => {}))
  })
}

function parseAnswer(raw: Buffer, ms: number): RawAnswer {
  if (raw.length === 0) return { status: null, headers: {}, body: '', noAnswer: true, ms }
  const text = raw.toString('latin1')
  const end = text.indexOf('\r\n\r\n')
  const head = end >= 0 ? text.slice(0, end) : text
  const [statusLine, ...lines] = head.split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? NaN)
  const headers: Record<string, string> = {}
  for (const l of lines) {
    const i = l.indexOf(':')
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
  }
  let body = end >= 0 ? raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1')).toString('utf8') : ''
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body)
  return { status: Number.isNaN(status) ? null : status, headers, body, noAnswer: false, ms }
}

function dechunk(s: string): string {
  let out = ''
  let rest = s
  for (;;) {
    const i = rest.indexOf('\r\n')
    if (i < 0) break
    const n = parseInt(rest.slice(0, i), 16)
    if (!n) break
    out += rest.slice(i + 2, i + 2 + n)
    rest = rest.slice(i + 2 + n + 2)
  }
  return out
}

function request(method: string, path: string, headers: Record<string, string | number>, body?: Uint8Array | string): Uint8Array {
  const b = typeof body === 'string' ? enc.encode(body) : body
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
  return concat([enc.encode(`${head}\r\n`), ...(b ? [b] : [])])
}

const bytes = (...parts: Array<string | number[] | Uint8Array>) =>
  concat(parts.map((p) => (typeof p === 'string' ? enc.encode(p) : p instanceof Uint8Array ? p : new Uint8Array(p))))

function chunked(total: number, chunkSize: number, fill = 0x61): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let sent = 0; sent < total; sent += chunkSize) {
    const n = Math.min(chunkSize, total - sent)
    out.push(bytes(`${n.toString(16)}\r\n`, new Uint8Array(n).fill(fill), '\r\n'))
  }
  out.push(enc.encode('0\r\n\r\n'))
  return out
}

function multipartParts(boundary: string, file: Uint8Array): Uint8Array {
  return bytes(
    `--${boundary}\r\nContent-Disposition: form-data; name="phone"\r\n\r\n9611234567\r\n`,
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
    file,
    `\r\n--${boundary}--\r\n`,
  )
}

interface WireCase {
  title: string
  chunks: Uint8Array[]
  after?: 'end' | 'destroy' | 'keep'
  gapMs?: number
  /** `app`: must be a 4xx JSON error; `parser`: Node refuses it before the app (any 4xx, or a closed connection);
   *  `cut`: the client broke the connection, no answer is expected. */
  reaches: 'app' | 'parser' | 'cut'
  status?: number
}

function wireCases(): WireCase[] {
  const auth = { 'X-API-Key': KEY }
  const json = { ...auth, 'Content-Type': 'application/json' }
  const sendJson = (raw: Uint8Array) => request('POST', '/api/send', { ...json, 'Content-Length': raw.length }, raw)
  const bad: Array<[string, number[]]> = [
    ['0xFF', [0xff]], ['overlong "/"', [0xc0, 0xaf]], ['lone continuation', [0x80]], ['truncated 3-byte', [0xe2, 0x82]],
    ['CESU lone surrogate', [0xed, 0xa0, 0x80]], ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]], ['0xFE 0xFE', [0xfe, 0xfe]],
  ]
  const cases: WireCase[] = []
  for (const [why, b] of bad) {
    cases.push({ title: `JSON with invalid UTF-8 (${why}) in the message`, chunks: [sendJson(bytes('{"phone":"9611234567","message":"a', b, 'b"}'))], reaches: 'app', status: 400 })
    cases.push({ title: `JSON with invalid UTF-8 (${why}) in a key`, chunks: [sendJson(bytes('{"pho', b, 'ne":"9611234567","message":"x"}'))], reaches: 'app', status: 400 })
    cases.push({ title: `session name with invalid UTF-8 (${why})`, chunks: [request('POST', '/api/sessions', { ...json, 'Content-Length': 12 + b.length }, bytes('{"name":"', b, 'x"}'))], reaches: 'app', status: 400 })
  }
  const big = 2 * 1024 * 1024
  cases.push({ title: 'JSON streamed chunked past the 64 KB limit (2 MB, no Content-Length)', chunks: [request('POST', '/api/send', { ...json, 'Transfer-Encoding': 'chunked' }), ...chunked(big, 16 * 1024)], reaches: 'app', status: 413 })
  cases.push({ title: 'send-batch streamed chunked past 8 MB', chunks: [request('POST', '/api/send-batch', { ...json, 'Transfer-Encoding': 'chunked' }), ...chunked(9 * 1024 * 1024, 64 * 1024)], reaches: 'app', status: 413 })
  {
    const boundary = 'wireboundary'
    const file = new Uint8Array(11 * 1024 * 1024)
    file.set(jpegHeader(100, 100), 0)
    const body = multipartParts(boundary, file)
    const head = request('POST', '/api/send-image', { ...auth, 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Transfer-Encoding': 'chunked' })
    const parts: Uint8Array[] = [head]
    for (let i = 0; i < body.length; i += 64 * 1024) {
      const c = body.subarray(i, i + 64 * 1024)
      parts.push(bytes(`${c.length.toString(16)}\r\n`, c, '\r\n'))
    }
    parts.push(enc.encode('0\r\n\r\n'))
    cases.push({ title: 'an 11 MB image streamed chunked (no Content-Length)', chunks: parts, reaches: 'app', status: 413 })
  }
  cases.push({ title: 'Content-Length of 1 TB, 10 bytes sent', chunks: [request('POST', '/api/send-image', { ...auth, 'Content-Type': 'multipart/form-data; boundary=x', 'Content-Length': 1_000_000_000_000 }, '0123456789')], after: 'keep', reaches: 'app', status: 413 })
  cases.push({ title: 'Content-Length of 100 MB on send, 10 bytes sent', chunks: [request('POST', '/api/send', { ...json, 'Content-Length': 100_000_000 }, '{"phone":1')], after: 'keep', reaches: 'app', status: 413 })
  {
    const boundary = 'cutboundary'
    const body = multipartParts(boundary, pngHeader(64, 64, 4000))
    const head = { ...auth, 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': body.length }
    for (const frac of [0.1, 0.5, 0.95]) {
      const cut = body.subarray(0, Math.floor(body.length * frac))
      cases.push({ title: `multipart truncated at ${frac * 100}% then half-closed`, chunks: [request('POST', '/api/send-image', head, cut)], after: 'end', reaches: 'cut' })
      cases.push({ title: `multipart cut at ${frac * 100}% by a reset`, chunks: [request('POST', '/api/send-image', head, cut)], after: 'destroy', reaches: 'cut' })
    }
    cases.push({ title: 'multipart sent slowly in 20 pieces, then cut', chunks: [request('POST', '/api/send-image', head), ...Array.from({ length: 20 }, (_, i) => body.subarray(i * 50, i * 50 + 50))], gapMs: 20, after: 'destroy', reaches: 'cut' })
    // The bytes past Content-Length are a second, garbage request on the connection: Node's parser refuses that
    // one (400, connection closed), usually before the app has answered the first.
    cases.push({ title: 'multipart with a Content-Length shorter than the body', chunks: [request('POST', '/api/send-image', { ...head, 'Content-Length': Math.floor(body.length / 2) }, body)], reaches: 'parser' })
  }
  {
    const raw = enc.encode('{"phone":"9611234567","message":"cut here')
    cases.push({ title: 'JSON truncated (Content-Length larger than sent) then half-closed', chunks: [request('POST', '/api/send', { ...json, 'Content-Length': raw.length + 50 }, raw)], after: 'end', reaches: 'cut' })
    cases.push({ title: 'JSON truncated then reset', chunks: [request('POST', '/api/send', { ...json, 'Content-Length': raw.length + 50 }, raw)], after: 'destroy', reaches: 'cut' })
    cases.push({ title: 'JSON with a Content-Length shorter than the body', chunks: [request('POST', '/api/send', { ...json, 'Content-Length': 20 }, '{"phone":"9611234567","message":"x"}')], reaches: 'parser' })
  }
  cases.push({ title: 'X-API-Key with raw 0xFF 0xFE bytes', chunks: [bytes('GET /api/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: ', [0xff, 0xfe], KEY.slice(2), '\r\n\r\n')], reaches: 'app', status: 401 })
  cases.push({ title: 'X-API-Key with the right key then a UTF-8 é', chunks: [bytes('GET /api/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: ', KEY, [0xc3, 0xa9], '\r\n\r\n')], reaches: 'app', status: 401 })
  cases.push({ title: 'two X-API-Key headers (wrong, right)', chunks: [bytes(`GET /api/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: wrong\r\nX-API-Key: ${KEY}\r\n\r\n`)], reaches: 'app', status: 401 })
  cases.push({ title: 'session query with raw 0xFF in the request target', chunks: [bytes('GET /api/status?session=', [0xff, 0x2e, 0x2e], ` HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: ${KEY}\r\n\r\n`)], reaches: 'parser' })
  cases.push({ title: 'path with raw UTF-8 bytes (session naïve)', chunks: [bytes(`DELETE /api/sessions/na`, [0xc3, 0xaf], `ve HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: ${KEY}\r\n\r\n`)], reaches: 'parser' })
  cases.push({ title: 'path traversal ../ in the raw request target', chunks: [bytes(`DELETE /api/sessions/../../api/sessions/default HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: ${KEY}\r\n\r\n`)], reaches: 'app' })
  cases.push({ title: 'absolute-form request target to another host', chunks: [bytes(`GET http://evil.example/api/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)], reaches: 'app', status: 401 })
  cases.push({ title: 'NUL byte in a header value', chunks: [bytes('GET /api/sessions HTTP/1.1\r\nHost: x\r\nX-API-Key: a', [0], 'b\r\n\r\n')], reaches: 'parser' })
  cases.push({ title: '64 KB header', chunks: [bytes(`GET /api/sessions HTTP/1.1\r\nHost: x\r\nX-Junk: ${'j'.repeat(65_536)}\r\n\r\n`)], reaches: 'parser' })
  cases.push({ title: 'Content-Length and Transfer-Encoding together (smuggling)', chunks: [bytes(`POST /api/send HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`)], reaches: 'parser' })
  cases.push({ title: 'negative Content-Length', chunks: [bytes(`POST /api/send HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Length: -1\r\n\r\n{}`)], reaches: 'parser' })
  cases.push({ title: 'two different Content-Length headers', chunks: [bytes(`POST /api/send HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}`)], reaches: 'parser' })
  cases.push({ title: 'garbage instead of a request line', chunks: [bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])], reaches: 'parser' })
  cases.push({ title: 'HTTP/0.9 style request', chunks: [bytes('GET /api/sessions\r\n\r\n')], reaches: 'parser' })
  cases.push({ title: 'invalid chunk size', chunks: [bytes(`POST /api/send HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`)], reaches: 'parser' })
  return cases
}

/** A server engine the API process can reach (PGlite lives in one process only), or undefined. */
function pickEngine(): Engine | undefined {
  const missing = unavailableEngines()
  const engines = selectedEngines()
  return (['postgres', 'mysql'] as Engine[]).find((e) => engines.includes(e) && !missing[e])
}
const engine = pickEngine()

describe.skipIf(!engine)(`hostile bytes on the wire against the real Node server${engine ? '' : ' [skipped: it needs MariaDB or PostgreSQL (PGlite has no second process)]'}`, () => {
  let child: ChildProcess
  let port = 0
  let t: TestDatabase
  let before: Snapshot
  let output = ''
  const exits: string[] = []

  beforeAll(async () => {
    t = await createTestDatabase(engine!, { migrate: true })
    child = spawn(process.execPath, ['--import', 'tsx', 'api/node.ts'], {
      env: { ...process.env, API_SECRET: KEY, DATABASE_URL: t.url!, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.on('exit', (code, signal) => exits.push(`exit ${code} ${signal}`))
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 90_000)
      const check = setInterval(() => {
        const m = /"url":"http:\/\/[^:]+:(\d+)"/.exec(output)
        if (m) {
          clearInterval(check)
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      }, 50)
    })
    before = await snapshot(t.db)
  }, 120_000)

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGTERM')
    await t?.drop()
  }, 60_000)

  it('answers every request that reaches the app with a 4xx JSON error, survives cut connections, and writes nothing', async () => {
    const problems: string[] = []
    const lines: string[] = []
    for (const c of wireCases()) {
      const a = await rawExchange(port, c.chunks, { after: c.after ?? 'end', gapMs: c.gapMs ?? 0, timeoutMs: c.after === 'keep' ? 5000 : 10_000 })
      lines.push(`${String(a.status ?? (a.noAnswer ? 'closed' : '?')).padEnd(6)} ${Math.round(a.ms).toString().padStart(5)} ms  ${c.reaches.padEnd(6)} ${c.title}`)
      if (a.status !== null && a.status >= 500) problems.push(`${c.title}: ${a.status} ${a.body.slice(0, 200)}`)
      if (c.reaches === 'app') {
        if (a.status === null) problems.push(`${c.title}: no answer`)
        else if (a.status < 400 || a.status > 499) problems.push(`${c.title}: expected a 4xx, got ${a.status}`)
        else if (c.status && a.status !== c.status) problems.push(`${c.title}: expected ${c.status}, got ${a.status} ${a.body.slice(0, 200)}`)
        else {
          try {
            const b = JSON.parse(a.body) as Record<string, unknown>
            if (b.success !== false || typeof b.error !== 'string' || typeof b.code !== 'string') problems.push(`${c.title}: not the error shape: ${a.body.slice(0, 200)}`)
          } catch {
            problems.push(`${c.title}: ${a.status} without a JSON body: ${a.body.slice(0, 120)}`)
          }
        }
      } else if (c.reaches === 'parser' && a.status !== null && (a.status < 400 || a.status > 499)) {
        problems.push(`${c.title}: expected Node to refuse it with a 4xx, got ${a.status}`)
      }
      // After every case the server still answers.
      const health = await rawExchange(port, [request('GET', '/healthz', {})])
      if (health.status !== 200) problems.push(`after "${c.title}": /healthz answered ${health.status ?? 'nothing'}; server output:\n${output.slice(-2000)}`)
    }
    console.log(`wire cases (status, time, where refused, case):\n${lines.join('\n')}`)
    expect(exits, 'the server process never exited').toEqual([])
    expect(problems.join('\n')).toBe('')
    const diff = diffSnapshots(before, await snapshot(t.db))
    expect(diff).toEqual({ added: {}, removed: {}, changed: {} })
    // A client cutting a JSON body short used to be logged as an unhandled error (500); fixed in ac9e540.
    const errorLines = output.split('\n').filter((l) => /"level":50/.test(l))
    expect(errorLines.join('\n')).toBe('')
  }, 300_000)
})
