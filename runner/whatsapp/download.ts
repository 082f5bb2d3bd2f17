import { createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { get, type Agent } from 'node:https'
import { getMediaKeys } from '@whiskeysockets/baileys'
import type { MediaConnInfo } from '@whiskeysockets/baileys'
import type { Logger } from 'pino'

/**
 * Downloads and decrypts a file someone sent (runner/README.md, Inbound media). Hand-written rather than Baileys'
 * `downloadMediaMessage` because that one fetches from whatever host the message's `url` names (a sender controls
 * it), reads without a size bound, never checks the MAC or the hashes, and takes only an undici dispatcher, not the
 * HTTPS agent the uploads use. Here the file is fetched from the media hosts WhatsApp's own `media_conn` answer
 * lists, by the message's direct path only; the encrypted body is read up to the size limit and refused beyond it;
 * the 10-byte HMAC, the encrypted and the plain SHA-256 must all match before the bytes are kept.
 */

/** What a media message carries to find and open its file (proto fields of image/video/audio/document messages). */
export interface EncryptedFileRef {
  mediaKey?: Uint8Array | null
  directPath?: string | null
  fileEncSha256?: Uint8Array | null
  fileSha256?: Uint8Array | null
  /** Bytes, as declared. */
  fileLength?: number | null
}

export type DownloadKind = 'image' | 'video' | 'audio' | 'document'

export type DownloadResult =
  | { status: 'stored'; bytes: Uint8Array; sha256: string }
  | { status: 'too_large' }
  | { status: 'failed'; reason: string }

export interface DownloaderDeps {
  refreshMediaConn: (forceGet?: boolean) => Promise<MediaConnInfo>
  /** The HTTPS agent the uploads use too (the loopback's CA in tests, a session's proxy). */
  agent?: Agent
  log: Logger
}

const MAC_BYTES = 10
/** AES-CBC pads to the next 16 bytes, then the MAC follows: the most an encrypted file of `n` bytes can weigh. */
const encryptedBound = (n: number) => n + 16 + MAC_BYTES
/** A connection that sends nothing for this long is abandoned. */
export const DOWNLOAD_IDLE_TIMEOUT_MS = 30_000

class TooLarge extends Error {}
/** The host answered, and the answer is final (gone, refused): other hosts serve the same store. */
class Refused extends Error {}

/**
 * Fetches the file of `ref` (a `kind` message), at most `maxBytes` of plain bytes. Hosts are tried in the order
 * `media_conn` lists them, twice; a host that refuses (4xx) or bytes that do not match end it at once.
 */
export async function downloadInboundFile(
  deps: DownloaderDeps,
  ref: EncryptedFileRef,
  kind: DownloadKind,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<DownloadResult> {
  if (ref.fileLength !== null && ref.fileLength !== undefined && ref.fileLength > maxBytes) return { status: 'too_large' }
  if (!ref.mediaKey?.length || !ref.directPath?.startsWith('/')) return { status: 'failed', reason: 'the message carries no media key or direct path' }
  let lastError = 'no media host offered'
  for (let pass = 0; pass < 2; pass++) {
    const conn = await deps.refreshMediaConn(pass > 0)
    for (const { hostname } of conn.hosts) {
      signal?.throwIfAborted()
      const url = new URL(ref.directPath, `https://${hostname}`)
      // A direct path is a path: `//other.host/…` would leave WhatsApp's media hosts.
      if (url.host !== hostname) return { status: 'failed', reason: 'the direct path names another host' }
      try {
        const encrypted = await fetchBounded(url, encryptedBound(maxBytes), deps.agent, signal)
        return await openFile(encrypted, ref, kind, maxBytes)
      } catch (err) {
        if (err instanceof TooLarge) return { status: 'too_large' }
        if (err instanceof Refused) return { status: 'failed', reason: err.message }
        if (signal?.aborted) throw err
        lastError = `${hostname}: ${(err as Error).message}`
        deps.log.warn({ host: hostname, err: (err as Error).message }, 'media download failed; trying the next host')
      }
    }
  }
  return { status: 'failed', reason: `media download failed on every host (last: ${lastError})` }
}

/** Checks the MAC and both hashes, then decrypts: the plain bytes, or the reason they are refused. */
async function openFile(encrypted: Buffer, ref: EncryptedFileRef, kind: DownloadKind, maxBytes: number): Promise<DownloadResult> {
  if (ref.fileEncSha256?.length && !createHash('sha256').update(encrypted).digest().equals(Buffer.from(ref.fileEncSha256))) {
    return { status: 'failed', reason: 'the downloaded file does not match fileEncSha256' }
  }
  const { iv, cipherKey, macKey } = await getMediaKeys(ref.mediaKey, kind)
  const body = encrypted.subarray(0, -MAC_BYTES)
  const mac = encrypted.subarray(-MAC_BYTES)
  const expected = createHmac('sha256', macKey!).update(iv).update(body).digest().subarray(0, MAC_BYTES)
  if (encrypted.length < MAC_BYTES + 16 || !timingSafeEqual(expected, mac)) return { status: 'failed', reason: 'media MAC mismatch' }
  let plain: Buffer
  try {
    const decipher = createDecipheriv('aes-256-cbc', cipherKey, iv)
    plain = Buffer.concat([decipher.update(body), decipher.final()])
  } catch {
    return { status: 'failed', reason: 'the file does not decrypt' }
  }
  if (plain.length > maxBytes) return { status: 'too_large' }
  const sha256 = createHash('sha256').update(plain).digest()
  if (ref.fileSha256?.length && !sha256.equals(Buffer.from(ref.fileSha256))) {
    return { status: 'failed', reason: 'the decrypted file does not match fileSha256' }
  }
  return { status: 'stored', bytes: new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength), sha256: sha256.toString('hex') }
}

/** GETs `url` into one buffer of at most `limit` bytes (TooLarge beyond it, as declared or as read). */
function fetchBounded(url: URL, limit: number, agent: Agent | undefined, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: { Origin: 'https://web.whatsapp.com' }, ...(agent ? { agent } : {}), timeout: DOWNLOAD_IDLE_TIMEOUT_MS, signal }, (res) => {
      const status = res.statusCode ?? 0
      if (status < 200 || status >= 300) {
        res.resume()
        const final = status >= 400 && status < 500 && status !== 408 && status !== 429
        return reject(final ? new Refused(`the media host answered ${status}`) : new Error(`answered ${status}`))
      }
      if (Number(res.headers['content-length']) > limit) {
        req.destroy()
        return reject(new TooLarge())
      }
      const parts: Buffer[] = []
      let received = 0
      res.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received > limit) {
          req.destroy()
          reject(new TooLarge())
          return
        }
        parts.push(chunk)
      })
      res.on('error', reject)
      res.on('end', () => resolve(Buffer.concat(parts, received)))
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('download stalled (no progress) and was abandoned')))
  })
}
