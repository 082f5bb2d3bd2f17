/**
 * Generates the hostile-input requests: a seeded, deterministic list of malformed or malicious requests across every
 * route of the API, plus a few valid "controls" whose effect on the database is known in advance.
 *
 * Each case says what it expects:
 * - `reject`: a 4xx answer in the error shape `{"success":false,"error":"…","code":"…"}` (optionally an exact status);
 * - `ok`: a 200 success whose database effect is listed (`effect`), so the suite can check the database changed by
 *   exactly that and nothing else;
 * - `read`: a valid read, 200 JSON, no database change;
 * - `no5xx`: an answer below 500 and no database change (HTML pages, the dashboard, and edge cases where both a
 *   200 and a 4xx are defensible, such as a `since` in year 0).
 *
 * Every `reject` case carries at least one "poison" (a field that is certainly invalid, a wrong key, a wrong content
 * type, a body too large …) and may add "chaos" on top (extra fields, odd key order, padding) that does not change
 * validity. The poisons were chosen from the API's documented rules (the guide, /api/openapi.json), not from its code.
 */
import { generateContactCases } from './contact-cases.js'
import { generateKindCases } from './kind-cases.js'
import { generateNumberCheckCases } from './number-check-cases.js'
import { generateSessionSettingsCases } from './session-settings-cases.js'
import { createRandom, type Random } from './random.js'

export type Effect =
  | { kind: 'messages'; rows: ExpectedRow[] }
  | { kind: 'session'; name: string }

export interface ExpectedRow {
  session: string
  phone: string
  type: 'text' | 'image' | 'document' | 'location'
  body: string | null
  /** For images: the exact bytes stored in `media`. */
  media?: Uint8Array
}

export type Expectation =
  | { kind: 'reject'; status?: number }
  | { kind: 'ok'; effect: Effect }
  | { kind: 'read' }
  | { kind: 'no5xx' }

export interface HostileCase {
  id: number
  /** Route template, e.g. `POST /api/send`, for the per-route tally. */
  route: string
  title: string
  method: string
  path: string
  headers: Record<string, string>
  body?: string | Uint8Array
  expect: Expectation
}

export interface Fixtures {
  /** Accepted keys: the current and the rotated one. */
  keys: [string, string]
  /** Sessions that exist (besides `default`). */
  sessions: string[]
  /** A message id that is pending (resend → 409). */
  pendingId: number
  /** The highest id in the table before the run. */
  maxId: number
  /** A small valid JPEG. */
  jpeg: Uint8Array
  /** A small valid PNG. */
  png: Uint8Array
}

// ---------------------------------------------------------------- value pools

export const SQL_INJECTION = [
  `' OR '1'='1`,
  `'; DROP TABLE messages; --`,
  `1; DELETE FROM sessions WHERE 1=1`,
  `" OR ""="`,
  `'); UPDATE messages SET status='sent'; --`,
  `1' AND SLEEP(5)#`,
  `'; SELECT pg_sleep(5); --`,
  `admin'--`,
  `1 UNION SELECT value FROM auth_keys`,
  `\\'; TRUNCATE contacts; --`,
  `%27%20OR%201%3D1`,
  `default' OR name LIKE '%`,
]

export const TRAVERSAL = [
  '../x', '../../etc/passwd', '..\\..\\windows\\win.ini', '%2e%2e%2fx', '....//x', '/etc/passwd', '..%252fx', '..', '.',
  'x/../default', 'C:\\boot.ini', '~root', 'default/..', '..;/x',
]

/** The documented session-name rule (guide: alphanumeric, dash, underscore, at most 40). */
const SESSION_NAME = /^[A-Za-z0-9_-]{1,40}$/

const HOSTILE_TEXT = [
  '<script>alert(1)</script>', '{{7*7}}', '${jndi:ldap://127.0.0.1/x}', '%s%s%n%x', '\r\nX-Injected: 1', '\u202Eevil\u202C',
  'zero\u200Bwidth', 'a\u0301\u0302\u0303', '𝕳𝖊𝖑𝖑𝖔', 'مرحبا 👋🏽', '\uFEFFbom', '\\x00\\u0000 literally', 'null', 'undefined', 'NaN',
]

/** What the API stores for an accepted text: a leading byte-order mark is dropped (api/validation.ts). */
const stored = (text: string): string => (text.startsWith('\uFEFF') ? text.slice(1) : text)

/** Lone surrogates and NUL: ill-formed text the API must refuse (as JSON escapes, so JSON.stringify keeps them). */
const ILL_FORMED = ['bad \uD800 half', 'bad \uDFFF half', '\uDBFF', 'nul \u0000 inside', '\uD83D', 'end\uD83D', '\uDC00\uD800']

const INVALID_PHONES: unknown[] = [
  '', ' ', '+', '0', '0611234567', '123456', '1234567890123456', '96112a4567', '9611234567; DROP TABLE messages',
  '١٢٣٤٥٦٧٨٩٠', '９６１１２３４５６７', '+ -', '961 123 456 78 90 12 34', '0x1F4A', '1e9', '96112345\u0000',
  '../9611234567', ' 00 ', '++9611234567', '0000961123', '(+)', '\uD800', -9611234567, 0, 1.5, 9007199254740993, 1e21, Number.MIN_VALUE,
  true, false, null, [], ['9611234567'], {}, { phone: '9611234567' }, { $gt: '' },
]
const VALID_PHONES: Array<[unknown, string]> = [
  ['9611234567', '9611234567'], ['+961 (1) 234-567', '9611234567'], ['00961.1.234.567', '9611234567'], [9611234567, '9611234567'],
  ['1234567', '1234567'], ['123456789012345', '123456789012345'], ['  +44 20 7946 0958 ', '442079460958'],
]

const INVALID_SESSION_NAMES: unknown[] = [
  ...TRAVERSAL, ...SQL_INJECTION, '', ' ', 'a'.repeat(41), 'name with space', 'naïve', 'émoji😀', 'tab\tname', 'new\nline',
  'default ', ' default', 'x\u0000', '\uD800', '%00', 'a/b', 'a.b', 'a:b', 'sales!', 7, 0, true, [], ['default'], {}, { name: 'x' },
]

const WRONG_TYPES: unknown[] = [42, -1, 0, 1.5, 1e308, true, false, [], [1, 2], {}, { a: 1 }, ['x'], [[[]]]]

const INVALID_INTEGERS = ['0', '-1', '1.5', '1e3', 'abc', '', ' ', '0x10', '99999999999999999', '9007199254740993', '+1', '١', 'NaN', 'Infinity', '1%00', '%', '1;DROP', '00000000000000001', '..%2F1', '..']

const INVALID_TIMES = [
  'yesterday', '2025-13-01', '2025-00-10', '2025-01-32', '25-01-01', '2025/01/01', '2025-01-01T25:00:00Z', '1e12', '', '2025-01-01 00:00:00 OR 1=1',
  "2025-01-01'; --", '+275760-09-13', '%', '2025-01-01 00:00:00.1234567', '2025-1-1',
  // Days and times that do not exist (a Date would roll them over to another time): refused, not normalised.
  '2025-02-30', '2025-02-29', '2023-02-29 10:00:00', '2025-04-31', '2025-06-31T12:00:00Z', '2025-01-01T24:00:00Z', '2025-01-01 12:60:00', '2025-01-01 12:00:60',
  '2025-01-01T00:00:00+24:00', '2025-01-01T00:00:00-05:60',
]
/** Accepted by the schema, possibly outside an engine's range: 200 or a 4xx, never a 5xx. */
const EDGE_TIMES = ['0000-01-01', '0001-01-01 00:00:00', '9999-12-31 23:59:59.999999', '1000-01-01', '2024-02-29', '1969-12-31T23:59:59Z', '2038-01-19 03:14:08', '9999-12-31T23:59:59-14:00', '0000-01-01T00:00:00+14:00', '2025-01-01T00:00:00+99:99']

// ---------------------------------------------------------------- bodies

const enc = new TextEncoder()

/** Invalid UTF-8 sequences (overlong, lone continuation, truncated, CESU surrogates, > U+10FFFF). */
const BAD_UTF8: number[][] = [[0xff], [0xc0, 0xaf], [0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xfe, 0xfe], [0xf0, 0x9f, 0x98]]

function withBadUtf8(json: string, r: Random): Uint8Array {
  // Put the bad bytes inside a string value, where a lenient decoder would otherwise accept them.
  const at = json.indexOf('"', json.indexOf(':') + 1) + 1 || 1
  const bad = r.pick(BAD_UTF8)
  const head = enc.encode(json.slice(0, at))
  const tail = enc.encode(json.slice(at))
  const out = new Uint8Array(head.length + bad.length + tail.length)
  out.set(head, 0)
  out.set(bad, head.length)
  out.set(tail, head.length + bad.length)
  return out
}

function nested(depth: number, open: string, close: string, inner = '1'): string {
  return open.repeat(depth) + inner + close.repeat(depth)
}

const MALFORMED_JSON = [
  '{', '}', '{"phone":', '{"phone":"9611234567","message":"x"', '{"phone":"9611234567",}', "{'phone':'9611234567'}",
  '{"phone":9611234567,"message":NaN}', '{"message":"x" /* comment */}', '{"a":1}{"b":2}', '[', '"unterminated',
  '{"phone":"\\uZZZZ"}', '{"phone":"\\x41"}', 'tru', 'nul', '\u0000', '{"message":"x"\u0000}', '{"phone" "x"}',
  '<xml>phone</xml>', 'phone=9611234567&message=x', '{"a":' + nested(3000, '[', ']').slice(0, 5000),
]

/** Extra fields that change nothing (unknown fields are ignored) but look dangerous. */
function chaosFields(r: Random): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const n = r.int(0, 3)
  for (let i = 0; i < n; i++) {
    const name = r.pick(['__proto__', 'constructor', 'prototype', 'status', 'id', 'wa_message_id', 'attempts', 'owner', 'sql', 'admin', '$where', 'toString', 'x'.repeat(300), ''])
    out[name] = r.pick<unknown>([
      // Nested within the 32 levels a JSON body may have (the body's own object is the first); deeper is a poison.
      'sent', 1, null, true, { isAdmin: true }, [1, 2, 3], r.pick(SQL_INJECTION), JSON.parse(nested(r.int(10, 30), '[', ']')),
      JSON.parse(nested(r.int(10, 30), '{"a":', '}')),
    ])
  }
  return out
}

function stringify(obj: unknown, r: Random): string {
  // JSON.stringify drops an own "__proto__"? No: it keeps own enumerable keys, including one made by JSON.parse.
  const text = JSON.stringify(obj, null, r.chance(0.2) ? r.int(1, 2) : undefined)
  return r.chance(0.1) ? `  \n\t${text}\r\n ` : text
}

/** A JSON object with the chaos fields merged in first or last (key order varies). */
function withChaos(base: Record<string, unknown>, r: Random): Record<string, unknown> {
  const chaos = chaosFields(r)
  // Parse through JSON so "__proto__" becomes an own property, as it would from a client.
  const merged = r.chance(0.5) ? `{${[stringifyMembers(chaos), stringifyMembers(base)].filter(Boolean).join(',')}}` : `{${[stringifyMembers(base), stringifyMembers(chaos)].filter(Boolean).join(',')}}`
  return JSON.parse(merged) as Record<string, unknown>
}

function stringifyMembers(o: Record<string, unknown>): string {
  return Object.keys(o).map((k) => `${JSON.stringify(k)}:${JSON.stringify(o[k]) ?? 'null'}`).join(',')
}

// ---------------------------------------------------------------- multipart

const CRLF = '\r\n'

interface Part {
  name: string
  value: string | Uint8Array
  filename?: string
  type?: string
}

function multipart(parts: Part[], boundary: string): Uint8Array {
  const chunks: Uint8Array[] = []
  for (const p of parts) {
    let head = `--${boundary}${CRLF}Content-Disposition: form-data; name="${p.name}"`
    if (p.filename !== undefined) head += `; filename="${p.filename}"`
    head += CRLF
    if (p.type) head += `Content-Type: ${p.type}${CRLF}`
    head += CRLF
    chunks.push(enc.encode(head))
    chunks.push(typeof p.value === 'string' ? enc.encode(p.value) : p.value)
    chunks.push(enc.encode(CRLF))
  }
  chunks.push(enc.encode(`--${boundary}--${CRLF}`))
  return concat(chunks)
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

// ---------------------------------------------------------------- hostile images

function be32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]
}

/** A PNG signature and IHDR declaring `w` × `h` (no pixel data: the API reads only the header). */
export function pngHeader(w: number, h: number, tail = 64): Uint8Array {
  return new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, ...be32(w), ...be32(h), 8, 6, 0, 0, 0, 0, 0, 0, 0, ...new Array(tail).fill(0)])
}

/** A JPEG SOI + SOF0 declaring `w` × `h`. */
export function jpegHeader(w: number, h: number): Uint8Array {
  return new Uint8Array([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, (h >> 8) & 0xff, h & 0xff, (w >> 8) & 0xff, w & 0xff, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9])
}

function gifHeader(w: number, h: number): Uint8Array {
  return new Uint8Array([...enc.encode('GIF89a'), w & 0xff, (w >> 8) & 0xff, h & 0xff, (h >> 8) & 0xff, 0, 0, 0, 0x3b])
}

function webpVp8x(w: number, h: number): Uint8Array {
  const le24 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff]
  return new Uint8Array([...enc.encode('RIFF'), 30, 0, 0, 0, ...enc.encode('WEBPVP8X'), 10, 0, 0, 0, 0, 0, 0, 0, ...le24(w - 1), ...le24(h - 1), 0, 0])
}

/** Files whose bytes are not an image the API accepts, named and typed as if they were. */
function disguisedFiles(r: Random): Array<{ bytes: Uint8Array; filename: string; type: string; why: string }> {
  return [
    { bytes: enc.encode('%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF'), filename: 'photo.jpg', type: 'image/jpeg', why: 'a PDF named .jpg' },
    { bytes: enc.encode('<?php system($_GET["c"]); ?>'), filename: 'shell.php.png', type: 'image/png', why: 'PHP named .png' },
    { bytes: enc.encode('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), filename: 'x.svg', type: 'image/svg+xml', why: 'an SVG' },
    { bytes: new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...new Array(60).fill(0)]), filename: 'photo.webp', type: 'image/webp', why: 'a ZIP named .webp' },
    { bytes: new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, ...new Array(50).fill(0)]), filename: 'photo.gif', type: 'image/gif', why: 'an ELF named .gif' },
    { bytes: new Uint8Array([0x42, 0x4d, ...new Array(60).fill(0)]), filename: 'photo.bmp', type: 'image/bmp', why: 'a BMP' },
    { bytes: new Uint8Array([0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x68, 0x65, 0x69, 0x63, ...new Array(40).fill(0)]), filename: 'photo.heic', type: 'image/heic', why: 'HEIC' },
    { bytes: enc.encode('GIF87'), filename: 'short.gif', type: 'image/gif', why: 'a 5-byte not-quite GIF' },
    { bytes: new Uint8Array(r.int(1, 2000)).map(() => r.int(0, 255)), filename: 'noise.jpg', type: 'image/jpeg', why: 'random bytes' },
    { bytes: enc.encode('\u0000'.repeat(100)), filename: 'zeros.png', type: 'image/png', why: 'NUL bytes' },
  ]
}

/** Image headers declaring absurd sizes, or damaged so their size cannot be read. */
function hostileImages(): Array<{ bytes: Uint8Array; why: string; status: number }> {
  return [
    { bytes: pngHeader(100_000, 100_000), why: 'PNG 100k × 100k', status: 422 },
    { bytes: pngHeader(0x7fffffff, 0x7fffffff), why: 'PNG 2^31 × 2^31', status: 422 },
    { bytes: pngHeader(0xffffffff, 1), why: 'PNG width 2^32-1', status: 422 },
    { bytes: pngHeader(0, 0), why: 'PNG 0 × 0', status: 422 },
    { bytes: jpegHeader(65_535, 65_535), why: 'JPEG 65535 × 65535', status: 422 },
    { bytes: jpegHeader(0, 100), why: 'JPEG width 0', status: 422 },
    { bytes: gifHeader(65_535, 65_535), why: 'GIF 65535 × 65535', status: 422 },
    { bytes: webpVp8x(16_777_216, 16_777_216), why: 'WEBP VP8X 16M × 16M', status: 422 },
    { bytes: pngHeader(100, 100).slice(0, 14), why: 'PNG cut inside IHDR', status: 422 },
    { bytes: new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01]), why: 'JPEG with a 1-byte segment', status: 422 },
    { bytes: new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff, 0, 0]), why: 'JPEG segment longer than the file', status: 422 },
    { bytes: new Uint8Array([0xff, 0xd8, 0xff, 0xda, 0, 2]), why: 'JPEG scan before any frame', status: 422 },
    { bytes: new Uint8Array([...enc.encode('RIFF'), 0, 0, 0, 0, ...enc.encode('WEBPVP8 '), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), why: 'WEBP VP8 without start code', status: 422 },
  ]
}

// ---------------------------------------------------------------- the generator

export interface GeneratedSuite {
  cases: HostileCase[]
  /** Names the `ok` cases create (so fixtures avoid them). */
  createdSessions: string[]
}

/**
 * Builds the suite for one seed. `fixtures` are the database's state before the run (ids, sessions, keys);
 * `scale` multiplies the generated cases per route (1 ≈ 2,400 cases).
 */
export function generateHostileSuite(seed: number, fx: Fixtures, scale = 1): GeneratedSuite {
  const r = createRandom(seed)
  const cases: HostileCase[] = []
  const createdSessions: string[] = []
  const [key, oldKey] = fx.keys
  const auth = (extra: Record<string, string> = {}): Record<string, string> => ({ 'X-API-Key': r.chance(0.2) ? oldKey : key, ...extra })
  const jsonType = () => r.pick(['application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/vnd.api+json'])
  const add = (c: Omit<HostileCase, 'id'>) => cases.push({ id: cases.length + 1, ...c })
  const n = (count: number) => Math.max(1, Math.round(count * scale))
  const anySession = () => r.pick(['default', ...fx.sessions])
  let uniq = 0
  const fresh = (prefix: string) => `${prefix}_${seed.toString(36)}_${(++uniq).toString(36)}`

  // ------------------------------------------------ keys, on every protected route
  const protectedRoutes: Array<[string, string, string]> = [
    ['GET', '/api/status', 'GET /api/status'],
    ['GET', '/api/sessions', 'GET /api/sessions'],
    ['POST', '/api/sessions', 'POST /api/sessions'],
    ['DELETE', '/api/sessions/support', 'DELETE /api/sessions/:name'],
    ['POST', '/api/regenerate-qr', 'POST /api/regenerate-qr'],
    ['POST', '/api/send', 'POST /api/send'],
    ['POST', '/api/send-image', 'POST /api/send-image'],
    ['POST', '/api/send-batch', 'POST /api/send-batch'],
    ['POST', '/api/send-document', 'POST /api/send-document'],
    ['POST', '/api/send-video', 'POST /api/send-video'],
    ['POST', '/api/send-audio', 'POST /api/send-audio'],
    ['POST', '/api/send-location', 'POST /api/send-location'],
    ['POST', '/api/send-contact', 'POST /api/send-contact'],
    ['POST', `/api/messages/${fx.pendingId}/cancel`, 'POST /api/messages/:id/cancel'],
    ['POST', `/api/messages/${fx.pendingId}/revoke`, 'POST /api/messages/:id/revoke'],
    ['GET', '/api/contacts', 'GET /api/contacts'],
    ['GET', '/api/contacts/9611234567', 'GET /api/contacts/:phone'],
    ['PATCH', '/api/contacts/9611234567', 'PATCH /api/contacts/:phone'],
    ['POST', '/api/contacts/import', 'POST /api/contacts/import'],
    ['POST', `/api/resend/${fx.pendingId}`, 'POST /api/resend/:id'],
    ['GET', '/api/messages', 'GET /api/messages'],
    ['GET', `/api/messages/${fx.pendingId}`, 'GET /api/messages/:id'],
    ['GET', '/api/inbound', 'GET /api/inbound'],
    ['GET', '/api/inbound/1', 'GET /api/inbound/:id'],
    ['GET', '/api/inbound/1/media', 'GET /api/inbound/:id/media'],
    ['GET', '/api/openapi.json', 'GET /api/openapi.json'],
    ['GET', '/api', 'GET /api'],
    ['GET', '/metrics', 'GET /metrics'],
    ['POST', '/api/webhooks', 'POST /api/webhooks'],
    ['GET', '/api/webhooks', 'GET /api/webhooks'],
    ['DELETE', '/api/webhooks/1', 'DELETE /api/webhooks/:id'],
    ['GET', '/api/webhooks/1/deliveries', 'GET /api/webhooks/:id/deliveries'],
    ['POST', '/api/webhooks/deliveries/1/replay', 'POST /api/webhooks/deliveries/:id/replay'],
    ['GET', '/api/sessions/default/check/9611234567', 'GET /api/sessions/:name/check/:phone'],
    ['PATCH', '/api/sessions/support', 'PATCH /api/sessions/:name'],
  ]
  const flip = (s: string, i: number) => s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) === 0x7a ? 0x79 : s.charCodeAt(i) + 1) + s.slice(i + 1)
  const wrongKeys: Array<[string, Record<string, string>]> = [
    ['no key', {}],
    ['empty key', { 'X-API-Key': '' }],
    ['first character changed', { 'X-API-Key': flip(key, 0) }],
    ['middle character changed', { 'X-API-Key': flip(key, key.length >> 1) }],
    ['last character changed', { 'X-API-Key': flip(key, key.length - 1) }],
    ['rotated key, last character changed', { 'X-API-Key': flip(oldKey, oldKey.length - 1) }],
    ['one character appended', { 'X-API-Key': `${key}x` }],
    ['last character dropped', { 'X-API-Key': key.slice(0, -1) }],
    ['upper-cased', { 'X-API-Key': key.toUpperCase() }],
    ['both keys joined by a comma', { 'X-API-Key': `${key},${oldKey}` }],
    ['key with a latin-1 letter', { 'X-API-Key': `${key.slice(0, -1)}\u00e9` }],
    ['10 KB key', { 'X-API-Key': key.repeat(400) }],
    ['key in the wrong header', { 'X-API-Keys': key }],
    ['key as a SQL injection', { 'X-API-Key': `' OR '1'='1` }],
    ['prefix of the key', { 'X-API-Key': key.slice(0, 8) }],
  ]
  for (const [method, path, route] of protectedRoutes) {
    for (const [why, headers] of wrongKeys) {
      // /metrics takes a Bearer token too; everything else only X-API-Key.
      add({ route, title: `${why}`, method, path: why === 'key in the wrong header' && r.chance(0.5) ? `${path}?api_key=${key}` : path, headers, expect: { kind: 'reject', status: 401 } })
    }
    add({ route, title: 'key as a Bearer token', method, path, headers: { Authorization: `Bearer ${flip(key, 3)}` }, expect: { kind: 'reject', status: 401 } })
  }

  // ------------------------------------------------ POST /api/send
  const sendBase = () => ({ phone: '9611234567', message: 'hello', session: anySession() })
  type Poison = (b: Record<string, unknown>) => { body?: string | Uint8Array; headers?: Record<string, string>; why: string; status?: number }
  const fieldPoisons = (fields: Record<string, () => unknown>, required: string[]): Poison[] => {
    const out: Poison[] = []
    for (const f of required) out.push((b) => (delete b[f], { why: `${f} missing` }))
    for (const [f, gen] of Object.entries(fields)) out.push((b) => {
      const v = gen()
      b[f] = v
      return { why: `${f} = ${describeValue(v)}` }
    })
    return out
  }
  // On a route whose every field is optional (regenerate-qr), an object of unknown fields is a valid request, and
  // so is a JSON `null` (read as "no body"): those poisons are left out there.
  const bodyPoisons = (route: string, o: { idempotent: boolean; allowEmpty: boolean }): Poison[] => [
    () => ({ body: r.pick(MALFORMED_JSON), why: 'malformed JSON', status: 400 }),
    () => ({ body: JSON.stringify(r.pick<unknown>([[], [1], 'string', 42, ...(o.allowEmpty ? [] : [null]), true, [{ phone: '9611234567', message: 'x' }]])), why: 'not an object', status: 400 }),
    (b) => ({ body: withBadUtf8(JSON.stringify(b), r), why: 'invalid UTF-8 bytes', status: 400 }),
    () => ({ body: nested(r.int(1000, 20_000), '[', ']'), why: 'deeply nested arrays', status: 400 }),
    // The documented limits of a JSON body: 32 levels of nesting; 1,000 values (33,000 on send-batch).
    (b) => ({ body: `${JSON.stringify(b).slice(0, -1)},"extra":${nested(r.int(32, 40), '[', ']')}}`, why: 'an extra field nested past 32 levels', status: 400 }),
    (b) => {
      const tiny = route === 'POST /api/send-batch' ? r.int(33_001, 60_000) : r.int(1001, 5000)
      return { body: `${JSON.stringify(b).slice(0, -1)},"extra":[${Array(tiny).fill(r.pick(['[]', '{}', '0', '""'])).join(',')}]}`, why: `an extra field of ${tiny} tiny values`, status: 413 }
    },
    ...(o.allowEmpty ? [] : [(() => ({ body: `{"a":${nested(r.int(1000, 6000), '{"a":', '}')}}`, why: 'deeply nested objects' })) as Poison]),
    (b) => ({ body: JSON.stringify({ ...b, pad: 'x'.repeat(route === 'POST /api/send-batch' ? 8_500_000 : 70_000) }), why: 'body above the limit', status: 413 }),
    (b) => ({ body: JSON.stringify(b), headers: { 'Content-Type': r.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'image/png', 'application/jsonx']) }, why: 'wrong content type', status: 415 }),
    (b) => ({ body: JSON.stringify(b), headers: { 'Content-Type': '' }, why: 'no content type', status: 415 }),
    ...(o.allowEmpty ? [] : [
      (() => ({ body: '', why: 'empty body', status: 400 })) as Poison,
      (() => ({ body: '   \n\t ', why: 'whitespace body', status: 400 })) as Poison,
    ]),
    ...(o.idempotent ? [
      ((b) => ({ body: JSON.stringify(b), headers: { 'Idempotency-Key': r.pick(['', 'has space', 'x'.repeat(201), 'kl\u00fcssel', '\t']) }, why: 'bad Idempotency-Key', status: 400 })) as Poison,
    ] : []),
  ]
  const jsonCases = (route: string, path: string, count: number, base: () => Record<string, unknown>, poisons: Poison[]) => {
    for (let i = 0; i < count; i++) {
      const b = base()
      const poison = r.pick(poisons)
      const p = poison(b)
      const body = p.body ?? stringify(withChaos(b, r), r)
      const headers = auth({ 'Content-Type': jsonType(), ...p.headers })
      if (headers['Content-Type'] === '') delete headers['Content-Type']
      add({ route, title: p.why, method: 'POST', path, headers, body, expect: { kind: 'reject', ...(p.status ? { status: p.status } : {}) } })
    }
  }
  const textPoisons = () => r.pick<unknown>([...WRONG_TYPES, null, '', '   ', '\n\t', 'x'.repeat(4097), '😀'.repeat(4097), r.pick(ILL_FORMED)])
  const sessionPoisons = () => r.pick<unknown>([...INVALID_SESSION_NAMES, fresh('nosuch')])
  const sendPoisons = [
    ...fieldPoisons({ phone: () => r.pick(INVALID_PHONES), message: textPoisons, session: sessionPoisons }, ['phone', 'message']),
    ...fieldPoisons({ phone: () => r.pick(INVALID_PHONES) }, []),
    ...fieldPoisons({ session: sessionPoisons }, []),
    // send_at: ISO 8601 with a zone, a time that exists (a 30 February would be silently moved to March).
    ...fieldPoisons({ send_at: () => r.pick<unknown>(['2026-02-30T09:00:00Z', '2026-04-31T09:00:00+02:00', '2026-01-01T24:00:00Z', '2026-01-01T09:00:00+24:00', '2026-01-01T09:60:00Z', '2026-01-01 09:00:00', 'tomorrow', 42, []]) }, []),
    ...bodyPoisons('POST /api/send', { idempotent: true, allowEmpty: false }),
  ]
  jsonCases('POST /api/send', '/api/send', n(520), sendBase, sendPoisons)

  // ------------------------------------------------ POST /api/send-batch
  const batchBase = () => ({ messages: Array.from({ length: r.int(1, 4) }, sendBase) })
  const batchPoisons: Poison[] = [
    (b) => {
      const items = b.messages as Record<string, unknown>[]
      const i = r.int(0, items.length - 1)
      const p = r.pick(sendPoisons.slice(0, 6))(items[i]!)
      return { why: `messages[${i}]: ${p.why}` }
    },
    (b) => ((b.messages = r.pick<unknown>([[], null, {}, 'x', 42, [[]], [null], [1, 2], { 0: {} }])), { why: 'messages not a list of objects' }),
    (b) => (delete b.messages, { why: 'messages missing' }),
    (b) => ((b.messages = Array.from({ length: r.pick([1001, 1500, 5000]) }, sendBase)), { why: 'too many items', status: 413 }),
    ...bodyPoisons('POST /api/send-batch', { idempotent: true, allowEmpty: false }),
  ]
  jsonCases('POST /api/send-batch', '/api/send-batch', n(300), batchBase, batchPoisons)

  // ------------------------------------------------ documents, video, audio, locations, contacts, cancel, revoke
  generateKindCases({
    r, fx, add, auth, jsonType, n, anySession, fresh, multipart, fieldPoisons, bodyPoisons, jsonCases,
    invalidPhones: INVALID_PHONES, hostileText: HOSTILE_TEXT,
  })
  generateContactCases({ r, add, auth, jsonType, n, invalidPhones: INVALID_PHONES })
  generateNumberCheckCases({ r, add, auth, n, fresh, pct, invalidPhones: INVALID_PHONES, traversal: TRAVERSAL })
  generateSessionSettingsCases({ r, add, auth, jsonType, n })

  // ------------------------------------------------ POST /api/sessions
  jsonCases('POST /api/sessions', '/api/sessions', n(200), () => ({ name: fresh('n') }), [
    ...fieldPoisons({ name: () => r.pick(INVALID_SESSION_NAMES) }, ['name']),
    (b) => ((b.name = r.pick(['default', ...fx.sessions])), { why: 'existing name', status: 409 }),
    ...bodyPoisons('POST /api/sessions', { idempotent: false, allowEmpty: false }),
  ])

  // ------------------------------------------------ POST /api/regenerate-qr (every field optional: {} is valid)
  jsonCases('POST /api/regenerate-qr', '/api/regenerate-qr', n(150), () => ({ session: anySession() }), [
    ...fieldPoisons({ session: () => r.pick<unknown>([...INVALID_SESSION_NAMES, fresh('nosuch')]) }, []),
    ...bodyPoisons('POST /api/regenerate-qr', { idempotent: false, allowEmpty: true }),
  ])

  // ------------------------------------------------ DELETE /api/sessions/:name
  const pathNames = [
    ...TRAVERSAL.map((t) => pct(t)), '..%2Fx', '%2e%2e', '%2E%2E%2Fdefault', 'default', 'DEFAULT', 'Default', 'default%00',
    '%00', '%ED%A0%80', '%FF', '%', '%zz', 'a'.repeat(41), '%20default', 'default%20', 'x%0d%0aSet-Cookie:%20a=b',
    pct(`' OR '1'='1`), pct('1; DELETE FROM sessions'), 'naïve', '%C3%A9', fresh('nosuch'),
  ]
  for (let i = 0; i < n(160); i++) {
    const name = r.pick(pathNames)
    const status = name === 'default' ? 409 : undefined
    add({ route: 'DELETE /api/sessions/:name', title: `name ${name.slice(0, 40)}`, method: 'DELETE', path: `/api/sessions/${name}`, headers: auth(), expect: { kind: 'reject', ...(status ? { status } : {}) } })
  }
  // Traversal out of the route itself: these reach no handler (404) or another route's rules.
  for (const p of ['/api/sessions/../sessions', '/api/sessions/%2e%2e/send', '/api/sessions/a/b', '/api/sessions/', '/api/sessions//default', '/api/./sessions/x/..']) {
    add({ route: 'DELETE /api/sessions/:name', title: `path ${p}`, method: 'DELETE', path: p, headers: auth(), expect: { kind: 'reject' } })
  }

  // ------------------------------------------------ GET /api/status?session=
  const queryNames = [...pathNames, ...INVALID_SESSION_NAMES.filter((v): v is string => typeof v === 'string').map((s) => pct(s)), '']
  for (let i = 0; i < n(130); i++) {
    const q = r.pick(queryNames)
    add({ route: 'GET /api/status', title: `session=${q.slice(0, 40)}`, method: 'GET', path: `/api/status?session=${q}`, headers: auth(), expect: q === 'default' ? { kind: 'read' } : { kind: 'reject' } })
  }
  for (const q of ['session=default&session=support', 'session=default&session=default', 'session=support&session=..%2Fx']) {
    add({ route: 'GET /api/status', title: `repeated: ${q}`, method: 'GET', path: `/api/status?${q}`, headers: auth(), expect: { kind: 'reject', status: 400 } })
  }

  // ------------------------------------------------ GET /api/messages?…
  const listPoisons: Array<() => [string, string]> = [
    () => ['status', r.pick(['SENT', pct('sent '), 'delivered', pct("sent' OR '1'='1"), '', 'pending,sent', '%00', '%ED%A0%80', pct(' sent')])],
    () => ['session', r.pick(queryNames.filter((q) => !SESSION_NAME.test(decodeSafe(q))))],
    () => ['phone', r.pick(INVALID_PHONES.filter((p): p is string => typeof p === 'string' && p.trim() !== '').map((s) => pct(s)))],
    () => ['since', pct(r.pick(INVALID_TIMES))],
    () => ['until', pct(r.pick(INVALID_TIMES))],
    () => ['limit', pct(r.pick([...INVALID_INTEGERS, '501', '1000000']))],
    () => ['cursor', pct(r.pick(INVALID_INTEGERS))],
  ]
  const validFilters = (): string[] => {
    const out: string[] = []
    if (r.chance(0.3)) out.push(`status=${r.pick(['pending', 'sent', 'failed', 'opted_out', 'sending'])}`)
    if (r.chance(0.3)) out.push(`session=${anySession()}`)
    if (r.chance(0.2)) out.push(`phone=${pct(r.pick(VALID_PHONES.filter(([p]) => typeof p === 'string'))[0] as string)}`)
    if (r.chance(0.2)) out.push(`limit=${r.int(1, 500)}`)
    if (r.chance(0.2)) out.push(`unknown=${pct(r.pick(SQL_INJECTION))}`)
    return out
  }
  // A parameter given twice, even with two valid values, is refused rather than read as its first value.
  listPoisons.push(() => {
    const [k, a, b] = r.pick([['status', 'sent', 'failed'], ['session', 'default', fx.sessions[0]!], ['limit', '5', '10'], ['since', '2025-01-01', '2025-02-01'], ['phone', '9611234567', '9611234567']])
    return [k, `${a}&${k}=${b}`]
  })
  for (let i = 0; i < n(200); i++) {
    const [k, v] = r.pick(listPoisons)()
    const qs = r.shuffle([...validFilters().filter((f) => !f.startsWith(`${k}=`)), `${k}=${v}`]).join('&')
    add({ route: 'GET /api/messages', title: `${k}=${decodeSafe(v).slice(0, 40)}`, method: 'GET', path: `/api/messages?${qs}`, headers: auth(), expect: { kind: 'reject', status: 400 } })
  }
  for (const t of EDGE_TIMES) {
    for (const k of ['since', 'until']) {
      add({ route: 'GET /api/messages', title: `edge ${k}=${t}`, method: 'GET', path: `/api/messages?${k}=${pct(t)}`, headers: auth(), expect: { kind: 'no5xx' } })
    }
  }
  for (let i = 0; i < n(12); i++) {
    add({ route: 'GET /api/messages', title: 'valid filters', method: 'GET', path: `/api/messages?${validFilters().join('&')}`, headers: auth(), expect: { kind: 'read' } })
  }

  // ------------------------------------------------ GET /api/inbound?… and /api/inbound/:id
  const badInbound = [
    'type=sticker', 'type=TEXT', `type=${pct("text' OR '1'='1")}`, 'type=text&type=image', 'limit=0', 'limit=501',
    'cursor=0123', `cursor=${pct(r.pick(INVALID_INTEGERS))}`, `since=${pct(r.pick(INVALID_TIMES))}`, `until=${pct(r.pick(INVALID_TIMES))}`,
    `session=${r.pick(queryNames.filter((q) => !SESSION_NAME.test(decodeSafe(q))))}`, 'phone=123', 'session=default&session=default',
  ]
  for (const q of badInbound) {
    add({ route: 'GET /api/inbound', title: decodeSafe(q).slice(0, 40), method: 'GET', path: `/api/inbound?${q}`, headers: auth(), expect: { kind: 'reject', status: 400 } })
  }
  for (const id of ['0', 'abc', '1.5', '%2e%2e%2f1', '9'.repeat(300)]) {
    add({ route: 'GET /api/inbound/:id', title: `id = ${id.slice(0, 20)}`, method: 'GET', path: `/api/inbound/${id}`, headers: auth(), expect: { kind: 'reject', status: 400 } })
    add({ route: 'GET /api/inbound/:id/media', title: `id = ${id.slice(0, 20)}`, method: 'GET', path: `/api/inbound/${id}/media`, headers: auth(), expect: { kind: 'reject', status: 400 } })
  }
  add({ route: 'GET /api/inbound/:id/media', title: 'an unknown message', method: 'GET', path: '/api/inbound/1/media', headers: auth(), expect: { kind: 'reject', status: 404 } })
  add({ route: 'GET /api/inbound', title: 'valid filters', method: 'GET', path: `/api/inbound?type=image&session=${anySession()}&limit=3&until=2030-01-01`, headers: auth(), expect: { kind: 'read' } })

  // ------------------------------------------------ /api/messages/:id and /api/resend/:id
  const idParams = [...INVALID_INTEGERS.map((s) => pct(s)), '%2e%2e%2f1', '1%2F..', '1;', `1${pct(' OR 1=1')}`, '%ED%A0%80', '%', '9'.repeat(300)]
  for (let i = 0; i < n(110); i++) {
    const id = r.pick(idParams)
    add({ route: 'GET /api/messages/:id', title: `id ${id.slice(0, 30)}`, method: 'GET', path: `/api/messages/${id}`, headers: auth(), expect: { kind: 'reject' } })
    const rid = r.pick(idParams)
    add({ route: 'POST /api/resend/:id', title: `id ${rid.slice(0, 30)}`, method: 'POST', path: `/api/resend/${rid}`, headers: auth(r.chance(0.3) ? { 'Content-Type': 'application/json' } : {}), body: r.chance(0.3) ? stringify(chaosFields(r), r) : undefined, expect: { kind: 'reject' } })
  }
  for (const id of [fx.maxId + 1_000_000, Number.MAX_SAFE_INTEGER, 2_147_483_648, 4_294_967_296]) {
    add({ route: 'GET /api/messages/:id', title: `unknown id ${id}`, method: 'GET', path: `/api/messages/${id}`, headers: auth(), expect: { kind: 'reject', status: 404 } })
    add({ route: 'POST /api/resend/:id', title: `unknown id ${id}`, method: 'POST', path: `/api/resend/${id}`, headers: auth(), expect: { kind: 'reject', status: 404 } })
  }
  add({ route: 'POST /api/resend/:id', title: 'a pending message', method: 'POST', path: `/api/resend/${fx.pendingId}`, headers: auth(), expect: { kind: 'reject', status: 409 } })
  add({ route: 'GET /api/messages/:id', title: 'a pending message', method: 'GET', path: `/api/messages/${fx.pendingId}`, headers: auth(), expect: { kind: 'read' } })

  // ------------------------------------------------ POST /api/send-image
  const boundary = () => r.pick(['----hostile', 'x', '-'.repeat(68) + 'zz', 'b0und4ry' + r.int(0, 1e6), 'needs:quotes'])
  const goodFields = (): Part[] => [
    { name: 'phone', value: r.pick(VALID_PHONES.filter(([p]) => typeof p === 'string'))[0] as string },
    ...(r.chance(0.5) ? [{ name: 'caption', value: r.pick([...HOSTILE_TEXT, ...SQL_INJECTION]) }] : []),
    ...(r.chance(0.3) ? [{ name: 'session', value: anySession() }] : []),
  ]
  const goodFile = (): Part => ({ name: 'file', value: r.chance(0.5) ? fx.jpeg : fx.png, filename: r.pick(['photo.jpg', '../../etc/passwd', 'x.png', 'a%22b.jpg', '..\\..\\boot.ini', 'ملف.jpg']), type: r.pick(['image/jpeg', 'image/png', 'application/octet-stream', 'text/plain']) })
  const imageCase = (title: string, parts: Part[], status?: number, mutate?: (bytes: Uint8Array, b: string) => { body: Uint8Array; type?: string }) => {
    const b = boundary()
    const raw = multipart(r.shuffle(parts), b)
    const m = mutate ? mutate(raw, b) : { body: raw }
    add({
      route: 'POST /api/send-image', title, method: 'POST', path: '/api/send-image',
      headers: auth({ 'Content-Type': m.type ?? `multipart/form-data; boundary=${b.includes(':') ? `"${b}"` : b}` }),
      body: m.body, expect: { kind: 'reject', ...(status ? { status } : {}) },
    })
  }
  const imagePoisons: Array<() => void> = [
    () => imageCase('phone missing', [goodFile(), ...goodFields().filter((p) => p.name !== 'phone')], 400),
    () => imageCase('invalid phone', [goodFile(), { name: 'phone', value: r.pick(INVALID_PHONES.filter((p): p is string => typeof p === 'string')) }], 400),
    () => imageCase('invalid session', [goodFile(), ...goodFields().filter((p) => p.name !== 'session'), { name: 'session', value: r.pick(INVALID_SESSION_NAMES.filter((p): p is string => typeof p === 'string')) }]),
    () => imageCase('unknown session', [goodFile(), ...goodFields().filter((p) => p.name !== 'session'), { name: 'session', value: fresh('nosuch') }], 404),
    () => imageCase('file missing', goodFields(), 400),
    () => imageCase('file as a text field', [...goodFields(), { name: 'file', value: 'not a file' }], 400),
    () => imageCase('empty file', [...goodFields(), { name: 'file', value: new Uint8Array(0), filename: 'e.jpg', type: 'image/jpeg' }], 400),
    () => {
      const d = r.pick(disguisedFiles(r))
      imageCase(`file: ${d.why}`, [...goodFields(), { name: 'file', value: d.bytes, filename: d.filename, type: d.type }], 415)
    },
    () => {
      const h = r.pick(hostileImages())
      imageCase(`file: ${h.why}`, [...goodFields(), { name: 'file', value: h.bytes, filename: 'huge.png', type: 'image/png' }], h.status)
    },
    () => imageCase('caption too long', [goodFile(), ...goodFields().filter((p) => p.name !== 'caption'), { name: 'caption', value: 'c'.repeat(r.pick([1025, 5000, 60_000])) }], 400),
    () => imageCase('caption is a file', [goodFile(), ...goodFields().filter((p) => p.name !== 'caption'), { name: 'caption', value: fx.png, filename: 'c.png', type: 'image/png' }], 400),
    () => imageCase('phone is a file', [goodFile(), { name: 'phone', value: enc.encode('9611234567'), filename: 'p.txt', type: 'text/plain' }], 400),
    () => imageCase('truncated mid-file', [...goodFields(), goodFile()], 400, (bytes) => ({ body: bytes.slice(0, Math.max(10, bytes.length - r.int(20, 200))) })),
    () => imageCase('truncated in the headers', [...goodFields(), goodFile()], 400, (bytes) => ({ body: bytes.slice(0, r.int(5, 60)) })),
    () => imageCase('no closing boundary', [...goodFields(), goodFile()], 400, (bytes, b) => ({ body: bytes.slice(0, bytes.length - (b.length + 6)) })),
    () => imageCase('boundary not in the body', [...goodFields(), goodFile()], 400, (bytes) => ({ body: bytes, type: 'multipart/form-data; boundary=somethingelse' })),
    () => imageCase('no boundary parameter', [...goodFields(), goodFile()], 400, (bytes) => ({ body: bytes, type: 'multipart/form-data' })),
    () => imageCase('sent as JSON', [...goodFields(), goodFile()], 415, () => ({ body: enc.encode(JSON.stringify({ phone: '9611234567', file: 'aGVsbG8=' })), type: 'application/json' })),
    () => imageCase('sent as urlencoded', [...goodFields(), goodFile()], 415, () => ({ body: enc.encode('phone=9611234567&file=x'), type: 'application/x-www-form-urlencoded' })),
    () => imageCase('garbage body', [...goodFields(), goodFile()], 400, (_, b) => ({ body: new Uint8Array(r.int(1, 3000)).map(() => r.int(0, 255)), type: `multipart/form-data; boundary="${b}"` })),
    () => imageCase('invalid UTF-8 in the phone field', [goodFile(), { name: 'phone', value: new Uint8Array([0x39, 0x36, 0xff, 0xfe, 0x31]) }], 400),
    () => imageCase('lone surrogate (CESU bytes) in the phone field', [goodFile(), { name: 'phone', value: new Uint8Array([0x39, 0xed, 0xa0, 0x80]) }], 400),
    () => imageCase('caption with NUL', [goodFile(), { name: 'phone', value: '9611234567' }, { name: 'caption', value: 'a\u0000b' }], 400),
    // At most 32 parts: the route takes five fields.
    () => imageCase('33 to 300 parts', [...goodFields(), goodFile(), ...Array.from({ length: r.int(33, 300) }, (_, i) => ({ name: r.pick(['x', `f${i}`, '']), value: '' }))], 413),
  ]
  for (let i = 0; i < n(330); i++) r.pick(imagePoisons)()
  // Within the byte limit, but 160,000 empty parts (once stalled the event loop 3.5 s and added 250 MB).
  add({
    route: 'POST /api/send-image', title: '160,000 empty parts in 8 MB', method: 'POST', path: '/api/send-image',
    headers: auth({ 'Content-Type': 'multipart/form-data; boundary=b' }),
    body: multipart([{ name: 'phone', value: '9611234567' }, ...Array.from({ length: 160_000 }, () => ({ name: 'p', value: '' })), goodFile()], 'b'),
    expect: { kind: 'reject', status: 413 },
  })
  // Above the 10 MB image limit: a few only (each is 10 MB in memory).
  for (let i = 0; i < 3; i++) {
    const big = new Uint8Array(10 * 1024 * 1024 + 1 + i * 1000)
    big.set(fx.jpeg.slice(0, 2), 0)
    imageCase('file above 10 MB', [{ name: 'phone', value: '9611234567' }, { name: 'file', value: big, filename: 'big.jpg', type: 'image/jpeg' }], 413)
  }

  // ------------------------------------------------ unknown routes, wrong methods, traversal in the path
  const strayPaths = [
    '/api/../api/send', '/api/%2e%2e/api/send', '/api/send/', '/api/send/../../etc/passwd', '/api/SEND', '/api/send%00', '/api/send.php',
    '/api/v2/send', '/api/messages/1/2', '/api/resend', '/api/resend/', '/.env', '/../../etc/passwd',
    '/api/send;jsessionid=1', '/api/%ED%A0%80', '/api/%', '/%2e%2e/%2e%2e/etc/passwd', '/api/openapi.json/..', '/wp-admin', '/api/send-image/x',
  ]
  for (let i = 0; i < n(60); i++) {
    const p = r.pick(strayPaths)
    const method = r.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
    add({ route: 'unknown route', title: `${method} ${p}`, method, path: p, headers: auth({ 'Content-Type': 'application/json' }), body: method === 'GET' ? undefined : '{"phone":"0","message":"x","name":"../x","session":"../x"}', expect: { kind: 'reject' } })
  }
  const wrongMethods: Array<[string, string]> = [
    ['PUT', '/api/send'], ['DELETE', '/api/send'], ['PATCH', '/api/sessions'], ['GET', '/api/send'], ['GET', '/api/send-image'], ['PUT', '/api/sessions/support'],
    ['GET', '/api/regenerate-qr'], ['DELETE', '/api/messages/1'], ['POST', '/api/messages'], ['POST', '/api/status'], ['GET', '/api/resend/1'], ['POST', '/api/openapi.json'],
  ]
  for (const [m, p] of wrongMethods) add({ route: 'wrong method', title: `${m} ${p}`, method: m, path: p, headers: auth({ 'Content-Type': 'application/json' }), body: m === 'GET' ? undefined : '{}', expect: { kind: 'reject', status: 404 } })

  // ------------------------------------------------ public pages and the dashboard: never a 5xx, nothing written
  const publicReqs: Array<[string, string, Record<string, string>, string | undefined]> = [
    ['GET', '/healthz?x=%ED%A0%80', {}, undefined], ['GET', '/readyz?session=../x', {}, undefined], ['GET', '/docs?q=%3Cscript%3E', {}, undefined],
    ['GET', '/dashboard', {}, undefined], ['GET', '/dashboard/messages?status=%27%20OR%201%3D1', {}, undefined], ['GET', '/dashboard/messages/..%2F1', {}, undefined],
    ['GET', '/dashboard/media/-1', {}, undefined], ['GET', '/dashboard/sessions/..%2Fx/delete', {}, undefined], ['GET', '/dashboard/sign-in?next=https://evil.example', {}, undefined],
    ['GET', '/dashboard/sign-in?next=%2F%2Fevil.example', {}, undefined], ['POST', '/dashboard/sessions', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'name=..%2Fx&csrf=forged'],
    ['POST', '/dashboard/send', { 'Content-Type': 'multipart/form-data; boundary=x' }, '--x\r\nContent-Disposition: form-data; name="phone"\r\n\r\n961'],
    ['POST', '/dashboard/sessions/default/delete', { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: 'wa_dash=forged.cookie.value' }, 'csrf=x'],
    ['POST', '/dashboard/messages/1/resend', { Cookie: 'wa_dash=' + 'A'.repeat(5000) }, undefined], ['GET', '/dashboard/', { Cookie: '%ED%A0%80=%FF' }, undefined],
    ['POST', '/dashboard/sign-in', { 'Content-Type': 'application/x-www-form-urlencoded' }, `api_key=${pct(`' OR '1'='1`)}&next=..%2F..%2Fx`],
    ['POST', '/dashboard/sign-in', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'api_key=' + 'k'.repeat(20_000)],
    ['POST', '/dashboard/sign-in', { 'Content-Type': 'application/json' }, '{"api_key":[1,2]}'],
    ['POST', '/dashboard/contacts', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'phone=9611234567&opt_in=yes'],
    ['GET', '/dashboard/assets/..%2F..%2Fpackage.json', {}, undefined], ['GET', '/dashboard/sessions.json', { Cookie: 'wa_dash=1' }, undefined],
  ]
  // The dashboard's session cookie and sign-in throttle: forged signed cookies (well-formed, wrong MAC), sign-out
  // without a session, and address headers of 15 KB (the throttle must neither trust nor store them). app.request's
  // host is localhost, so these carry a same-site Origin and reach the session and throttle code.
  const site = { Origin: 'http://localhost', 'Content-Type': 'application/x-www-form-urlencoded' }
  const forgedSession = `wa_dashboard=${'A'.repeat(43)}.${encodeURIComponent(`${'B'.repeat(43)}=`)}`
  const huge = (c: string) => `${c}${'9'.repeat(15_000)}`
  publicReqs.push(
    ['GET', '/dashboard', { Cookie: forgedSession }, undefined], ['GET', '/dashboard/sessions.json', { Cookie: `${forgedSession}; ${forgedSession}x` }, undefined],
    ['POST', '/dashboard/sign-out', { ...site, Cookie: forgedSession }, '_csrf=x'], ['POST', '/dashboard/sign-out', site, '_csrf=x'],
    ['POST', '/dashboard/sessions', { ...site, Cookie: `wa_dashboard=${'A'.repeat(43)}.${'%00'.repeat(15)}` }, 'name=x&_csrf=x'],
    ['GET', '/dashboard/messages', { Cookie: `wa_dashboard=${'.'.repeat(4000)}` }, undefined],
    ['POST', '/dashboard/sign-in', { ...site, 'X-Forwarded-For': huge('1.'), 'X-Real-IP': huge('2.'), 'CF-Connecting-IP': huge('3.') }, 'api_key=wrong-guess'],
    ['POST', '/dashboard/sign-in', { ...site, 'X-Forwarded-For': Array.from({ length: 2000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(', ') }, 'api_key=wrong-guess'],
    ['POST', '/dashboard/sign-in', { ...site, 'CF-Connecting-IP': '::ffff:999.1.1.1%eth0' }, 'api_key=wrong-guess'],
  )
  for (const [method, path, headers, body] of publicReqs) add({ route: 'public & dashboard', title: `${method} ${path}`, method, path, headers, body, expect: { kind: 'no5xx' } })

  // ------------------------------------------------ valid controls: hostile-looking content that is allowed
  const created: string[] = []
  const controls = n(80)
  for (let i = 0; i < controls; i++) {
    const kind = r.pick(['send', 'send', 'send', 'batch', 'image', 'session', 'read'] as const)
    if (kind === 'send') {
      const [phone, normalized] = r.pick(VALID_PHONES)
      const message = r.pick([...SQL_INJECTION, ...TRAVERSAL, ...HOSTILE_TEXT, '😀'.repeat(4096), 'ع'.repeat(4096)])
      const session = anySession()
      const body = withChaos({ phone, message, ...(session === 'default' && r.chance(0.5) ? {} : { session }) }, r)
      add({ route: 'POST /api/send', title: 'valid: hostile-looking text', method: 'POST', path: '/api/send', headers: auth({ 'Content-Type': jsonType() }), body: stringify(body, r), expect: { kind: 'ok', effect: { kind: 'messages', rows: [{ session, phone: normalized, type: 'text', body: stored(message) }] } } })
    } else if (kind === 'batch') {
      const items = Array.from({ length: r.int(1, 5) }, () => {
        const [phone, normalized] = r.pick(VALID_PHONES)
        return { phone, normalized, message: r.pick([...SQL_INJECTION, ...HOSTILE_TEXT]), session: anySession() }
      })
      add({
        route: 'POST /api/send-batch', title: 'valid batch', method: 'POST', path: '/api/send-batch', headers: auth({ 'Content-Type': 'application/json' }),
        body: JSON.stringify({ messages: items.map(({ phone, message, session }) => ({ phone, message, session })) }),
        expect: { kind: 'ok', effect: { kind: 'messages', rows: items.map((m) => ({ session: m.session, phone: m.normalized, type: 'text' as const, body: stored(m.message) })) } },
      })
    } else if (kind === 'image') {
      const caption = r.pick([...SQL_INJECTION, ...HOSTILE_TEXT.filter((t) => t.trim() !== '')])
      const session = anySession()
      const bytes = r.chance(0.5) ? fx.jpeg : fx.png
      const b = 'ctl' + r.int(0, 1e9)
      add({
        route: 'POST /api/send-image', title: 'valid image, traversal filename', method: 'POST', path: '/api/send-image', headers: auth({ 'Content-Type': `multipart/form-data; boundary=${b}` }),
        body: multipart([{ name: 'phone', value: '+961 1 234 567' }, { name: 'caption', value: caption }, { name: 'session', value: session }, { name: 'file', value: bytes, filename: '../../../etc/passwd', type: 'application/x-sh' }], b),
        expect: { kind: 'ok', effect: { kind: 'messages', rows: [{ session, phone: '9611234567', type: 'image', body: stored(caption), media: bytes }] } },
      })
    } else if (kind === 'session') {
      const name = fresh(r.pick(['ok', 'A-b_C', 'x']))
      created.push(name)
      add({ route: 'POST /api/sessions', title: 'valid new session', method: 'POST', path: '/api/sessions', headers: auth({ 'Content-Type': 'application/json' }), body: stringify(withChaos({ name }, r), r), expect: { kind: 'ok', effect: { kind: 'session', name } } })
    } else {
      const p = r.pick(['/api/status', '/api/sessions', '/api/openapi.json', '/api/messages?limit=5', `/api/status?session=${anySession()}`])
      add({ route: `GET ${p.split('?')[0]}`, title: 'valid read', method: 'GET', path: p, headers: auth(), expect: { kind: 'read' } })
    }
  }
  createdSessions.push(...created)

  // ------------------------------------------------ webhooks: every request here must be refused
  // Rules from the README / OpenAPI: http(s) URL without credentials, no loopback/private/link-local target (SSRF),
  // known event names, a 16–200 character printable secret, an existing session.
  const SSRF_URLS = [
    'http://127.0.0.1/hook', 'http://127.1/', 'http://0x7f.0.0.1/', 'http://2130706433/', 'http://0177.0.0.1/', 'http://[::1]/',
    'http://[::ffff:127.0.0.1]/', 'http://[0:0:0:0:0:ffff:7f00:1]/', 'http://169.254.169.254/latest/meta-data/', 'http://[fd00::1]/',
    'http://10.0.0.1/', 'http://172.16.5.4/', 'http://192.168.0.1/', 'http://100.64.0.1/', 'http://0.0.0.0/', 'http://[::]/',
    'http://localhost/', 'http://LOCALHOST./', 'http://foo.localhost/', 'http://printer.local/', 'http://metadata.google.internal/',
    'http://intranet/', 'http://224.0.0.1/', 'http://255.255.255.255/', 'http://[fe80::1%25eth0]/', 'http://[64:ff9b::a00:1]/',
  ]
  const BAD_URLS: unknown[] = [
    ...SSRF_URLS, '', ' ', 'example.com/hook', '//example.com/x', 'ftp://example.com/', 'file:///etc/passwd', 'gopher://example.com/',
    'javascript:alert(1)', 'data:text/plain,x', 'https://user:pass@example.com/', 'https://example.com/#frag', 'https://exa mple.com/',
    'https://example.com/\r\nX: y', `https://example.com/${'a'.repeat(2100)}`, 'http://', 'https://[::1', ...SQL_INJECTION, ...WRONG_TYPES, null,
  ]
  const webhookBase = () => ({ url: 'https://example.com/wa-events', events: ['message.sent'] })
  jsonCases('POST /api/webhooks', '/api/webhooks', n(160), webhookBase, [
    ...fieldPoisons({
      url: () => r.pick(BAD_URLS),
      events: () => r.pick<unknown>([[], ['message.nope'], ['*'], 'message.sent', [1], [null], ['message.sent', 'MESSAGE.SENT'], {}, null, [SQL_INJECTION[0]]]),
      session: () => r.pick<unknown>([...INVALID_SESSION_NAMES.filter((v) => v !== null), fresh('nosuch')]),
      secret: () => r.pick<unknown>(['short', '', ' '.repeat(20), 'has spaces in it 123456', 'k\u00fcssel-0123456789abcdef', 'x'.repeat(201), 42, [], {}]),
    }, ['url', 'events']),
    ...bodyPoisons('POST /api/webhooks', { idempotent: false, allowEmpty: false }),
  ])
  const webhookIds = [...idParams, String(fx.maxId + 1_000_000), String(Number.MAX_SAFE_INTEGER), '2147483648']
  for (let i = 0; i < n(60); i++) {
    const id = r.pick(webhookIds)
    add({ route: 'DELETE /api/webhooks/:id', title: `id ${id.slice(0, 30)}`, method: 'DELETE', path: `/api/webhooks/${id}`, headers: auth(), expect: { kind: 'reject' } })
    const q = r.pick(['', '?status=sent', '?status=%27%20OR%201%3D1', '?limit=0', '?limit=501', '?cursor=-1', '?cursor=abc', `?status=${pct('dead ')}`, '?status=dead&status=pending', '?limit=5&limit=6'])
    add({ route: 'GET /api/webhooks/:id/deliveries', title: `id ${id.slice(0, 30)}${q}`, method: 'GET', path: `/api/webhooks/${r.pick(webhookIds)}/deliveries${q}`, headers: auth(), expect: { kind: 'reject' } })
    add({ route: 'POST /api/webhooks/deliveries/:id/replay', title: `id ${id.slice(0, 30)}`, method: 'POST', path: `/api/webhooks/deliveries/${r.pick(webhookIds)}/replay`, headers: auth(), expect: { kind: 'reject' } })
  }
  for (let i = 0; i < n(6); i++) add({ route: 'GET /api/webhooks', title: 'valid read', method: 'GET', path: '/api/webhooks', headers: auth(), expect: { kind: 'read' } })

  return { cases: r.shuffle(cases).map((c, i) => ({ ...c, id: i + 1 })), createdSessions }
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}…(${v.length})` : v)
  if (Array.isArray(v)) return `array(${v.length})`
  if (v === null) return 'null'
  if (typeof v === 'object') return 'object'
  return String(v)
}

/** encodeURIComponent that also encodes lone surrogates (as their CESU-8 bytes, which no UTF-8 decoder accepts). */
function pct(s: string): string {
  let out = ''
  for (const ch of s) {
    const cu = ch.charCodeAt(0)
    if (ch.length === 1 && cu >= 0xd800 && cu <= 0xdfff) {
      out += [0xe0 | (cu >> 12), 0x80 | ((cu >> 6) & 0x3f), 0x80 | (cu & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('')
    } else out += encodeURIComponent(ch)
  }
  return out
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
