/**
 * Which address a dashboard request comes from, for the sign-in throttle. Headers such as X-Forwarded-For are
 * written by whoever sends the request, so they are believed only when `TRUST_PROXY` says who wrote them:
 *
 * - unset or `none`: the TCP peer's address (the Node entry passes it in). Direct clients each get their own bucket.
 * - `cloudflare`: `CF-Connecting-IP`, which Cloudflare sets itself (the Workers entry always uses it).
 * - a CIDR list (`127.0.0.1/32,10.0.0.0/8`): when the peer is one of these proxies, X-Forwarded-For is read from
 *   the right, skipping the listed proxies, and the first address that is not one is the client (X-Real-IP when
 *   there is no X-Forwarded-For).
 *
 * The answer is always a normalised address (IPv6 grouped by its /64, which one subscriber usually holds whole), so
 * a throttle keyed by it holds a short string whatever the headers carried.
 */
import type { Context } from 'hono'
import { inIpRange, parseIpAddress, parseIpRange, type IpAddress, type IpRange } from '../../db/shared/ip-address.js'
import { ConfigError } from '../../db/shared/settings.js'

type Address = IpAddress

export type TrustProxy =
  | { kind: 'none' }
  | { kind: 'cloudflare' }
  | { kind: 'proxies'; ranges: IpRange[] }

/** The peer's address as the runtime reports it (Node: the socket's), or undefined where there is none. */
export type SocketAddress = (c: Context) => string | undefined

/**
 * Reads `TRUST_PROXY`. Throws `ConfigError` naming the bad entry.
 * @example parseTrustProxy('127.0.0.1/32, ::1/128')
 */
export function parseTrustProxy(value: string | undefined): TrustProxy {
  const text = value?.trim() ?? ''
  if (text === '' || text.toLowerCase() === 'none') return { kind: 'none' }
  if (text.toLowerCase() === 'cloudflare') return { kind: 'cloudflare' }
  const ranges: IpRange[] = []
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const range = parseIpRange(item)
    if (!range) {
      throw new ConfigError(
        `TRUST_PROXY must be "none", "cloudflare" or a comma-separated list of proxy addresses or CIDR ranges such as 127.0.0.1/32,10.0.0.0/8 (got "${item}")`,
      )
    }
    ranges.push(range)
  }
  if (ranges.length === 0) throw new ConfigError('TRUST_PROXY lists no proxy address')
  return { kind: 'proxies', ranges }
}

/** A literal IPv4 (four decimal parts) or IPv6 address, IPv4-mapped IPv6 turned into IPv4; otherwise null. */
function parseAddress(text: string | undefined): Address | null {
  if (!text || text.length > 64) return null
  return parseIpAddress(text.trim())
}

/** The throttle's key for an address: IPv4 as is, IPv6 as its /64 prefix. */
export function addressKey(address: Address): string {
  if (address.kind === 'ipv4') return address.parts.join('.')
  return `${address.parts.slice(0, 4).map((p) => p.toString(16)).join(':')}::/64`
}

/** `addressKey` of a textual address, or null when it is not one. */
export function normalizeAddress(text: string | undefined): string | null {
  const a = parseAddress(text)
  return a ? addressKey(a) : null
}

function trusted(address: Address, ranges: IpRange[]): boolean {
  return ranges.some((range) => inIpRange(address, range))
}

/**
 * The request's client address, normalised, or `unknown` when the runtime gives no peer address and no trusted
 * header names one (then all such requests share one throttle bucket).
 * @example const addressOf = clientAddressResolver({ trustProxy: { kind: 'none' }, socketAddress }); addressOf(c)
 */
export function clientAddressResolver({ trustProxy, socketAddress }: { trustProxy: TrustProxy; socketAddress?: SocketAddress }): (c: Context) => string {
  const peerOf = (c: Context): Address | null => {
    try {
      return parseAddress(socketAddress?.(c))
    } catch {
      return null
    }
  }
  return (c) => {
    const peer = peerOf(c)
    const fallback = peer ? addressKey(peer) : 'unknown'
    if (trustProxy.kind === 'none') return fallback
    if (trustProxy.kind === 'cloudflare') return normalizeAddress(c.req.header('cf-connecting-ip')) ?? fallback
    if (!peer || !trusted(peer, trustProxy.ranges)) return fallback
    const forwarded = c.req.header('x-forwarded-for')
    if (forwarded === undefined) return normalizeAddress(c.req.header('x-real-ip')) ?? fallback
    // From the right: each hop appends the address it received from; the first untrusted one is the client.
    let client: Address = peer
    for (const hop of forwarded.split(',').reverse().slice(0, 32)) {
      const a = parseAddress(hop)
      if (!a) break
      client = a
      if (!trusted(a, trustProxy.ranges)) break
    }
    return addressKey(client)
  }
}
