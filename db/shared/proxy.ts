/**
 * A session's proxy URL as the API takes it (runner/README.md, Proxy per number): checked, masked for display, and
 * sealed for the runners. Web-standard (WebCrypto), so the Workers bundle carries it; the API never holds the key that
 * opens a sealed URL (runner/proxy-key.ts derives it from AUTH_STATE_KEY and publishes only its public half).
 *
 * Sealing: ECDH P-256 between a fresh key pair and the runners' public key, HKDF-SHA-256 of the shared secret, then
 * AES-256-GCM with the session name as additional data (a sealed value copied to another session does not open).
 * Stored as `v1.<ephemeral public key>.<iv>.<ciphertext>`, each part base64. Messages are short on purpose: this
 * module is in the size-limited Workers bundle.
 */

/** The HKDF info both sides derive the AES key with. */
export const PROXY_SEAL_INFO = 'wa-gateway proxy v1'

/** Longest proxy URL accepted. */
export const PROXY_MAX_LENGTH = 2048

/**
 * The URL, checked: http, https, socks5 or socks5h; a host; a port 1–65535; nothing after it but "/". Throws an Error
 * whose message says what is wrong without repeating the URL (it may hold a password).
 */
export function checkProxyUrl(text: string): URL {
  let u: URL | undefined
  try {
    u = new URL(text)
  } catch {
    // reported below
  }
  if (!u || text.length > PROXY_MAX_LENGTH || !/^(https?|socks5h?):$/.test(u.protocol) || !u.hostname || u.port === '0' || /[?#]/.test(text) || u.pathname.length > 1) {
    throw new Error('must be http(s):// or socks5(h)://[user:pass@]host:port, no path, ≤ 2048 characters')
  }
  return u
}

/** The URL as shown: `scheme://user:***@host:port` (no password, no trailing slash). */
export function maskProxyUrl(u: URL): string {
  return `${u.protocol}//${u.username ? `${u.username}${u.password ? ':***' : ''}@` : ''}${u.host}`
}

const b64 = (b: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(b)))

/** Seals `url` for the holder of the private key of `publicKey` (base64 of a raw uncompressed P-256 point). */
export async function sealProxyUrl(url: string, publicKey: string, session: string): Promise<string> {
  const s = crypto.subtle
  const enc = new TextEncoder()
  const ec = { name: 'ECDH', namedCurve: 'P-256' }
  const peer = await s.importKey('raw', Uint8Array.from(atob(publicKey), (c) => c.charCodeAt(0)), ec, false, [])
  const mine = await s.generateKey(ec, true, ['deriveBits'])
  const hkdf = await s.importKey('raw', await s.deriveBits({ name: 'ECDH', public: peer }, mine.privateKey, 256), 'HKDF', false, ['deriveKey'])
  const aes = await s.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: enc.encode(PROXY_SEAL_INFO) }, hkdf, { name: 'AES-GCM', length: 256 }, false, ['encrypt'])
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const ct = await s.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(session) }, aes, enc.encode(url))
  return ['v1', b64(await s.exportKey('raw', mine.publicKey)), b64(iv), b64(ct)].join('.')
}
