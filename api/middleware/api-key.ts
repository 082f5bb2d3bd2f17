import type { MiddlewareHandler } from 'hono'
import { errorBody } from '../errors.js'

export interface ApiKeyOptions {
  /** Every accepted key (API_SECRET may list several during a rotation). */
  keys: readonly string[]
  headerName?: string
}

const encoder = new TextEncoder()

async function digest(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(value)))
}

/**
 * True when `candidate` equals one of `keys`, in time that depends on neither: both sides are
 * hashed to 32 bytes (hiding lengths) and every key is compared in full, without early exit.
 */
export async function matchesAnyKey(candidate: string, keyDigests: readonly Uint8Array[]): Promise<boolean> {
  const d = await digest(candidate)
  let matched = 0
  for (const k of keyDigests) {
    let diff = 0
    for (let i = 0; i < 32; i++) diff |= d[i]! ^ k[i]!
    matched |= diff === 0 ? 1 : 0
  }
  return matched === 1
}

/**
 * Refuses a request without a valid `X-API-Key` with 401 `{"success":false,"error":"Unauthorized"}`,
 * the guide's answer. The key is never logged.
 * @example app.use('/api/*', apiKey({ keys: config.apiKeys }))
 */
export const apiKey = ({ keys, headerName = 'X-API-Key' }: ApiKeyOptions): MiddlewareHandler => {
  if (keys.length === 0) throw new Error('apiKey needs at least one key')
  const digests = Promise.all(keys.map(digest))
  return async function apiKey(c, next) {
    const given = c.req.header(headerName)
    if (!given || !(await matchesAnyKey(given, await digests))) {
      c.header('WWW-Authenticate', `ApiKey header="${headerName}"`)
      return c.json(errorBody('unauthorized', 'Unauthorized'), 401)
    }
    await next()
  }
}
