import { createDecipheriv, createECDH, createHmac, hkdfSync } from 'node:crypto'
import { PROXY_SEAL_INFO } from '../db/shared/proxy.js'

/**
 * The runners' key for sealed proxy URLs (runner/README.md, Proxy per number). The P-256 private key is derived from
 * AUTH_STATE_KEY, so every runner of one database holds the same one and nothing new has to be kept; only its public
 * half goes to the database (`runner_keys`), where the API seals with it (db/shared/proxy.ts) without ever holding
 * anything that opens a sealed URL.
 */
export interface ProxyKey {
  /** Base64url of the raw uncompressed public point, as the API imports it. */
  readonly publicKey: string
  /** The URL sealed for `session`; throws when it was sealed for another key or another session. */
  open(sealed: string, session: string): string
}

const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')

/** Derives the key pair from AUTH_STATE_KEY (HMAC with a fixed label, reduced into [1, n−1]). */
export function deriveProxyKey(authStateKey: Uint8Array): ProxyKey {
  const seed = createHmac('sha512', authStateKey).update('wa-gateway proxy key v1').digest()
  // 512 bits reduced mod n−1: the bias is 2^-256, and the result is never 0.
  const d = (BigInt(`0x${seed.toString('hex')}`) % (P256_ORDER - 1n)) + 1n
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(Buffer.from(d.toString(16).padStart(64, '0'), 'hex'))
  const publicKey = ecdh.getPublicKey().toString('base64')
  return {
    publicKey,
    open(sealed, session) {
      const [v, eph, iv, ct] = sealed.split('.')
      if (v !== 'v1' || !eph || !iv || !ct) throw new Error('not a sealed proxy URL')
      const shared = ecdh.computeSecret(Buffer.from(eph, 'base64'))
      const key = Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), PROXY_SEAL_INFO, 32))
      const body = Buffer.from(ct, 'base64')
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'))
      decipher.setAAD(Buffer.from(session))
      decipher.setAuthTag(body.subarray(body.length - 16))
      return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8')
    },
  }
}
