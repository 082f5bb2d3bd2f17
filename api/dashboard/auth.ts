/**
 * Dashboard sign-in sessions, with Web Crypto only (the dashboard runs on Workers too).
 *
 * A sign-in creates a row in `dashboard_sessions` (db/queries/dashboard.ts) under a random 256-bit session id; the
 * cookie carries that id, signed with Hono's `setSignedCookie`. Every dashboard request looks the row up, so
 * signing out (the row is deleted) ends the session at once, and so does a key rotation: the row holds an HMAC
 * fingerprint of the key that signed in, and a row whose fingerprint matches none of the configured keys is refused
 * and deleted. The table keeps SHA-256 of the id, so a copy of it does not hand out live cookies.
 *
 * Everything is keyed by one secret: `DASHBOARD_COOKIE_SECRET` when set, otherwise a random value generated on the
 * first sign-in and kept in `gateway_secrets`. It is never derived from the API keys, so a leaked cookie (a random
 * id and a MAC) gives nothing to test API-key guesses against.
 *
 * The CSRF token is an HMAC of the session id: one per sign-in, no storage of its own.
 */
import type { Queryable } from '../../db/driver.js'
import {
  deleteDashboardSession, ensureGatewaySecret, findDashboardSession, insertDashboardSession, pruneDashboardSessions, readGatewaySecret,
} from '../../db/queries/dashboard.js'

const encoder = new TextEncoder()

/** The `gateway_secrets` row that keys the dashboard when DASHBOARD_COOKIE_SECRET is not set. */
export const DASHBOARD_SECRET_NAME = 'dashboard_cookie'

function b64url(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)
  let bin = ''
  for (const b of u8) bin += String.fromCharCode(b)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function randomB64url(bytes: number): string {
  return b64url(crypto.getRandomValues(new Uint8Array(bytes)))
}

function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ (b.charCodeAt(i) | 0)
  return diff === 0
}

async function hmacKey(raw: BufferSource): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
}

async function hmac(key: CryptoKey, text: string): Promise<string> {
  return b64url(await crypto.subtle.sign('HMAC', key, encoder.encode(text)))
}

/** The keys derived from one secret, each for one use. */
interface Keys {
  /** Raw bytes for Hono's signed cookie (it imports them itself). */
  cookie: Uint8Array<ArrayBuffer>
  fingerprint: CryptoKey
  csrf: CryptoKey
  /** Fingerprint → configured key. */
  fingerprints: Map<string, string>
}

async function deriveKeys(secret: string, apiKeys: readonly string[]): Promise<Keys> {
  const base = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveBits'])
  const derive = async (info: string) =>
    new Uint8Array(
      await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: encoder.encode('wa-gateway dashboard v2'), info: encoder.encode(info) }, base, 256),
    )
  const fingerprint = await hmacKey(await derive('key fingerprint'))
  const fingerprints = new Map(await Promise.all(apiKeys.map(async (k) => [await hmac(fingerprint, k), k] as const)))
  return { cookie: await derive('cookie signature'), fingerprint, csrf: await hmacKey(await derive('csrf')), fingerprints }
}

export interface DashboardAuthOptions {
  /** Every API key currently accepted; any of them signs in. */
  apiKeys: readonly string[]
  /** `DASHBOARD_COOKIE_SECRET`; without it the secret is a random one kept in the database. */
  cookieSecret?: string
  /** How long a sign-in lasts (default 12 h). */
  sessionTtlMs?: number
  /** Milliseconds since the epoch (tests move it). */
  clock?: () => number
}

export interface DashboardSession {
  /** The session id the cookie carries. */
  id: string
  expiresAt: Date
}

export interface DashboardAuth {
  readonly sessionTtlMs: number
  /** The key that matches `candidate`, compared in constant time, or null. */
  matchKey(candidate: string): Promise<string | null>
  /**
   * The bytes that sign the cookie. With `create`, the stored secret is generated if there is none yet (a sign-in);
   * without, null means no sign-in ever happened here, so no cookie can be valid.
   */
  cookieKey(db: Queryable, options?: { create?: boolean }): Promise<Uint8Array<ArrayBuffer> | null>
  /** Records a new session for `key` (one of the accepted keys) and prunes expired ones. */
  openSession(db: Queryable, key: string): Promise<DashboardSession>
  /** The live session with this id, or null (unknown, signed out, expired, or opened by a rotated-away key). */
  findSession(db: Queryable, id: string): Promise<DashboardSession | null>
  /** Sign-out: the id stops working at once. */
  endSession(db: Queryable, id: string): Promise<void>
  /** The CSRF token that goes with a session id. */
  csrfToken(db: Queryable, id: string): Promise<string>
  /** Whether `token` is the CSRF token of session `id` (constant time). */
  checkCsrf(db: Queryable, id: string, token: string | undefined): Promise<boolean>
}

/**
 * Builds the dashboard's session keeper. Throws at construction if there is no key to sign in with.
 * @example const auth = createDashboardAuth({ apiKeys: [key] }); const s = await auth.openSession(db, key)
 */
export function createDashboardAuth({
  apiKeys,
  cookieSecret,
  sessionTtlMs = 12 * 60 * 60 * 1000,
  clock = Date.now,
}: DashboardAuthOptions): DashboardAuth {
  const accepted = apiKeys.filter((k) => k.length > 0)
  if (accepted.length === 0) throw new Error('dashboard: at least one API key is required to sign in')
  if (!(sessionTtlMs > 0)) throw new Error('dashboard: sessionTtlMs must be positive')

  // Comparing HMACs under a key of this process only, rather than the keys themselves, takes the same time whatever
  // prefix of a key a guess shares. Nothing compared with it is stored, so it need not survive a restart.
  const compareKey = hmacKey(crypto.getRandomValues(new Uint8Array(32)))
  const compareTags = compareKey.then((k) => Promise.all(accepted.map(async (key) => [key, await hmac(k, key)] as const)))

  const fromSetting = cookieSecret ? deriveKeys(cookieSecret, accepted) : null
  // The resolved value only, never a pending promise: on Workers a promise begun in one request must not be awaited
  // by another. Concurrent first requests each read the row; they all read the same value.
  let stored: Keys | null = null

  async function keys(db: Queryable, create: boolean): Promise<Keys | null> {
    if (fromSetting) return fromSetting
    if (stored) return stored
    const secret = create
      ? await ensureGatewaySecret(db, DASHBOARD_SECRET_NAME, randomB64url(32))
      : await readGatewaySecret(db, DASHBOARD_SECRET_NAME)
    if (secret === null) return null
    stored = await deriveKeys(secret, accepted)
    return stored
  }

  const hashId = async (id: string) => b64url(await crypto.subtle.digest('SHA-256', encoder.encode(id)))

  return {
    sessionTtlMs,

    async matchKey(candidate) {
      const tag = await hmac(await compareKey, candidate)
      let found: string | null = null
      for (const [key, known] of await compareTags) if (sameText(known, tag)) found = key
      return found
    },

    async cookieKey(db, { create = false } = {}) {
      return (await keys(db, create))?.cookie ?? null
    },

    async openSession(db, key) {
      const k = (await keys(db, true))!
      const fingerprint = await hmac(k.fingerprint, key)
      if (!k.fingerprints.has(fingerprint)) throw new Error('dashboard: openSession needs one of the accepted keys')
      const now = clock()
      const id = randomB64url(32)
      const expiresAt = new Date(now + sessionTtlMs)
      // Rows only appear here, so pruning here keeps the table as small as the sessions that are still live.
      await pruneDashboardSessions(db, new Date(now))
      await insertDashboardSession(db, { id: await hashId(id), keyFingerprint: fingerprint, createdAt: new Date(now), expiresAt })
      return { id, expiresAt }
    },

    async findSession(db, id) {
      if (!/^[\w-]{43}$/.test(id)) return null
      const k = await keys(db, false)
      if (!k) return null
      const row = await findDashboardSession(db, await hashId(id))
      if (!row) return null
      if (row.expiresAt.getTime() <= clock() || !k.fingerprints.has(row.keyFingerprint)) {
        await deleteDashboardSession(db, row.id)
        return null
      }
      return { id, expiresAt: row.expiresAt }
    },

    async endSession(db, id) {
      await deleteDashboardSession(db, await hashId(id))
    },

    async csrfToken(db, id) {
      const k = await keys(db, false)
      if (!k) throw new Error('dashboard: no secret yet, so there is no session to protect')
      return hmac(k.csrf, id)
    },

    async checkCsrf(db, id, token) {
      if (!token || token.length > 100) return false
      const k = await keys(db, false)
      return k !== null && sameText(await hmac(k.csrf, id), token)
    },
  }
}
