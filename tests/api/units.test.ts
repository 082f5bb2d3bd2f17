import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { createApp } from '../../api/app.js'
import { sharedDatabase } from '../../api/middleware/database.js'
import { createSendCoalescer } from '../../api/coalescer.js'
import { parseApiConfig } from '../../api/config.js'
import { formatTime } from '../../api/format.js'
import { Hono } from '../../api/hono-app.js'
import { readImageInfo, sniffImageType } from '../../api/image.js'
import { matchesPreparedKey, prepareKeys } from '../../api/middleware/api-key.js'
import { normalizePhone } from '../../api/phone.js'
import { DatabaseUnavailableError, POSTGRES_CAPABILITIES, type Db, type Queryable } from '../../db/driver.js'
import { ConfigError } from '../../db/shared/settings.js'
import { newWaMessageId } from '../../db/lifecycle/enqueue.js'
import { createTestDatabase } from '../support/db.js'

describe('parseApiConfig', () => {
  it('refuses to start without API_SECRET, with a message that says what to do', () => {
    for (const env of [{}, { API_SECRET: '' }, { API_SECRET: ' , ' }]) {
      expect(() => parseApiConfig(env)).toThrow(ConfigError)
      expect(() => parseApiConfig(env)).toThrow(/API_SECRET is empty.*X-API-Key/s)
    }
  })

  it('splits several keys for rotation and reads the limits', () => {
    const c = parseApiConfig({ API_SECRET: 'new-key-0123456789, old-key-0123456789', MESSAGE_MAX_CHARS: '1000', PORT: '8080' })
    expect(c.apiKeys).toEqual(['new-key-0123456789', 'old-key-0123456789'])
    expect(c.messageMaxChars).toBe(1000)
    expect(c.port).toBe(8080)
    const key = 'k'.repeat(16)
    expect(parseApiConfig({ API_SECRET: key })).toMatchObject({ messageMaxChars: 4096, port: 3000, imageMaxBytes: 10 * 1024 * 1024, batchMaxItems: 1000 })
    expect(() => parseApiConfig({ API_SECRET: key, MESSAGE_MAX_CHARS: 'lots' })).toThrow(/MESSAGE_MAX_CHARS must be a whole number/)
    expect(() => parseApiConfig({ API_SECRET: key, PORT: '70000' })).toThrow(/PORT must be between/)
  })

  it('refuses an API key shorter than 16 characters, saying which and how to make a good one', () => {
    for (const secret of ['rt-secret', 'long-enough-key-0001,short', 'k'.repeat(15)]) {
      expect(() => parseApiConfig({ API_SECRET: secret }), secret).toThrow(ConfigError)
      expect(() => parseApiConfig({ API_SECRET: secret }), secret).toThrow(/at least 16 characters.*openssl rand/s)
    }
    expect(() => parseApiConfig({ API_SECRET: 'rt-secret' })).not.toThrow(/rt-secret/)
    expect(parseApiConfig({ API_SECRET: 'k'.repeat(16) }).apiKeys).toHaveLength(1)
  })
})

describe('normalizePhone', () => {
  it.each([
    ['9611234567', '9611234567'],
    ['+961 1 234 567', '9611234567'],
    ['00961-1-234-567', '9611234567'],
    ['(961) 1.234.567', '9611234567'],
    ['0961234567', null],
    ['+0961234567', null],
    ['96112345', '96112345'],
    ['123456', null],
    ['1234567890123456', null],
    ['961 12x4567', null],
  ])('%s → %s', (input, expected) => {
    expect(normalizePhone(input)).toBe(expected)
  })
})

describe('formatTime', () => {
  it('prints UTC as YYYY-MM-DD HH:MM:SS', () => {
    expect(formatTime(new Date('2025-05-11T14:00:00.999Z'))).toBe('2025-05-11 14:00:00')
    expect(formatTime(null)).toBeNull()
  })
})

describe('matchesPreparedKey', () => {
  it('matches any configured key and nothing else, whatever the lengths', () => {
    const keys = prepareKeys(['alpha', 'beta-key-that-is-longer'])
    expect(matchesPreparedKey('alpha', keys)).toBe(true)
    expect(matchesPreparedKey('beta-key-that-is-longer', keys)).toBe(true)
    expect(matchesPreparedKey('alph', keys)).toBe(false)
    expect(matchesPreparedKey('alpha\u0000', keys)).toBe(false)
    expect(matchesPreparedKey('', keys)).toBe(false)
    expect(matchesPreparedKey('x'.repeat(500), keys)).toBe(false)
  })

  it('compares character codes: a character whose low byte equals a key character does not match it', () => {
    const keys = prepareKeys(['alpha'])
    // 'a' is 0x61; U+0161 and U+0361 share its low byte, a byte-truncating comparison would accept them.
    expect(matchesPreparedKey('\u0161lpha', keys)).toBe(false)
    expect(matchesPreparedKey('alph\u0361', keys)).toBe(false)
    expect(matchesPreparedKey('ALPHA', keys)).toBe(false)
    expect(() => prepareKeys(['caf\u00e9'])).toThrow(/ASCII/)
  })
})

describe('image headers', () => {
  const base = (w: number, h: number, channels: 3 | 4 = 3) =>
    sharp({ create: { width: w, height: h, channels, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })

  it.each([
    ['jpeg baseline', () => base(321, 123).jpeg().toBuffer(), 'image/jpeg'],
    ['jpeg progressive with EXIF before the frame', () => base(320, 200).withMetadata({ exif: { IFD0: { Copyright: 'x'.repeat(2000) } } }).jpeg({ progressive: true }).toBuffer(), 'image/jpeg'],
    ['png', () => base(1, 9999).png().toBuffer(), 'image/png'],
    ['gif', () => base(300, 7).gif().toBuffer(), 'image/gif'],
    ['webp lossy (VP8)', () => base(333, 111).webp().toBuffer(), 'image/webp'],
    ['webp lossless (VP8L)', () => base(257, 129).webp({ lossless: true }).toBuffer(), 'image/webp'],
    ['webp with alpha (VP8X)', () => base(640, 480, 4).webp({ alphaQuality: 50 }).withMetadata({ exif: { IFD0: { Copyright: 'y' } } }).toBuffer(), 'image/webp'],
  ] as const)('reads type and size of %s from the header', async (_name, make, mime) => {
    const bytes = await make()
    const meta = await sharp(bytes).metadata()
    const check = readImageInfo(bytes)
    expect(check).toEqual({ ok: true, info: { mime, width: meta.width, height: meta.height } })
  })

  it('rejects other formats and truncated headers', async () => {
    expect(sniffImageType(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull()
    expect(readImageInfo(await base(10, 10).tiff().toBuffer())).toEqual({ ok: false, reason: 'unsupported' })
    expect(readImageInfo(await base(10, 10).avif().toBuffer())).toEqual({ ok: false, reason: 'unsupported' })
    const jpeg = await base(10, 10).jpeg().toBuffer()
    expect(readImageInfo(jpeg.subarray(0, 30))).toEqual({ ok: false, reason: 'unreadable' })
    expect(readImageInfo(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toEqual({ ok: false, reason: 'unreadable' })
  })
})

describe('newWaMessageId', () => {
  it('draws well-formed, distinct ids across many refills of its entropy buffer', () => {
    // 455 ids per 4 KiB refill: 5,000 ids cross ten refills, including partial tails.
    const ids = Array.from({ length: 5_000 }, () => newWaMessageId())
    for (const id of ids) expect(id).toMatch(/^3EB0[0-9A-F]{18}$/)
    expect(new Set(ids).size).toBe(ids.length)
    // Every hex digit shows up in every position: the bytes are used, not a constant or a counter.
    for (let pos = 4; pos < 22; pos++) expect(new Set(ids.map((id) => id[pos])).size).toBe(16)
  })
})

describe('send coalescer', () => {
  /** A Queryable that records statements and answers multi-row inserts like Postgres would. */
  function fakeDb(behaviour: { fail?: (rows: number) => Error | null; delayMs?: number } = {}) {
    let next = 1
    const statements: number[] = []
    const counts = { started: 0 }
    const db: Queryable = {
      dialect: 'postgres',
      engine: 'postgres',
      capabilities: POSTGRES_CAPABILITIES,
      async query(sql: string, params: readonly unknown[] = []) {
        counts.started++
        const rows = params.length / 14
        await new Promise((r) => setTimeout(r, behaviour.delayMs ?? 1))
        const err = behaviour.fail?.(rows)
        if (err) throw err
        statements.push(rows)
        // Answer in a shuffled order: the coalescer must map rows back by wa_message_id.
        const out = Array.from({ length: rows }, (_, i) => ({ id: next++, wa_message_id: params[i * 14 + 7], body: params[i * 14 + 3] }))
        return out.reverse() as never
      },
      async execute() {
        throw new Error('unused')
      },
    }
    return { db, statements, counts, bodies: new Map<number, unknown>() }
  }

  it('gives every waiter the id of its own row, in batches', async () => {
    const f = fakeDb({ delayMs: 5 })
    const c = createSendCoalescer({ db: f.db, delayMs: 2, maxBatch: 50 })
    const inputs = Array.from({ length: 500 }, (_, i) => ({ session: 'default', phone: '9611234567', type: 'text' as const, body: `b${i}` }))
    const ids = await Promise.all(inputs.map((m) => c.enqueue(m)))
    expect(new Set(ids).size).toBe(500)
    expect(f.statements.reduce((a, b) => a + b, 0)).toBe(500)
    expect(Math.max(...f.statements)).toBe(50)
    expect(f.statements.length).toBeLessThan(500 / 10)
  })

  it('fails every waiter of a batch when the database is unavailable, without retrying', async () => {
    let calls = 0
    const f = fakeDb({ fail: () => (calls++, new DatabaseUnavailableError('down')) })
    const c = createSendCoalescer({ db: f.db, delayMs: 1 })
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => c.enqueue({ session: 'default', phone: '1234567', type: 'text', body: `${i}` })))
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof DatabaseUnavailableError)).toBe(true)
    expect(calls).toBe(1)
  })

  it('retries rows one by one when a multi-row statement is refused, so one bad row fails alone', async () => {
    const f = fakeDb({ fail: (rows) => (rows > 1 ? new Error('value too long') : null) })
    const c = createSendCoalescer({ db: f.db, delayMs: 1 })
    const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => c.enqueue({ session: 'default', phone: '1234567', type: 'text', body: `${i}` })))
    expect(new Set(ids).size).toBe(5)
    expect(f.statements).toEqual([1, 1, 1, 1, 1])
  })

  it('with no delay, sends of one event-loop turn share a statement, and sends arriving during it share the next', async () => {
    const f = fakeDb({ delayMs: 20 })
    const c = createSendCoalescer({ db: f.db, delayMs: 0, maxInFlight: 1 })
    const send = (i: number) => c.enqueue({ session: 'default', phone: '1234567', type: 'text', body: `${i}` })
    const first = [0, 1, 2, 3, 4].map(send)
    // A later turn, while the first statement runs (its fake query takes 20 ms).
    await new Promise((r) => setTimeout(r, 5))
    expect(f.statements).toEqual([])
    const second = [5, 6, 7, 8, 9, 10, 11].map(send)
    const ids = await Promise.all([...first, ...second])
    expect(f.statements).toEqual([5, 7])
    expect(new Set(ids).size).toBe(12)
  })

  it('an idle coalescer with no delay writes at the end of the turn, not after a timer', async () => {
    const f = fakeDb({ delayMs: 0 })
    const c = createSendCoalescer({ db: f.db, delayMs: 0 })
    const sent = c.enqueue({ session: 'default', phone: '1234567', type: 'text', body: 'x' })
    expect(f.counts.started).toBe(0)
    // An immediate queued after the send's runs after the coalescer's: the statement has started by then
    // (setTimeout(…, 0) would still be waiting out Node's 1 ms minimum).
    const startedByThen = await new Promise<number>((resolve) => setImmediate(() => resolve(f.counts.started)))
    expect(startedByThen).toBe(1)
    await sent
    expect(f.statements).toEqual([1])
  })

  it('drain() waits for everything queued', async () => {
    const f = fakeDb({ delayMs: 10 })
    const c = createSendCoalescer({ db: f.db, delayMs: 50, maxInFlight: 1, maxBatch: 3 })
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => c.enqueue({ session: 'default', phone: '1234567', type: 'text', body: `${i}` })))
    await c.drain()
    expect(f.statements.reduce((a, b) => a + b, 0)).toBe(10)
    await all
  })

  it('maps ids exactly on a real engine under heavy concurrency (PGlite)', async () => {
    const t = await createTestDatabase('pglite')
    try {
      const db: Db = t.db
      const c = createSendCoalescer({ db, delayMs: 1, maxBatch: 64 })
      const ids = await Promise.all(Array.from({ length: 300 }, (_, i) => c.enqueue({ session: 'default', phone: '1234567', type: 'text', body: `row ${i}` })))
      const rows = await db.query<{ id: number; body: string }>('SELECT id, body FROM messages')
      const byId = new Map(rows.map((r) => [Number(r.id), r.body]))
      ids.forEach((id, i) => expect(byId.get(id)).toBe(`row ${i}`))
      expect(c.stats.largestBatch).toBeGreaterThan(1)
    } finally {
      await t.drop()
    }
  })
})

describe('routing', () => {
  it('every route of the app (API and dashboard) fits Hono\'s RegExpRouter, so matching stays one regex test', async () => {
    // One ambiguous pair (a static segment beside a :param with more segments after it, e.g. /x/live.json beside
    // /x/:name/delete) would have made hono's default SmartRouter fall back to TrieRouter for every request, /api/send
    // included; api/hono-app.ts has no fallback, so such a pair fails when it is added and the app is not built.
    const db = { dialect: 'postgres', engine: 'pglite' } as unknown as Db
    const app = createApp({ database: sharedDatabase(db), config: parseApiConfig({ API_SECRET: 'k'.repeat(24) }) })
    expect((await app.request('/healthz')).status).toBe(200)
    expect((await app.request('/dashboard/sign-in')).status).toBe(200)
    expect(app.router.name).toBe('RegExpRouter')
    const ambiguous = new Hono()
    ambiguous.get('/x/:name/delete', (c) => c.text('delete'))
    expect(() => ambiguous.get('/x/live.json', (c) => c.text('live'))).toThrow()
  })
})

describe('boundaries', () => {
  function files(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const p = join(dir, name)
      return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(name) ? [p] : []
    })
  }

  it('api/ stays runtime-agnostic: node: imports only in the Node entries, never sharp, Baileys or runner/', () => {
    // Only the entries know their runtime (api/worker.ts runs with nodejs_compat).
    const nodeOnly = new Set(['api/node.ts', 'api/node-media.ts', 'api/worker.ts'])
    for (const file of files('api')) {
      const text = readFileSync(file, 'utf8')
      const imports = [...text.matchAll(/(?:from\s+|import\s*\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!)
      for (const spec of imports) {
        if (!nodeOnly.has(file)) expect(spec.startsWith('node:') || ['fs', 'path', 'crypto', 'http'].includes(spec), `${file} imports ${spec}`).toBe(false)
        expect(spec === 'sharp' || spec.includes('baileys'), `${file} imports ${spec}`).toBe(false)
        // api/worker.ts runs the maintenance jobs from Workers' scheduled(): the one reviewed exception.
        if (file !== 'api/worker.ts') expect(/(^|\/)runner\//.test(spec), `${file} imports ${spec}`).toBe(false)
      }
    }
  })
})
