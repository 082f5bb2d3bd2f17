/**
 * IP address literals, parsed once for every part of the gateway that reads them: the webhook URL policy
 * (db/shared/url-guard.ts, which refuses private and special-purpose ranges) and the dashboard's client address
 * (api/dashboard/client-address.ts, which matches trusted proxies). Both run on Workers too, where every kilobyte of
 * the bundle counts, so this is a few functions rather than a general IP library. It lives in db/shared/ because
 * api/ and runner/ may both import it; it is not about data.
 */

/** Four bytes, or null. Decimal parts only (no octal, hex or shortened forms, which URL parsers disagree on). */
export function parseIPv4(text: string): number[] | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const out: number[] = []
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null
    const n = Number(p)
    if (n > 255) return null
    out.push(n)
  }
  return out
}

/** 8 groups of 16 bits, or null. Accepts `::` and a dotted IPv4 tail; a zone (`%eth0`) is refused. */
export function parseIPv6(text: string): number[] | null {
  let s = text
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1)
  if (s.includes('%') || !s.includes(':')) return null
  const lastColon = s.lastIndexOf(':')
  const maybeV4 = s.slice(lastColon + 1)
  if (maybeV4.includes('.')) {
    // A dotted IPv4 tail (::ffff:127.0.0.1) becomes its two hex groups.
    const v4 = parseIPv4(maybeV4)
    if (!v4) return null
    s = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`
  }
  const halves = s.split('::')
  if (halves.length > 2) return null
  const group = (g: string) => (g === '' ? [] : g.split(':'))
  const head = group(halves[0]!)
  const rest = halves.length === 2 ? group(halves[1]!) : []
  const fill = 8 - head.length - rest.length
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...rest]
  const out: number[] = []
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return null
    out.push(Number.parseInt(g, 16))
  }
  return out.length === 8 ? out : null
}

/** An address as its parts: four bytes for IPv4, eight 16-bit groups for IPv6. */
export type IpAddress = { kind: 'ipv4'; parts: number[] } | { kind: 'ipv6'; parts: number[] }

/** A literal IPv4 or IPv6 address (brackets allowed); IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes the IPv4 address. */
export function parseIpAddress(text: string): IpAddress | null {
  const v4 = parseIPv4(text)
  if (v4) return { kind: 'ipv4', parts: v4 }
  const v6 = parseIPv6(text)
  if (!v6) return null
  if (v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) {
    return { kind: 'ipv4', parts: [v6[6]! >> 8, v6[6]! & 0xff, v6[7]! >> 8, v6[7]! & 0xff] }
  }
  return { kind: 'ipv6', parts: v6 }
}

/** A network: an address and how many leading bits of it count. */
export interface IpRange {
  address: IpAddress
  bits: number
}

/** `a.b.c.d/n` or `v6::/n`; a bare address is its own /32 or /128. Null when either half is not valid. */
export function parseIpRange(text: string): IpRange | null {
  const slash = text.indexOf('/')
  const address = parseIpAddress(slash === -1 ? text : text.slice(0, slash))
  if (!address) return null
  const max = address.kind === 'ipv4' ? 32 : 128
  if (slash === -1) return { address, bits: max }
  const bitsText = text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return null
  // A mapped IPv6 range (::ffff:10.0.0.0/104) counts the bits of the IPv4 address it became.
  const bits = address.kind === 'ipv4' && text.slice(0, slash).includes(':') ? Number(bitsText) - 96 : Number(bitsText)
  return bits < 0 ? null : { address, bits }
}

/** Whether `address` lies in `range` (an IPv4 address is never in an IPv6 range, nor the other way round). */
export function inIpRange(address: IpAddress, range: IpRange): boolean {
  if (address.kind !== range.address.kind) return false
  const width = address.kind === 'ipv4' ? 8 : 16
  let left = range.bits
  for (let i = 0; i < address.parts.length && left > 0; i++, left -= width) {
    const take = Math.min(width, left)
    const mask = ((1 << take) - 1) << (width - take)
    if ((address.parts[i]! & mask) !== (range.address.parts[i]! & mask)) return false
  }
  return true
}
