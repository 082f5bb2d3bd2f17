/**
 * Which webhook URLs the gateway may call (SSRF guard). Pure and web-standard: the API (Node or Workers, no DNS)
 * checks the syntax, literal IP addresses and well-known local names when a webhook is created; the runner checks
 * the same and, at connect time, every address the name resolves to (runner/webhooks/http.ts), so a name that
 * later resolves to a private address (DNS rebinding) is refused too. It lives in db/shared/ because api/ and
 * runner/ never import each other and db/ is the code both may import; it is not about data.
 *
 * Refused by default (checked against IANA's IPv4 and IPv6 special-purpose address registries): loopback, private
 * (RFC 1918), link-local, CGNAT (100.64/10), "this network", IETF protocol assignments (192.0.0/24), multicast,
 * reserved, benchmarking and documentation ranges, broadcast; IPv6 loopback/unspecified, unique-local (fc00::/7),
 * link-local and site-local, multicast, discard and dummy prefixes (100::/64, 100:0:0:1::/64), benchmarking
 * (2001:2::/48), documentation (2001:db8::/32, 3fff::/20), SRv6 SIDs (5f00::/16), local-use NAT64 (64:ff9b:1::/48),
 * Teredo (2001::/32) entirely, and IPv4 embedded in IPv6 (mapped ::ffff:0:0/96, translated ::ffff:0:0:0/96,
 * compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16) when the IPv4 part is refused.
 * `WEBHOOK_ALLOW_HOSTS` names receivers that may be private anyway (a self-hosted receiver on the same machine or
 * LAN), each with its port (`host:port`, or `host:*` for every port); `WEBHOOK_ALLOW_PRIVATE=1` turns the address
 * check off altogether.
 */
import { parseIPv4, parseIPv6 } from './ip-address.js'

export interface WebhookUrlPolicy {
  /**
   * Receivers that may be private: `host:port`, `[ipv6]:port` or `*.suffix:port`, with `*` as the port for every
   * port. An entry without a port is refused by `parseWebhookUrlPolicy` and matches nothing here.
   */
  allowHosts: readonly string[]
  /** Skip the address checks entirely (a gateway whose receivers are all on a private network). */
  allowPrivate: boolean
}

export const DEFAULT_URL_POLICY: WebhookUrlPolicy = { allowHosts: [], allowPrivate: false }

export const WEBHOOK_URL_MAX_LENGTH = 2048

export type UrlCheck = { ok: true; url: URL; allowListed: boolean } | { ok: false; reason: string }

const V4_BLOCKS: Array<[number, number, number, number, number, string]> = [
  // a, b, c, d, prefix length, name
  [0, 0, 0, 0, 8, 'this network (0.0.0.0/8)'],
  [10, 0, 0, 0, 8, 'private (10.0.0.0/8)'],
  [100, 64, 0, 0, 10, 'carrier-grade NAT (100.64.0.0/10)'],
  [127, 0, 0, 0, 8, 'loopback (127.0.0.0/8)'],
  [169, 254, 0, 0, 16, 'link-local (169.254.0.0/16)'],
  [172, 16, 0, 0, 12, 'private (172.16.0.0/12)'],
  [192, 0, 0, 0, 24, 'IETF protocol assignments (192.0.0.0/24)'],
  [192, 0, 2, 0, 24, 'documentation (192.0.2.0/24)'],
  [192, 88, 99, 0, 24, '6to4 relay (192.88.99.0/24)'],
  [192, 168, 0, 0, 16, 'private (192.168.0.0/16)'],
  [198, 18, 0, 0, 15, 'benchmarking (198.18.0.0/15)'],
  [198, 51, 100, 0, 24, 'documentation (198.51.100.0/24)'],
  [203, 0, 113, 0, 24, 'documentation (203.0.113.0/24)'],
  [224, 0, 0, 0, 4, 'multicast (224.0.0.0/4)'],
  [240, 0, 0, 0, 4, 'reserved (240.0.0.0/4, broadcast)'],
]

function v4Reason(b: number[]): string | null {
  const n = ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!
  for (const [a, bb, c, d, len, name] of V4_BLOCKS) {
    const net = ((a << 24) >>> 0) + (bb << 16) + (c << 8) + d
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0
    if (((n & mask) >>> 0) === net) return name
  }
  return null
}

function v6Reason(g: number[]): string | null {
  const zeroUpTo = (i: number) => g.slice(0, i).every((x) => x === 0)
  const v4 = (hi: number, lo: number) => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]
  if (g.every((x) => x === 0)) return 'unspecified (::)'
  if (zeroUpTo(7) && g[7] === 1) return 'loopback (::1)'
  if (zeroUpTo(5) && g[5] === 0xffff) {
    const r = v4Reason(v4(g[6]!, g[7]!))
    return r ? `IPv4-mapped ${r}` : null
  }
  // IPv4-translated (::ffff:0:0:0/96, RFC 6145/7915): what a stateless translator (SIIT) turns into the IPv4 address.
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) {
    const r = v4Reason(v4(g[6]!, g[7]!))
    return r ? `IPv4-translated ${r}` : null
  }
  if (zeroUpTo(6)) {
    const r = v4Reason(v4(g[6]!, g[7]!))
    return r ? `IPv4-compatible ${r}` : 'IPv4-compatible (::/96, deprecated)'
  }
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0) {
    const r = v4Reason(v4(g[6]!, g[7]!))
    return r ? `NAT64 ${r}` : null
  }
  // The local-use translation prefix (RFC 8215) leads into the operator's own network, whatever address it embeds.
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return 'local-use NAT64 (64:ff9b:1::/48)'
  if (g[0] === 0x2002) {
    const r = v4Reason(v4(g[1]!, g[2]!))
    return r ? `6to4 ${r}` : null
  }
  if (g[0] === 0x2001 && g[1] === 0) return 'Teredo (2001::/32)'
  if (g[0] === 0x2001 && g[1] === 2 && g[2] === 0) return 'benchmarking (2001:2::/48)'
  if (g[0] === 0x2001 && g[1] === 0xdb8) return 'documentation (2001:db8::/32)'
  if (g[0] === 0x3fff && (g[1]! & 0xf000) === 0) return 'documentation (3fff::/20)'
  if (g[0] === 0x100 && g[1] === 0 && g[2] === 0 && g[3] === 0) return 'discard (100::/64)'
  if (g[0] === 0x100 && g[1] === 0 && g[2] === 0 && g[3] === 1) return 'dummy prefix (100:0:0:1::/64)'
  if (g[0] === 0x5f00) return 'SRv6 segment identifiers (5f00::/16)'
  if ((g[0]! & 0xfe00) === 0xfc00) return 'unique local (fc00::/7)'
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local (fe80::/10)'
  if ((g[0]! & 0xffc0) === 0xfec0) return 'site-local (fec0::/10)'
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast (ff00::/8)'
  return null
}

/** Whether `text` is an IPv4 or IPv6 literal (brackets allowed). */
export function isIpLiteral(text: string): boolean {
  return parseIPv4(text) !== null || parseIPv6(text) !== null
}

/**
 * Why an address must not be called (`'loopback (127.0.0.0/8)'` …), or null for a public address. Anything that
 * does not parse as an address is refused too.
 * @example addressRefusal('10.1.2.3') // 'private (10.0.0.0/8)'
 */
export function addressRefusal(address: string): string | null {
  const v4 = parseIPv4(address)
  if (v4) return v4Reason(v4)
  const v6 = parseIPv6(address)
  if (v6) return v6Reason(v6)
  return `not an IP address: ${address.slice(0, 60)}`
}

/** Names that only ever mean "this machine" or "the local network" (RFC 6761, 6762, cloud metadata). */
function localNameReason(host: string): string | null {
  const h = host.toLowerCase().replace(/\.$/, '')
  if (h === 'localhost' || h.endsWith('.localhost')) return 'a loopback name (localhost)'
  if (h.endsWith('.local')) return 'a link-local mDNS name (.local)'
  if (h.endsWith('.internal') || h === 'metadata' || h.endsWith('.lan') || h.endsWith('.home.arpa') || h.endsWith('.intranet')) {
    return 'a private network name'
  }
  // A name without a dot is completed by the resolver's search domains: it names an internal host.
  if (!h.includes('.')) return 'a single-label name (completed by local search domains)'
  return null
}

/** One parsed `WEBHOOK_ALLOW_HOSTS` entry. */
export type AllowEntry = { host: string; suffix: boolean; port: number | '*' }

/**
 * Parses one allow-list entry: `host:port`, `[ipv6]:port` or `*.suffix:port`, `*` as the port meaning every port.
 * The port is required: an entry for a receiver on port 8080 must not also open the same host's database, admin
 * interface or metadata service on its other ports. Host names and addresses are compared in the URL parser's
 * canonical form (lower case, IPv4 dotted, IPv6 compressed in brackets).
 * @example parseAllowEntry('receiver.lan:8080') // { host: 'receiver.lan', suffix: false, port: 8080 }
 */
export function parseAllowEntry(entry: string): AllowEntry | { error: string } {
  const e = entry.trim().toLowerCase()
  const m = /^(\[[0-9a-f:.]+\]|[^\s:/@[\]]+):(\d{1,5}|\*)$/.exec(e)
  if (!m) {
    if (/:(\d+|\*)$/.test(e) && !/^[0-9a-f:.]+$/.test(e)) return { error: `WEBHOOK_ALLOW_HOSTS entry "${entry.trim()}" is not a host name or address` }
    // A bare IPv6 address needs its brackets to tell the port apart.
    const host = /^[0-9a-f:.]+$/.test(e) && e.split(':').length > 2 ? `[${e}]` : e
    return { error: `WEBHOOK_ALLOW_HOSTS entry "${entry.trim()}" needs a port: ${host}:8080 allows that port only, ${host}:* every port` }
  }
  const port = m[2] === '*' ? '*' : Number(m[2])
  if (port !== '*' && (port < 1 || port > 65535)) return { error: `WEBHOOK_ALLOW_HOSTS entry "${entry.trim()}": the port must be 1-65535 or *` }
  const suffix = m[1]!.startsWith('*.')
  const name = suffix ? m[1]!.slice(2) : m[1]!
  let host: string
  try {
    host = new URL(`http://${name}/`).hostname
  } catch {
    return { error: `WEBHOOK_ALLOW_HOSTS entry "${entry.trim()}" is not a host name or address` }
  }
  return { host, suffix, port }
}

/** Whether `url`'s host and port are named in the allow-list. */
export function hostAllowed(url: URL, policy: WebhookUrlPolicy): boolean {
  const host = url.hostname.toLowerCase()
  const port = Number(url.port || (url.protocol === 'https:' ? '443' : '80'))
  return policy.allowHosts.some((raw) => {
    const entry = parseAllowEntry(raw)
    if ('error' in entry) return false
    if (entry.port !== '*' && entry.port !== port) return false
    return entry.suffix ? host.endsWith(`.${entry.host}`) : host === entry.host
  })
}

/**
 * Checks a webhook URL without DNS: http(s) only, no credentials, no fragment, at most 2048 characters, and (unless
 * allow-listed) no literal non-public address and no local-only name. The runner adds the resolved-address check.
 * @example const r = checkWebhookUrl('https://example.com/hook', policy); if (!r.ok) throw new Error(r.reason)
 */
export function checkWebhookUrl(raw: string, policy: WebhookUrlPolicy = DEFAULT_URL_POLICY): UrlCheck {
  if (raw.length > WEBHOOK_URL_MAX_LENGTH) return { ok: false, reason: `must be at most ${WEBHOOK_URL_MAX_LENGTH} characters` }
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point of this check
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) return { ok: false, reason: 'must not contain spaces or control characters' }
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, reason: 'must be an absolute http:// or https:// URL, e.g. "https://example.com/wa-events"' }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: `must use http or https (got ${url.protocol.replace(/:$/, '')})` }
  if (url.username || url.password) return { ok: false, reason: 'must not carry a user name or password; authenticate the calls with the signature' }
  if (url.hash) return { ok: false, reason: 'must not have a #fragment' }
  if (!url.hostname) return { ok: false, reason: 'must name a host' }
  const allowListed = hostAllowed(url, policy)
  if (allowListed || policy.allowPrivate) return { ok: true, url, allowListed }
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIpLiteral(host)) {
    const why = addressRefusal(host)
    if (why) return { ok: false, reason: `targets a non-public address, ${why}; add the host to WEBHOOK_ALLOW_HOSTS for a self-hosted receiver` }
    return { ok: true, url, allowListed }
  }
  const why = localNameReason(host)
  if (why) return { ok: false, reason: `targets ${why}; add the host to WEBHOOK_ALLOW_HOSTS for a self-hosted receiver` }
  return { ok: true, url, allowListed }
}

/** Parses `WEBHOOK_ALLOW_HOSTS` / `WEBHOOK_ALLOW_PRIVATE` (shared by the API's and the runner's config). */
export function parseWebhookUrlPolicy(allowHosts: string | undefined, allowPrivate: string | undefined): WebhookUrlPolicy {
  const hosts = (allowHosts ?? '').split(',').map((h) => h.trim()).filter(Boolean)
  for (const h of hosts) {
    const entry = parseAllowEntry(h)
    if ('error' in entry) throw new Error(entry.error)
  }
  const flag = (allowPrivate ?? '').trim().toLowerCase()
  if (flag && !['0', '1', 'true', 'false', 'yes', 'no', 'on', 'off'].includes(flag)) {
    throw new Error(`WEBHOOK_ALLOW_PRIVATE must be 1 or 0 (got "${allowPrivate}")`)
  }
  return { allowHosts: hosts, allowPrivate: ['1', 'true', 'yes', 'on'].includes(flag) }
}
