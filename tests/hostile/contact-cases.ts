/**
 * Hostile cases for the contacts API: listing filters, a change, an import as JSON or CSV. Every one is refused and
 * writes nothing (the valid controls of this suite send messages; a contact change would show up as a changed row).
 */
import type { HostileCase } from './generator.js'
import type { Random } from './random.js'

export interface ContactCaseTools {
  r: Random
  add: (c: Omit<HostileCase, 'id'>) => void
  auth: (extra?: Record<string, string>) => Record<string, string>
  jsonType: () => string
  n: (count: number) => number
  invalidPhones: unknown[]
}

const enc = new TextEncoder()

export function generateContactCases({ r, add, auth, jsonType, n, invalidPhones }: ContactCaseTools): void {
  const reject = (route: string, title: string, method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}, status?: number) =>
    add({ route, title, method, path, headers: auth(headers), body, expect: { kind: 'reject', ...(status ? { status } : {}) } })

  const badQueries = ['opt_in=maybe', 'limit=0', 'limit=501', 'limit=abc', 'cursor=abc', 'cursor=0123', `q=${'x'.repeat(101)}`, 'opt_in=yes&opt_in=no']
  for (const q of badQueries) reject('GET /api/contacts', q, 'GET', `/api/contacts?${q}`, undefined, {}, 400)

  const badPhones = ['0', '123', 'abc', '%27%20OR%201%3D1', '..%2F..%2Fetc', '9'.repeat(16)]
  for (const p of badPhones) {
    reject('GET /api/contacts/:phone', `phone = ${p}`, 'GET', `/api/contacts/${p}`, undefined, {}, 400)
    reject('PATCH /api/contacts/:phone', `phone = ${p}`, 'PATCH', `/api/contacts/${p}`, '{"opt_in":"yes"}', { 'Content-Type': 'application/json' }, 400)
  }
  const badPatches: unknown[] = [
    {}, { opt_in: 'maybe' }, { opt_in: 'pending' }, { opt_in: 1 }, { opt_in: null, name: 7 }, { name: 'n'.repeat(201) }, { name: 'nul\u0000' },
    { name: 'half \uD800' }, [], 'yes', null, { name: ['x'] },
  ]
  for (let i = 0; i < n(30); i++) {
    const body = r.pick(badPatches)
    reject('PATCH /api/contacts/:phone', `body ${JSON.stringify(body)?.slice(0, 40)}`, 'PATCH', '/api/contacts/9611234567', JSON.stringify(body), { 'Content-Type': jsonType() }, 400)
  }
  reject('PATCH /api/contacts/:phone', 'wrong content type', 'PATCH', '/api/contacts/9611234567', '{"opt_in":"no"}', { 'Content-Type': 'text/plain' }, 415)

  const row = () => ({ phone: '9611234567', name: 'x', opt_in: 'yes' })
  const badImports: Array<() => { body: string | Uint8Array; type: string; why: string; status?: number }> = [
    () => ({ body: JSON.stringify({ contacts: [] }), type: 'application/json', why: 'no rows', status: 400 }),
    () => ({ body: JSON.stringify({ contacts: [row(), { ...row(), phone: r.pick(invalidPhones) }] }), type: 'application/json', why: 'one bad phone', status: 400 }),
    () => ({ body: JSON.stringify({ contacts: [{ ...row(), opt_in: 'maybe' }] }), type: 'application/json', why: 'bad opt_in', status: 400 }),
    () => ({ body: JSON.stringify({ contacts: 'x' }), type: 'application/json', why: 'contacts not a list', status: 400 }),
    () => ({ body: JSON.stringify({ contacts: Array.from({ length: 10_001 }, row) }), type: 'application/json', why: '10,001 rows', status: 413 }),
    () => ({ body: 'phone,name\n012,x\n', type: 'text/csv', why: 'CSV with a bad phone', status: 400 }),
    () => ({ body: 'name,opt_in\nx,yes\n', type: 'text/csv', why: 'CSV without a phone column', status: 400 }),
    () => ({ body: 'phone\n"9611234567\n', type: 'text/csv', why: 'CSV quote never closed', status: 400 }),
    () => ({ body: '', type: 'text/csv', why: 'empty CSV', status: 400 }),
    () => ({ body: new Uint8Array([0x70, 0x68, 0x6f, 0x6e, 0x65, 0x0a, 0xff, 0xfe]), type: 'text/csv', why: 'CSV not UTF-8', status: 400 }),
    () => ({ body: enc.encode(`phone\n${'9611234567\n'.repeat(10_001)}`), type: 'text/csv', why: 'CSV of 10,001 rows', status: 413 }),
    () => ({ body: 'phone,opt_in\n9611234567,perhaps\n', type: 'text/csv; charset=utf-8', why: 'CSV with a bad opt_in', status: 400 }),
    () => ({ body: JSON.stringify({ contacts: [row()] }), type: 'application/xml', why: 'wrong content type', status: 415 }),
  ]
  for (let i = 0; i < n(40); i++) {
    const c = r.pick(badImports)()
    reject('POST /api/contacts/import', c.why, 'POST', '/api/contacts/import', c.body, { 'Content-Type': c.type }, c.status)
  }
}
