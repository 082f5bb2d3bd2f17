import type { Context } from 'hono'
import { ApiError } from './errors.js'

/** Visible ASCII only, so a batch can suffix ` #<index>` (with a space) without colliding with a client key. */
const KEY_PATTERN = /^[\x21-\x7E]{1,200}$/

/**
 * The `Idempotency-Key` header, or null. A retry carrying the same key and the same request gets
 * the first answer's id and no second row; the same key with a different request is a 409.
 */
export function idempotencyKey(c: Context): string | null {
  const raw = c.req.header('Idempotency-Key')
  if (raw === undefined) return null
  const key = raw.trim()
  if (!KEY_PATTERN.test(key)) {
    throw new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1–200 visible ASCII characters without spaces, e.g. a UUID')
  }
  return key
}

/** The stored key of item `index` of a batch sent under `key`. */
export function batchItemKey(key: string, index: number): string {
  return `${key} #${index}`
}

const encoder = new TextEncoder()

export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
  let hex = ''
  for (const b of d) hex += b.toString(16).padStart(2, '0')
  return hex
}

/** Hash of the normalized request (not its raw bytes: `+961 1…` and `9611…` are the same request). */
export function requestHash(parts: readonly unknown[]): Promise<string> {
  return sha256Hex(JSON.stringify(parts))
}

export function idempotencyConflict(): ApiError {
  return new ApiError(
    409,
    'idempotency_conflict',
    'This Idempotency-Key was already used for a different request; use a new key for a new message',
  )
}
