/**
 * Hostile cases for `PATCH /api/sessions/:name`: sending limits and the proxy (api/README.md, Proxy per number). Every
 * one is refused and writes nothing: a bad name or value, or no setting at all, is a 400, an unknown session a 404,
 * and a valid proxy a 409 here, because no runner of this suite has published the key a proxy URL is sealed with.
 */
import type { ContactCaseTools } from './contact-cases.js'

/** The contact cases' tools, but for the phones they reject. */
export type SessionSettingsCaseTools = Omit<ContactCaseTools, 'invalidPhones'>

const ROUTE = 'PATCH /api/sessions/:name'

export function generateSessionSettingsCases({ r, add, auth, jsonType, n }: SessionSettingsCaseTools): void {
  const patch = (title: string, path: string, body: string, status: number, type = jsonType()) =>
    add({ route: ROUTE, title, method: 'PATCH', path, headers: auth({ 'Content-Type': type }), body, expect: { kind: 'reject', status } })

  const badProxies: unknown[] = [
    'ftp://proxy.example.com:21', 'socks4://proxy.example.com:1080', 'http://proxy.example.com', 'http://proxy.example.com:0',
    'http://proxy.example.com:65536', 'http://proxy.example.com:8080/path', 'http://proxy.example.com:8080/?q=1',
    'http://proxy.example.com:8080#frag', 'http://:8080', 'proxy.example.com:8080', '', ' ', `http://${'a'.repeat(2050)}.com:80`,
    'http://user:pa ss@proxy.example.com:8080', 'http://proxy.example.com:8080\r\nX-Injected: 1', 'javascript:alert(1)',
    'socks5://[::1:1080', 42, true, [], { url: 'http://proxy.example.com:8080' },
  ]
  for (let i = 0; i < n(40); i++) {
    const proxy = r.pick(badProxies)
    patch(`proxy ${JSON.stringify(proxy)?.slice(0, 40)}`, '/api/sessions/support', JSON.stringify({ proxy }), 400)
  }
  const badLimits: unknown[] = [
    { daily_cap: -1 }, { daily_cap: 'ten' }, { daily_cap: 1.5 }, { quiet_hours: '25:00-07:00' }, { quiet_hours_tz: 'Mars/Olympus' },
    { presence: 'maybe' }, { warmup_days: 100_000 }, { unknown_setting: 1 }, {}, { time_zone: 'Mars/Olympus' }, [], 'x', null,
  ]
  for (let i = 0; i < n(20); i++) {
    const body = r.pick(badLimits)
    patch(`limits ${JSON.stringify(body)?.slice(0, 40)}`, '/api/sessions/support', JSON.stringify(body), 400)
  }
  for (const name of ['a%20b', '..%2F..%2Fetc', 'x'.repeat(65), '%27%20OR%201%3D1', '%00']) {
    patch(`name ${name.slice(0, 30)}`, `/api/sessions/${name}`, '{"daily_cap":10}', 400)
  }
  patch('unknown session', '/api/sessions/nobody_here', '{"daily_cap":10}', 404)
  // Well-formed, but there is no runner key to seal it with: refused before anything is written.
  patch('a valid proxy without a runner key', '/api/sessions/support', JSON.stringify({ proxy: 'socks5://user:secret@proxy.example.com:1080' }), 409)
  patch('wrong content type', '/api/sessions/support', '{"daily_cap":10}', 415, 'text/plain')
}
