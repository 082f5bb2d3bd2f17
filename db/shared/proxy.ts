/**
 * A session's proxy URL as the API takes it (runner/README.md, Proxy per number): checked, masked for display, and
 * sealed for the runners. Web-standard (WebCrypto), so the Workers bundle carries it; the API never holds the key that
 * opens a sealed URL (runner/proxy-key.ts derives it from AUTH_STATE_KEY and publishes only its public half).
 *
 * Sealing: ECDH P-256 between a fresh key pair and the runners' public key, HKDF-SHA-256 of the shared secret, then
 * AES-256-GCM with the session name as additional data (a sealed value copied to another session does not open).
 * Stored as `v1.<ephemeral public key>.<iv>.<ciphertext>`, each part base64url.
 */

/** The HKDF info both sides derive the AES key with. */
export const PROXY_SEAL_INFO = 'wa-gateway proxy v1'

/** Longest proxy URL accepted. */
export const PROXY_MAX_LENGTH = 2048

/**
 * The URL, checked: http, https, socks5 or socks5h; a host; a port 1–65535; nothing after it but "/". Throws an Error
 * whose message says what is wrong (never repeating the URL, which may hold a password).
 */
export function checkProxyUrl(text: string): URL {
  if (text.length > PROXY_MAX_LENGTH) throw new Error(`must be at most ${PROXY_MAX_LENGTH} characters`)
  let u: URL
  try {
    u = new URL(text)
  } catch {
    throw new Error('must be a URL such as socks5://user:pass@host:1080 or http://host:3128')
  }
  if (!/^(https?|socks5h?):$/.test(u.protocol)) throw new Error('the scheme must be http, https, socks5 or socks5h')
  if (!u.hostname) throw new Error('needs a host')
  if (u.port === '0') throw new Error('the port must be 1–65535')
  if ((u.pathname && u.pathname !== '/') || u.search || u.hash || /[?#]/.test(text)) {
    throw new Error('must not have a path, query or fragment')
  }
  return u
}

/** The URL as shown: `scheme://user:***@host:port` (no password, no trailing slash). */
export function maskProxyUrl(u: URL): string {
  const user = u.username ? `${u.username}${u.password ? ':***' : ''}@` : ''
  return `${u.protocol}//${user}${u.host}`
}

const b64 = (b: ArrayBuffer | Uint8Array) =>
  btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')

/** Seals `url` for the holder of the private key of `publicKey` (base64url of a raw uncompressed P-256 point). */
export async function sealProxyUrl(url: string, publicKey: string, session: string): Promise<string> {
  const s = crypto.subtle
  const raw = Uint8Array.from(atob(publicKey.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
  const ec = { name: 'ECDH', namedCurve: 'P-256' }
  const peer = await s.importKey('raw', raw, ec, false, [])
  const mine = await s.generateKey(ec, true, ['deriveBits'])
  const shared = await s.deriveBits({ name: 'ECDH', public: peer }, mine.privateKey, 256)
  const hkdf = await s.importKey('raw', shared, 'HKDF', false, ['deriveKey'])
  const enc = new TextEncoder()
  const aes = await s.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: enc.encode(PROXY_SEAL_INFO) },
    hkdf, { name: 'AES-GCM', length: 256 }, false, ['encrypt'],
  )
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const ct = await s.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(session) }, aes, enc.encode(url))
  return ['v1', b64(await s.exportKey('raw', mine.publicKey)), b64(iv), b64(ct)].join('.')
}
