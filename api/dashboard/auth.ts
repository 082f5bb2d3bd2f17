/**
 * Dashboard sign-in tokens and CSRF tokens, with Web Crypto only (the dashboard runs on Workers too).
 *
 * The session cookie is `v1.<payload>.<mac>`: `payload` is base64url JSON `{ exp, fp }` and `mac` is
 * HMAC-SHA256 over `v1.<payload>`. `fp` is an HMAC of the API key that signed in (never the key, and
 * not a plain hash either, so a leaked cookie does not allow an offline guess of a weak key). A key
 * that is rotated away no longer matches any fingerprint, which ends every session it opened.
 *
 * The CSRF token is an HMAC of the cookie value: one per sign-in, no server-side storage.
 */

const encoder = new TextEncoder()

function b64url(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)
  let bin = ''
  for (const b of u8) bin += String.fromCharCode(b)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function fromB64url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null
  try {
    const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4))
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0))
  } catch {
    return null
  }
}

export interface DashboardAuthOptions {
  /** Every API key currently accepted; any of them signs in. */
  apiKeys: readonly string[]
  /**
   * `DASHBOARD_COOKIE_SECRET`. Without it the secret is derived from the API keys with HKDF, so
   * changing the keys also signs everyone out.
   */
  cookieSecret?: string
  /** How long a sign-in lasts (default 12 h). */
  sessionTtlMs?: number
  /** Milliseconds since the epoch (tests move it). */
  clock?: () => number
}

export interface DashboardSession {
  /** Expiry, ms since the epoch. */
  exp: number
  /** Fingerprint of the key that signed in. */
  fp: string
}

export interface DashboardAuth {
  readonly sessionTtlMs: number
  /** The key that matches `candidate`, compared in constant time, or null. */
  matchKey(candidate: string): Promise<string | null>
  /** A fresh cookie value for a sign-in with `key` (which must be one of the accepted keys). */
  issue(key: string): Promise<{ value: string; expires: Date }>
  /** The session a cookie value stands for, or null when forged, expired or from a rotated-away key. */
  verify(value: string | undefined): Promise<DashboardSession | null>
  /** The CSRF token that goes with a cookie value. */
  csrfToken(cookieValue: string): Promise<string>
  /** Whether `token` is the CSRF token of `cookieValue` (constant time). */
  checkCsrf(cookieValue: string, token: string | undefined): Promise<boolean>
}

/**
 * Builds the signer. Throws at construction if there is no key to sign in with.
 * @example const auth = createDashboardAuth({ apiKeys: ['s3cret'] }); const { value } = await auth.issue('s3cret')
 */
export function createDashboardAuth({
  apiKeys,
  cookieSecret,
  sessionTtlMs = 12 * 60 * 60 * 1000,
  clock = Date.now,
}: DashboardAuthOptions): DashboardAuth {
  const keys = apiKeys.filter((k) => k.length > 0)
  if (keys.length === 0) throw new Error('dashboard: at least one API key is required to sign in')
  if (!(sessionTtlMs > 0)) throw new Error('dashboard: sessionTtlMs must be positive')

  // One HMAC key for cookies, fingerprints and CSRF, each use under its own label.
  const macKey: Promise<CryptoKey> = (async () => {
    const ikm = cookieSecret && cookieSecret.length > 0 ? cookieSecret : [...keys].sort().join('\n')
    const base = await crypto.subtle.importKey('raw', encoder.encode(ikm), 'HKDF', false, ['deriveBits'])
    const bits = await crypto.subtle.deriveBits(
      { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode('wa-gateway dashboard v1'), info: encoder.encode('cookie hmac') },
      base,
      256,
    )
    return crypto.subtle.importKey('raw', bits, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
  })()

  const mac = async (label: string, text: string) =>
    new Uint8Array(await crypto.subtle.sign('HMAC', await macKey, encoder.encode(`${label}\u0000${text}`)))
  const macVerify = async (label: string, text: string, sig: Uint8Array<ArrayBuffer>) =>
    crypto.subtle.verify('HMAC', await macKey, sig, encoder.encode(`${label}\u0000${text}`))

  const fingerprint = async (key: string) => b64url((await mac('key fingerprint', key)).slice(0, 16))
  const fingerprints: Promise<Map<string, string>> = Promise.all(keys.map(async (k) => [await fingerprint(k), k] as const)).then(
    (pairs) => new Map(pairs),
  )

  return {
    sessionTtlMs,

    async matchKey(candidate) {
      // Comparing fingerprints (HMACs) rather than the keys themselves takes the same time whatever
      // prefix of a key the candidate shares.
      const fp = await fingerprint(candidate)
      let found: string | null = null
      for (const [known, key] of await fingerprints) {
        let diff = known.length ^ fp.length
        for (let i = 0; i < known.length; i++) diff |= known.charCodeAt(i) ^ (fp.charCodeAt(i) | 0)
        if (diff === 0) found = key
      }
      return found
    },

    async issue(key) {
      const exp = clock() + sessionTtlMs
      const payload = b64url(encoder.encode(JSON.stringify({ exp, fp: await fingerprint(key) } satisfies DashboardSession)))
      const signed = `v1.${payload}`
      return { value: `${signed}.${b64url(await mac('session cookie', signed))}`, expires: new Date(exp) }
    },

    async verify(value) {
      if (!value || value.length > 512) return null
      const parts = value.split('.')
      if (parts.length !== 3 || parts[0] !== 'v1') return null
      const sig = fromB64url(parts[2]!)
      if (!sig || !(await macVerify('session cookie', `v1.${parts[1]}`, sig))) return null
      const json = fromB64url(parts[1]!)
      if (!json) return null
      let session: DashboardSession
      try {
        session = JSON.parse(new TextDecoder().decode(json)) as DashboardSession
      } catch {
        return null
      }
      if (typeof session.exp !== 'number' || typeof session.fp !== 'string') return null
      if (session.exp <= clock()) return null
      if (!(await fingerprints).has(session.fp)) return null
      return session
    },

    async csrfToken(cookieValue) {
      return b64url(await mac('csrf', cookieValue))
    },

    async checkCsrf(cookieValue, token) {
      if (!token) return false
      const sig = fromB64url(token)
      return sig !== null && sig.length === 32 && macVerify('csrf', cookieValue, sig)
    },
  }
}
