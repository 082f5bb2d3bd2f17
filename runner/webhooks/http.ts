/**
 * One webhook call over node:http/https: a POST with a hard deadline, no redirects followed, and a `lookup` that
 * refuses non-public addresses at connect time. Checking the address the socket actually connects to (rather than a
 * separate resolution beforehand) is what defeats DNS rebinding: there is no second lookup to race.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { addressRefusal } from '../../db/shared/url-guard.js'

/** The name resolved to (or the URL named) an address the policy refuses: retrying will not help. */
export class AddressRefusedError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AddressRefusedError'
  }
}

/** `dns.lookup`'s shape, so tests can resolve made-up names. */
export type Resolver = (hostname: string, options: { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

export const systemResolver: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback)

/**
 * A `lookup` for net.connect that resolves with `resolver` and fails the connection when any address is refused
 * (`check`), or passes every address through when `check` is false (an allow-listed host).
 */
export function guardedLookup(resolver: Resolver, check: boolean): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    resolver(hostname, { all: true }, (err, addresses) => {
      if (err) return callback(err)
      if (!addresses.length) return callback(new Error(`${hostname} resolves to no address`))
      if (check) {
        for (const a of addresses) {
          const why = addressRefusal(a.address)
          if (why) {
            return callback(new AddressRefusedError(`${hostname} resolves to ${a.address}, ${why}; add the host to WEBHOOK_ALLOW_HOSTS for a self-hosted receiver`))
          }
        }
      }
      if (options?.all) callback(null, addresses)
      else callback(null, addresses[0]!.address, addresses[0]!.family)
    })
  }) as LookupFunction
}

export interface PostResult {
  status: number
  /** The reason phrase of the status line ("Internal Server Error"), '' when the receiver sent none. */
  statusText: string
  /** The start of the answer's body (for `last_error`, public receivers only). */
  snippet: string
  /** The address the request went to, as the socket saw it; null when unknown. */
  remoteAddress: string | null
  /** `Location` of a redirect (not followed). */
  location: string | null
}

export interface PostOptions {
  headers: Record<string, string>
  timeoutMs: number
  lookup: LookupFunction
  agents: { http: http.Agent; https: https.Agent }
  signal?: AbortSignal
}

const SNIPPET_BYTES = 512

/** POSTs `body` to `url`; resolves with the status (any), rejects on network errors and the deadline. */
export function postOnce(url: URL, body: string, options: PostOptions): Promise<PostResult> {
  const secure = url.protocol === 'https:'
  const request = secure ? https.request : http.request
  return new Promise<PostResult>((resolve, reject) => {
    let settled = false
    const finish = (fn: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      fn()
    }
    const req = request(url, {
      method: 'POST',
      headers: { ...options.headers, 'Content-Length': String(Buffer.byteLength(body)) },
      lookup: options.lookup,
      agent: secure ? options.agents.https : options.agents.http,
      ...(options.signal ? { signal: options.signal } : {}),
    }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      const remoteAddress = res.socket?.remoteAddress ?? null
      const done = () => finish(() => resolve({
        status: res.statusCode ?? 0,
        statusText: (res.statusMessage ?? '').slice(0, 100),
        remoteAddress,
        snippet: Buffer.concat(chunks).toString('utf8').slice(0, SNIPPET_BYTES),
        location: typeof res.headers.location === 'string' ? res.headers.location : null,
      }))
      res.on('data', (d: Buffer) => {
        if (size < SNIPPET_BYTES) chunks.push(d)
        size += d.length
        // The status is what counts: stop reading a large answer.
        if (size >= SNIPPET_BYTES) {
          done()
          res.destroy()
        }
      })
      res.on('end', done)
      res.on('error', (err) => finish(() => reject(err)))
      res.on('close', done)
    })
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs)
    req.on('error', (err) => finish(() => reject(err)))
    req.end(body)
  })
}
