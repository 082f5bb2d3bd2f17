import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { BufferJSON, initAuthCreds, proto } from '@whiskeysockets/baileys'
import type { AuthenticationCreds, SignalDataSet, SignalDataTypeMap, SignalKeyStore } from '@whiskeysockets/baileys'
import { LRUCache } from 'lru-cache'
import { DatabaseUnavailableError, type Db } from '../../db/driver.js'
import * as authKeys from '../../db/queries/auth-state.js'
import { LeaseLostError } from '../../db/queries/leases.js'

/**
 * Baileys auth state in the database (runner/README.md, Auth state): creds and every Signal key type as rows of
 * `auth_keys`, each value `JSON.stringify(v, BufferJSON.replacer)` then AES-256-GCM encrypted under
 * `AUTH_STATE_KEY`. The row's identity (session, type, key id) is the GCM additional data, so a
 * ciphertext moved to another row or session fails to decrypt instead of being trusted.
 *
 * Layout of a stored value: version byte 1 ‖ 12-byte IV ‖ ciphertext ‖ 16-byte tag.
 */

const VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16

export class AuthStateDecryptError extends Error {
  constructor(session: string, type: string) {
    super(
      `cannot decrypt stored WhatsApp auth state (session ${session}, ${type}): AUTH_STATE_KEY differs from the key ` +
        'that wrote it, or the row was altered. Restore the original key, or re-pair the number.',
    )
    this.name = 'AuthStateDecryptError'
  }
}

/** Symmetric encryption of auth values, bound to their row. */
export interface AuthCipher {
  encrypt(plain: Uint8Array, aad: string): Uint8Array
  decrypt(sealed: Uint8Array, aad: string): Uint8Array | null
}

export function createAuthCipher(key: Uint8Array): AuthCipher {
  if (key.byteLength !== 32) throw new Error('the auth state key must be 32 bytes')
  const k = Buffer.from(key)
  return {
    encrypt(plain, aad) {
      const iv = randomBytes(IV_BYTES)
      const c = createCipheriv('aes-256-gcm', k, iv)
      c.setAAD(Buffer.from(aad, 'utf8'))
      const body = Buffer.concat([c.update(plain), c.final()])
      return Buffer.concat([Buffer.of(VERSION), iv, body, c.getAuthTag()])
    },
    decrypt(sealed, aad) {
      const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
      if (buf.length < 1 + IV_BYTES + TAG_BYTES || buf[0] !== VERSION) return null
      try {
        const d = createDecipheriv('aes-256-gcm', k, buf.subarray(1, 1 + IV_BYTES))
        d.setAAD(Buffer.from(aad, 'utf8'))
        d.setAuthTag(buf.subarray(buf.length - TAG_BYTES))
        return Buffer.concat([d.update(buf.subarray(1 + IV_BYTES, buf.length - TAG_BYTES)), d.final()])
      } catch {
        return null
      }
    },
  }
}

const aadOf = (session: string, type: string, id: string) => `wa-gateway/auth/v1\0${session}\0${type}\0${id}`
const encode = (v: unknown) => Buffer.from(JSON.stringify(v, BufferJSON.replacer), 'utf8')
const decode = (b: Uint8Array) => JSON.parse(Buffer.from(b).toString('utf8'), BufferJSON.reviver) as unknown

/**
 * One process-wide bounded cache for every session's keys, namespaced by session: Baileys' default
 * cache is an unbounded 5-minute NodeCache per socket (#1377) and keys entries `${type}.${id}` only,
 * so a shared cache without a session prefix would mix two numbers' Signal sessions.
 */
export function createKeyCache(options: { max?: number; ttlMs?: number } = {}): LRUCache<string, object> {
  return new LRUCache<string, object>({ max: options.max ?? 200_000, ttl: options.ttlMs ?? 5 * 60_000 })
}

export interface DbAuthState {
  creds: AuthenticationCreds
  keys: SignalKeyStore
  /**
   * Persists the whole creds object (queued per session; call on every `creds.update`). A fenced-out save throws
   * `LeaseLostError` and has already been reported to `onStorageError`.
   */
  saveCreds(): Promise<void>
  /** Deletes every row of the session, creds included, and drops its cache namespace. */
  wipe(): Promise<void>
  /** True once creds show a paired account (`creds.account`; `registered` is pairing-code only). */
  readonly paired: boolean
}

export interface LoadAuthStateOptions {
  db: Db
  session: string
  cipher: AuthCipher
  cache: LRUCache<string, object>
  /**
   * Called when a key write failed: live ratchets are ahead of the DB, stop the session. Also called, once, with a
   * `LeaseLostError` when a write (keys, creds or wipe) was fenced out.
   */
  onStorageError?: (err: unknown) => void
  /**
   * The lease this state is loaded under. Every write (keys, creds, wipe) carries it and is refused with
   * `LeaseLostError` once the session is no longer held under it (db/queries/auth-state.ts). A fixed value, not a
   * getter: renewal keeps the epoch, and a re-acquire starts a new supervisor, client and load. A state loaded under
   * one lease must never write under a later one, because another runner may have advanced the ratchets in between.
   * Omitted: writes are unfenced (tests, tools).
   */
  fence?: authKeys.AuthFence
  /**
   * While this says the connection is live, a read that finds the database unavailable is retried (backoff up to
   * 2 s, at most `readRetryMs`) instead of failing: Baileys answers a failed key read while decrypting an inbound
   * message with a negative ack, and WhatsApp does not deliver that message again (a STOP would be lost). Once the
   * connection is gone the read fails, the message stays unacknowledged, and WhatsApp delivers it at the next login.
   */
  isLive?: () => boolean
  readRetryMs?: number
}

/** Loads so far in this process: each gets its own cache namespace (see loadAuthState). */
let loads = 0
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * Loads (or initialises) a session's auth state. A restart that finds creds logs in without a QR.
 * @example const st = await loadAuthState({ db, session: 'default', cipher, cache })
 */
export async function loadAuthState(options: LoadAuthStateOptions): Promise<DbAuthState> {
  const { db, session, cipher, cache } = options
  // A fresh namespace per load, and the previous ones dropped: another process may have held the session since this
  // process last cached its keys (a lease moves A → B → A), and a Signal session cached before B advanced its ratchet
  // cannot decrypt what the contact encrypts to B's keys (soak finding C: undecryptable STOPs). Within one load the
  // cache is coherent: one state object per lease, and every write goes through it.
  const sessionPrefix = `${session}\0`
  const prefix = `${sessionPrefix}${++loads}\0`
  const flushSession = () => {
    for (const k of [...cache.keys()]) if (k.startsWith(sessionPrefix)) cache.delete(k)
  }
  flushSession()
  const open = (type: string, id: string, sealed: Uint8Array): unknown => {
    const plain = cipher.decrypt(sealed, aadOf(session, type, id))
    if (!plain) throw new AuthStateDecryptError(session, type)
    return decode(plain)
  }
  const rawCreds = await authKeys.getAuthValue(db, session, 'creds', 'creds')
  const creds = (rawCreds ? open('creds', 'creds', rawCreds) : initAuthCreds()) as AuthenticationCreds

  // Serialises cache misses with writes, so a read that raced a write cannot put the old value back in the cache.
  let chain: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn)
    chain = next.catch(() => {})
    return next
  }

  // The first fenced-out write ends this state's writes for good: the lease cannot come back under the same epoch, so
  // later writes (Baileys retries a failed commit 10 times, 3 s apart) are refused here without a database round trip,
  // and onStorageError hears of it once.
  let fencedOut: LeaseLostError | null = null
  const storageFailed = (err: unknown) => {
    if (err instanceof LeaseLostError) {
      if (fencedOut) return
      fencedOut = err
    }
    options.onStorageError?.(err)
  }
  const refuseIfFenced = () => {
    if (fencedOut) throw fencedOut
  }

  const revive = (type: string, v: unknown): unknown =>
    // Protos serialise bytes as base64 through toJSON: revive them as the proto Baileys expects.
    type === 'app-state-sync-key' && v ? proto.Message.AppStateSyncKeyData.fromObject(v) : v

  const keys: SignalKeyStore = {
    async get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
      const out: { [id: string]: SignalDataTypeMap[T] } = {}
      const missing: string[] = []
      for (const id of ids) {
        const hit = cache.get(`${prefix}${type}\0${id}`)
        if (hit !== undefined) out[id] = hit as SignalDataTypeMap[T]
        else missing.push(id)
      }
      if (missing.length === 0) return out
      await serial(async () => {
        const rows = await readWithRetry(() => authKeys.getAuthValues(db, session, type, missing))
        for (const [id, sealed] of rows) {
          const v = revive(type, open(type, id, sealed))
          if (v === null || v === undefined) continue
          out[id] = v as SignalDataTypeMap[T]
          cache.set(`${prefix}${type}\0${id}`, v)
        }
      })
      return out
    },
    async set(data: SignalDataSet) {
      // Refused before the values are encoded and encrypted: Baileys retries a failed commit 10 times, and a fenced
      // session's commit can hold hundreds of pre-keys, encrypted again on every retry only to be refused. A runner
      // that lost its leases while pairing many sessions spent its CPU on this instead of getting them back.
      refuseIfFenced()
      const writes: authKeys.AuthWrite[] = []
      for (const type of Object.keys(data) as (keyof SignalDataSet)[]) {
        for (const [id, v] of Object.entries(data[type] ?? {})) {
          writes.push({ type, keyId: id, value: v == null ? null : cipher.encrypt(encode(v), aadOf(session, type, id)) })
        }
      }
      await serial(async () => {
        try {
          refuseIfFenced()
          // Database first, then the cache: a failed write must not leave the cache ahead of the database.
          await authKeys.writeAuthValues(db, session, writes, options.fence)
        } catch (err) {
          for (const w of writes) cache.delete(`${prefix}${w.type}\0${w.keyId}`)
          storageFailed(err)
          throw err
        }
        for (const type of Object.keys(data) as (keyof SignalDataSet)[]) {
          for (const [id, v] of Object.entries(data[type] ?? {})) {
            if (v == null) cache.delete(`${prefix}${type}\0${id}`)
            else cache.set(`${prefix}${type}\0${id}`, v as object)
          }
        }
      })
    },
    async clear() {
      await wipe()
    },
  }

  async function readWithRetry<T>(read: () => Promise<T>): Promise<T> {
    const started = performance.now()
    for (let attempt = 0; ; attempt++) {
      try {
        return await read()
      } catch (err) {
        const budget = options.readRetryMs ?? 60_000
        if (!(err instanceof DatabaseUnavailableError) || !options.isLive?.() || performance.now() - started > budget) throw err
        await sleep(Math.min(2_000, 100 * 2 ** attempt))
      }
    }
  }

  const flushCache = flushSession
  let wiped = false
  const wipe = async () => {
    wiped = true
    await serial(async () => {
      refuseIfFenced()
      try {
        await authKeys.wipeAuthState(db, session, options.fence)
      } catch (err) {
        if (err instanceof LeaseLostError) storageFailed(err)
        throw err
      }
      flushCache()
    })
  }

  const saveCreds = () =>
    serial(async () => {
      // After a wipe, a late creds.update from the closing socket must not resurrect the old account.
      if (wiped) return
      refuseIfFenced()
      try {
        await authKeys.writeAuthValues(db, session, [
          { type: 'creds', keyId: 'creds', value: cipher.encrypt(encode(creds), aadOf(session, 'creds', 'creds')) },
        ], options.fence)
      } catch (err) {
        // Other failures reach onStorageError through the caller (client.ts, creds.update), as before.
        if (err instanceof LeaseLostError) storageFailed(err)
        throw err
      }
    })

  return {
    creds,
    keys,
    saveCreds,
    wipe,
    get paired() {
      return Boolean(creds.account)
    },
  }
}
