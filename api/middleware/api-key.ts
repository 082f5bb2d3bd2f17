import type { MiddlewareHandler } from 'hono'
import { errorBody } from '../errors.js'

export interface ApiKeyOptions {
  /** Every accepted key (API_SECRET may list several during a rotation). */
  keys: readonly string[]
  headerName?: string
}

/** Accepted keys, prepared once for `matchesPreparedKey`. */
export interface PreparedKeys {
  /** Each key's character codes (keys are printable ASCII: api/config.ts refuses anything else). */
  keys: Uint8Array[]
  /** Every comparison walks this many characters, whatever the candidate: the longest key, at least 64. */
  width: number
}

export function prepareKeys(keys: readonly string[]): PreparedKeys {
  const codes = keys.map((k) => {
    if (!/^[\x20-\x7E]*$/.test(k)) throw new Error('API keys must be printable ASCII')
    return Uint8Array.from(k, (ch) => ch.charCodeAt(0))
  })
  return { keys: codes, width: Math.max(64, ...codes.map((b) => b.length)) }
}

/**
 * True when `candidate` equals one of the keys, in time that depends only on the configuration:
 * every key is compared over the same `width` characters, with no early exit on a mismatch or a
 * length difference. Synchronous and allocation-free, since it runs on every request: character
 * codes are compared directly (a header value is a byte string; any code above 0x7E differs from
 * every key character, so a non-ASCII candidate never matches).
 */
export function matchesPreparedKey(candidate: string, prepared: PreparedKeys): boolean {
  return matchingKeyIndex(candidate, prepared) >= 0
}

/**
 * Which key `candidate` is (its position in API_SECRET), or -1: every key is walked in full whichever matches, so
 * the time says nothing about which key matched either.
 */
export function matchingKeyIndex(candidate: string, prepared: PreparedKeys): number {
  const n = candidate.length
  let index = -1
  for (const [position, k] of prepared.keys.entries()) {
    // Length difference and content difference both land in `diff`.
    let diff = n ^ k.length
    for (let i = 0; i < prepared.width; i++) diff |= (i < n ? candidate.charCodeAt(i) : 0) ^ (k[i] ?? 0)
    if (diff === 0) index = position
  }
  return index
}

/**
 * Refuses a request without a valid `X-API-Key` with 401 `{"success":false,"error":"Unauthorized"}`,
 * the guide's answer. The key is never logged.
 * @example app.use('/api/*', apiKey({ keys: config.apiKeys }))
 */
export const apiKey = ({ keys, headerName = 'X-API-Key' }: ApiKeyOptions): MiddlewareHandler<{ Variables: { apiKeyId: string } }> => {
  if (keys.length === 0) throw new Error('apiKey needs at least one key')
  const prepared = prepareKeys(keys)
  return async function apiKey(c, next) {
    const given = c.req.header(headerName)
    const index = given ? matchingKeyIndex(given, prepared) : -1
    if (index < 0) {
      c.header('WWW-Authenticate', `ApiKey header="${headerName}"`)
      return c.json(errorBody('unauthorized', 'Unauthorized'), 401)
    }
    // Who made a change, for audit rows (contact_changes.actor): the key's position, never the key.
    c.set('apiKeyId', `api:key-${index + 1}`)
    await next()
  }
}
