import type { Db } from '../../db/driver.js'
import { createAuthCipher, createKeyCache, loadAuthState } from '../../runner/whatsapp/auth-state.js'

/** For tests that look for leaked keys: the key bytes a session's auth state holds, and how they look when printed. */

/** Every byte string of 16+ bytes in the session's auth state (creds, sessions, pre-keys, …), decrypted. */
export async function keyMaterialOf(db: Db, session: string, authKeyHexValue: string): Promise<Buffer[]> {
  const state = await loadAuthState({ db, session, cipher: createAuthCipher(Buffer.from(authKeyHexValue, 'hex')), cache: createKeyCache() })
  const rows = await db.query<{ type: string; key_id: string }>(
    db.dialect === 'mysql' ? 'SELECT type, key_id FROM auth_keys WHERE session = ?' : 'SELECT type, key_id FROM auth_keys WHERE session = $1',
    [session],
  )
  const values: unknown[] = [state.creds]
  for (const r of rows) {
    if (r.type === 'creds') continue
    values.push(await state.keys.get(r.type as 'session', [r.key_id]))
  }
  const found: Buffer[] = []
  const visit = (v: unknown, depth: number) => {
    if (depth > 12 || v === null || v === undefined) return
    if (v instanceof Uint8Array) {
      if (v.byteLength >= 16) found.push(Buffer.from(v))
      return
    }
    if (typeof v === 'string') {
      if (v.length >= 22 && /^[A-Za-z0-9+/]+={0,2}$/.test(v)) {
        const b = Buffer.from(v, 'base64')
        if (b.length >= 16) found.push(b)
      }
      return
    }
    if (typeof v === 'object') for (const x of Object.values(v)) visit(x, depth + 1)
  }
  for (const v of values) visit(v, 0)
  return found
}

/** The forms a key can take in printed text: base64 (padded or not), hex, and util.inspect's spaced hex. */
export function printedForms(b: Buffer): string[] {
  const spaced = [...b.subarray(0, 16)].map((x) => x.toString(16).padStart(2, '0')).join(' ')
  return [b.toString('base64').replace(/=+$/, ''), b.toString('base64url').replace(/=+$/, ''), b.toString('hex'), spaced]
}

