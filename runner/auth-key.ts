import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { makePrivateDir } from '../db/data-dir.js'
import { join } from 'node:path'
import { ConfigError } from '../db/shared/settings.js'

/**
 * `AUTH_STATE_KEY`: the 32-byte AES-256-GCM key that encrypts every Baileys credential and Signal key
 * in `auth_keys`. Written as 64 hex characters. Required with MySQL/PostgreSQL (the database may be
 * shared, backed up or replicated; the key must live elsewhere). In embedded mode it is generated once
 * and kept next to the data, in `DATA_DIR/auth-state.key` (mode 0600), unless given explicitly.
 */

export const AUTH_KEY_FILE = 'auth-state.key'

/** Parses 64 hex characters into 32 bytes; the message never echoes the value. */
export function parseAuthStateKey(raw: string, source = 'AUTH_STATE_KEY'): Uint8Array {
  const value = raw.trim()
  if (!/^[0-9a-fA-F]{64}$/.test(value)) {
    throw new ConfigError(
      `${source} must be exactly 64 hexadecimal characters (32 random bytes), got ${value.length} characters` +
        `${/[^0-9a-fA-F]/.test(value) ? ' including non-hex ones' : ''}; generate one with: openssl rand -hex 32`,
    )
  }
  return new Uint8Array(Buffer.from(value, 'hex'))
}

export interface ResolveAuthKeyOptions {
  /** The `AUTH_STATE_KEY` value, if set. */
  authStateKey?: string
  engine: 'mysql' | 'postgres' | 'pglite'
  /** Where the embedded database lives (`DATA_DIR`). */
  dataDir: string
}

/**
 * The key for this process: the explicit one, or (embedded mode only) the one under `dataDir`,
 * generated on first start.
 */
export function resolveAuthStateKey(options: ResolveAuthKeyOptions): { key: Uint8Array; source: 'env' | 'file' | 'generated' } {
  if (options.authStateKey?.trim()) return { key: parseAuthStateKey(options.authStateKey), source: 'env' }
  if (options.engine !== 'pglite') {
    throw new ConfigError(
      'AUTH_STATE_KEY is required with MySQL/PostgreSQL: it encrypts the WhatsApp credentials stored in the database. ' +
        'Generate one with `openssl rand -hex 32` and keep it outside the database.',
    )
  }
  const path = join(options.dataDir, AUTH_KEY_FILE)
  if (existsSync(path)) return { key: parseAuthStateKey(readFileSync(path, 'utf8'), path), source: 'file' }
  makePrivateDir(options.dataDir)
  const hex = randomBytes(32).toString('hex')
  // 'wx': never overwrite a key another process wrote a moment ago (that would orphan its ciphertexts).
  try {
    writeFileSync(path, `${hex}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      return { key: parseAuthStateKey(readFileSync(path, 'utf8'), path), source: 'file' }
    }
    throw err
  }
  try {
    chmodSync(path, 0o600)
  } catch {
    // best effort on filesystems without modes
  }
  return { key: parseAuthStateKey(hex), source: 'generated' }
}
