/**
 * Hostile cases for the message kinds beyond text and images: documents, video and audio (multipart uploads and JSON
 * with a `url`), locations, contact cards, `reply_to`, and the cancel and revoke controls. Rejections must write
 * nothing; the few valid controls list exactly the row they write. No case reaches the network: every URL is refused
 * (a scheme, a literal private or loopback address) before anything is fetched.
 */
import type { ExpectedRow, Fixtures, HostileCase } from './generator.js'
import type { Random } from './random.js'

type Add = (c: Omit<HostileCase, 'id'>) => void

export interface KindCaseTools {
  r: Random
  fx: Fixtures
  add: Add
  auth: (extra?: Record<string, string>) => Record<string, string>
  jsonType: () => string
  n: (count: number) => number
  anySession: () => string
  fresh: (prefix: string) => string
  multipart: (parts: Array<{ name: string; value: string | Uint8Array; filename?: string; type?: string }>, boundary: string) => Uint8Array
  /** Field poisons, body poisons and the JSON case runner of the generator, shared so the rules stay one list. */
  fieldPoisons: (fields: Record<string, () => unknown>, required: string[]) => Poison[]
  bodyPoisons: (route: string, o: { idempotent: boolean; allowEmpty: boolean }) => Poison[]
  jsonCases: (route: string, path: string, count: number, base: () => Record<string, unknown>, poisons: Poison[]) => void
  invalidPhones: unknown[]
  hostileText: string[]
}

export type Poison = (b: Record<string, unknown>) => { body?: string | Uint8Array; headers?: Record<string, string>; why: string; status?: number }

const enc = new TextEncoder()

/** A small valid PDF (one page), the document the controls send. */
export const TINY_PDF = enc.encode(
  '%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n' +
    '3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n',
)

/** URLs the API must refuse before fetching: wrong schemes, private and loopback literals, credentials, junk. */
const REFUSED_URLS: unknown[] = [
  'ftp://example.com/a.pdf', 'file:///etc/passwd', 'javascript:alert(1)', 'data:application/pdf;base64,JVBERi0=', 'gopher://127.0.0.1:25/',
  'http://127.0.0.1/a.pdf', 'http://[::1]/a.pdf', 'http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/x', 'http://192.168.1.1/x',
  'http://0.0.0.0/', 'http://[::ffff:127.0.0.1]/x', 'http://localhost/x', 'http://2130706433/x', 'http://0x7f000001/x',
  '', '   ', 'not a url', `http://${'a'.repeat(3000)}.com/`, 42, null, [], {}, true,
]

const REPLY_TO_POISONS: unknown[] = [0, -1, 1.5, 'abc', '1; DROP TABLE messages', [], {}, true, 1e300, '９']

export function generateKindCases(t: KindCaseTools): void {
  const { r, fx, add, auth, n } = t
  const phone = () => r.pick(['9611234567', '+961 1 234 567', '442079460958'])
  const sessionPoisons = () => r.pick<unknown>(['../x', '', 'a'.repeat(41), "default' OR '1'='1", t.fresh('nosuch')])

  // ------------------------------------------------ POST /api/send-location and /api/send-contact (JSON)
  const locationBase = () => ({ phone: phone(), latitude: 33.89, longitude: 35.5, session: t.anySession() })
  t.jsonCases('POST /api/send-location', '/api/send-location', n(120), locationBase, [
    ...t.fieldPoisons({
      latitude: () => r.pick<unknown>([90.0001, -91, 1e308, 'north', '', null, [], {}, true, 'NaN', 'Infinity']),
      longitude: () => r.pick<unknown>([180.5, -181, -1e308, 'east', null, [], '1e999']),
      phone: () => r.pick(t.invalidPhones),
      session: sessionPoisons,
      name: () => r.pick<unknown>(['', '   ', 'n'.repeat(257), 'bad \uD800', 7, []]),
      address: () => r.pick<unknown>(['a'.repeat(513), 'nul \u0000', {}, false]),
      reply_to: () => r.pick(REPLY_TO_POISONS),
    }, ['phone', 'latitude', 'longitude']),
    ...t.bodyPoisons('POST /api/send-location', { idempotent: true, allowEmpty: false }),
  ])
  const contactBase = () => ({ phone: phone(), contact: { name: 'Help desk', phones: ['9611234567'] }, session: t.anySession() })
  t.jsonCases('POST /api/send-contact', '/api/send-contact', n(120), contactBase, [
    ...t.fieldPoisons({
      contact: () => r.pick<unknown>([
        null, 'card', [], 42, {}, { name: 'x' }, { phones: ['9611234567'] }, { name: '', phones: ['9611234567'] },
        { name: 'x', phones: [] }, { name: 'x', phones: Array(11).fill('9611234567') }, { name: 'x', phones: ['0123'] },
        { name: 'x', phones: '9611234567' }, { name: 'x\u0000', phones: ['9611234567'] }, { name: 'x', phones: ['9611234567'], email: 'nope' },
        { name: 'x', phones: ['9611234567'], email: 'a@b.c\r\nBCC: x@y.z' }, { name: 'n'.repeat(257), phones: ['9611234567'] },
        { name: 'x', phones: ['9611234567'], organization: 'o'.repeat(257) },
      ]),
      phone: () => r.pick(t.invalidPhones),
      session: sessionPoisons,
      reply_to: () => r.pick(REPLY_TO_POISONS),
    }, ['phone', 'contact']),
    ...t.bodyPoisons('POST /api/send-contact', { idempotent: true, allowEmpty: false }),
  ])

  // ------------------------------------------------ the file routes as JSON with a url: refused before any fetch
  for (const kind of ['image', 'document', 'video', 'audio'] as const) {
    const route = `POST /api/send-${kind}`
    for (let i = 0; i < n(40); i++) {
      const url = r.pick(REFUSED_URLS)
      const body: Record<string, unknown> = { phone: phone(), url, ...(r.chance(0.3) ? { session: t.anySession() } : {}) }
      if (kind === 'audio' && r.chance(0.5)) body.ptt = r.pick<unknown>([true, 'yes', 'maybe', 2])
      add({ route, title: `url = ${JSON.stringify(url)?.slice(0, 60)}`, method: 'POST', path: `/api/send-${kind}`, headers: auth({ 'Content-Type': t.jsonType() }), body: JSON.stringify(body), expect: { kind: 'reject' } })
    }
  }

  // ------------------------------------------------ the file routes as multipart uploads
  const boundary = () => r.pick(['----kinds', 'k' + r.int(0, 1e6), '-'.repeat(40) + 'z'])
  const upload = (kind: string, title: string, parts: Array<{ name: string; value: string | Uint8Array; filename?: string; type?: string }>, status?: number) => {
    const b = boundary()
    add({
      route: `POST /api/send-${kind}`, title, method: 'POST', path: `/api/send-${kind}`,
      headers: auth({ 'Content-Type': `multipart/form-data; boundary=${b}` }), body: t.multipart(r.shuffle(parts), b), expect: { kind: 'reject', ...(status ? { status } : {}) },
    })
  }
  const pdfPart = () => ({ name: 'file', value: TINY_PDF, filename: r.pick(['a.pdf', '../../etc/passwd', 'x%22y.pdf', 'ملف.pdf', 'a b.pdf']), type: 'application/pdf' })
  const multipartPoisons: Array<() => void> = [
    () => upload('document', 'phone missing', [pdfPart()], 400),
    () => upload('document', 'file missing', [{ name: 'phone', value: '9611234567' }], 400),
    () => upload('document', 'empty file', [{ name: 'phone', value: '9611234567' }, { name: 'file', value: new Uint8Array(0), filename: 'e.pdf' }], 400),
    () => upload('document', 'file as a text field', [{ name: 'phone', value: '9611234567' }, { name: 'file', value: 'not a file' }], 400),
    () => upload('document', 'filename too long', [{ name: 'phone', value: '9611234567' }, { name: 'filename', value: 'f'.repeat(300) }, pdfPart()], 400),
    () => upload('document', 'filename with NUL', [{ name: 'phone', value: '9611234567' }, { name: 'filename', value: 'a\u0000b.pdf' }, pdfPart()], 400),
    () => upload('document', 'reply_to not a number', [{ name: 'phone', value: '9611234567' }, { name: 'reply_to', value: r.pick(['x', '-1', '1.5', '0']) }, pdfPart()], 400),
    () => upload('document', 'reply_to names no received message', [{ name: 'phone', value: '9611234567' }, { name: 'reply_to', value: String(9_000_000_000 + r.int(0, 1000)) }, pdfPart()], 404),
    () => upload('document', 'unknown session', [{ name: 'phone', value: '9611234567' }, { name: 'session', value: t.fresh('nosuch') }, pdfPart()], 404),
    () => upload('document', 'caption too long', [{ name: 'phone', value: '9611234567' }, { name: 'caption', value: 'c'.repeat(1025) }, pdfPart()], 400),
    () => upload('video', 'a PDF declared as video/mp4', [{ name: 'phone', value: '9611234567' }, { name: 'file', value: TINY_PDF, filename: 'clip.mp4', type: 'video/mp4' }], 415),
    () => upload('video', 'a JPEG as video', [{ name: 'phone', value: '9611234567' }, { name: 'file', value: fx.jpeg, filename: 'clip.mp4', type: 'video/mp4' }], 415),
    () => upload('audio', 'a PDF declared as audio', [{ name: 'phone', value: '9611234567' }, { name: 'file', value: TINY_PDF, filename: 'a.mp3', type: 'audio/mpeg' }], 415),
    () => upload('audio', 'ptt not a boolean', [{ name: 'phone', value: '9611234567' }, { name: 'ptt', value: r.pick(['maybe', '2', 'yess']) }, { name: 'file', value: TINY_PDF, filename: 'a.ogg' }], 400),
    () => upload(r.pick(['document', 'video', 'audio']), '33 to 100 parts', [{ name: 'phone', value: '9611234567' }, pdfPart(), ...Array.from({ length: r.int(33, 100) }, (_, i) => ({ name: `f${i}`, value: '' }))], 413),
  ]
  for (let i = 0; i < n(160); i++) r.pick(multipartPoisons)()
  // A body the parser never sees the end of a part in: no closing boundary.
  const b = 'cut'
  const cut = t.multipart([{ name: 'phone', value: '9611234567' }, pdfPart()], b)
  add({ route: 'POST /api/send-document', title: 'no closing boundary', method: 'POST', path: '/api/send-document', headers: auth({ 'Content-Type': `multipart/form-data; boundary=${b}` }), body: cut.slice(0, cut.length - 12), expect: { kind: 'reject', status: 400 } })

  // ------------------------------------------------ cancel and revoke
  const badIds = ['0', '-1', 'abc', '1.5', '1e3', '%27%20OR%201%3D1', '99999999999999999999', '..%2F1']
  for (const action of ['cancel', 'revoke'] as const) {
    for (const id of badIds) add({ route: `POST /api/messages/:id/${action}`, title: `id = ${id}`, method: 'POST', path: `/api/messages/${id}/${action}`, headers: auth(), expect: { kind: 'reject', status: 400 } })
    add({ route: `POST /api/messages/:id/${action}`, title: 'no such message', method: 'POST', path: `/api/messages/${fx.maxId + 1_000_000}/${action}`, headers: auth(), expect: { kind: 'reject', status: 404 } })
  }
  // The pending fixture may not be revoked (cancelling it would change it, so that stays out of a no-change suite).
  add({ route: 'POST /api/messages/:id/revoke', title: 'a pending message', method: 'POST', path: `/api/messages/${fx.pendingId}/revoke`, headers: auth(), expect: { kind: 'reject', status: 409 } })

  // ------------------------------------------------ valid controls with hostile-looking content
  for (let i = 0; i < n(6); i++) {
    const session = t.anySession()
    const name = r.pick(t.hostileText)
    const row: ExpectedRow = { session, phone: '9611234567', type: 'location', body: null }
    add({
      route: 'POST /api/send-location', title: 'valid: hostile-looking place name', method: 'POST', path: '/api/send-location', headers: auth({ 'Content-Type': t.jsonType() }),
      body: JSON.stringify({ phone: '9611234567', latitude: -33.8688, longitude: 151.2093, name: name.trim() === '' ? 'x' : name, session }),
      expect: { kind: 'ok', effect: { kind: 'messages', rows: [row] } },
    })
  }
  for (let i = 0; i < n(4); i++) {
    const session = t.anySession()
    const caption = r.pick(['invoice', '<b>bold</b>', "'; DROP TABLE media; --"])
    const b2 = boundary()
    add({
      route: 'POST /api/send-document', title: 'valid: traversal file name', method: 'POST', path: '/api/send-document',
      headers: auth({ 'Content-Type': `multipart/form-data; boundary=${b2}` }),
      body: t.multipart([{ name: 'phone', value: '9611234567' }, { name: 'session', value: session }, { name: 'caption', value: caption }, { name: 'file', value: TINY_PDF, filename: '../../etc/passwd.pdf', type: 'application/pdf' }], b2),
      expect: { kind: 'ok', effect: { kind: 'messages', rows: [{ session, phone: '9611234567', type: 'document', body: caption, media: TINY_PDF }] } },
    })
  }
}
