/**
 * Hostile cases for `GET /api/sessions/:name/check/:phone`: malformed phones and session names in the path, unknown
 * and offline sessions. Every one is refused before a request row is written or the session's rate counter moves
 * (the suite's snapshot covers `number_checks` and every column of `sessions`).
 */
import type { HostileCase } from './generator.js'
import type { Random } from './random.js'

export interface NumberCheckCaseTools {
  r: Random
  add: (c: Omit<HostileCase, 'id'>) => void
  auth: (extra?: Record<string, string>) => Record<string, string>
  n: (count: number) => number
  fresh: (prefix: string) => string
  /** Percent-encodes a path segment (lone surrogates included). */
  pct: (s: string) => string
  invalidPhones: unknown[]
  traversal: string[]
}

const ROUTE = 'GET /api/sessions/:name/check/:phone'

export function generateNumberCheckCases({ r, add, auth, n, fresh, pct, invalidPhones, traversal }: NumberCheckCaseTools): void {
  const reject = (title: string, path: string, status?: number) =>
    add({ route: ROUTE, title, method: 'GET', path, headers: auth(), expect: { kind: 'reject', ...(status ? { status } : {}) } })

  // Strings only: a JSON number is refused for its type, but its digits would be a valid path segment.
  const badPhones = [...invalidPhones.filter((p): p is string => typeof p === 'string' && p !== ''), '1'.repeat(2000), '9'.repeat(16), '%27%20OR%201%3D1']
  for (let i = 0; i < n(60); i++) {
    const phone = r.pick(badPhones)
    reject(`phone ${phone.slice(0, 40)}`, `/api/sessions/default/check/${pct(phone)}`, 400)
  }
  for (const phone of ['abc', '0611234567', '9'.repeat(16), '1'.repeat(100_000)]) reject(`phone ${phone.slice(0, 20)}`, `/api/sessions/${r.pick(['default', 'support'])}/check/${phone}`, 400)

  const badNames = [...traversal.map(pct), 'a'.repeat(41), '%20default', 'default%00', '%ED%A0%80', pct(`' OR '1'='1`), 'na%C3%AFve', 'x%0d%0aSet-Cookie:%20a=b']
  for (let i = 0; i < n(40); i++) {
    const name = r.pick(badNames)
    reject(`name ${name.slice(0, 40)}`, `/api/sessions/${name}/check/9611234567`)
  }
  // Well-formed: an unknown session is 404, and one no runner holds (no session is online in this suite) is 409.
  reject('unknown session', `/api/sessions/${fresh('nosuch')}/check/9611234567`, 404)
  reject('offline session', `/api/sessions/${r.pick(['default', 'support', 'sales'])}/check/%2B961%201%20234%20567`, 409)
}
