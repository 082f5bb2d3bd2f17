import { createCipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { aesDecryptWithIV, getMediaKeys, type BinaryNode } from '@whiskeysockets/baileys'
import sharp from 'sharp'
import type { Logger } from 'pino'
import { BoundedBytes } from './bounded-bytes.js'
import type { TestTls } from './tls-certs.js'

/**
 * The media side: `w:m` `<media_conn/>` points Baileys at a local HTTPS endpoint, which stores uploads exactly as the
 * client encrypted them (AES-CBC body + 10-byte HMAC) and serves them back on their direct path. When a contact
 * receives a media message, its media key decrypts the stored blob, which is checked against the MAC and the hashes in
 * the message before anything about it is recorded.
 */
type StoredBlob = { bytes: Buffer; mediaType: string }

/** The media kinds a contact decrypts; each names the HKDF info Baileys derives the keys with. */
export type MediaKind = 'image' | 'document' | 'video' | 'audio'

/** The fields every media message (image, document, video, audio) carries to find and open its upload. */
export type EncryptedMediaRef = {
  mediaKey?: Uint8Array | null
  directPath?: string | null
  fileEncSha256?: Uint8Array | null
  fileSha256?: Uint8Array | null
}

export type DecryptedMedia = {
  bytes: Buffer
  /** hex SHA-256 of the decrypted bytes (already checked against the message's fileSha256) */
  sha256: string
  width: number | null
  height: number | null
}

const MEDIA_CONN_TTL_S = 300
const MAC_LENGTH = 10
/** What `media_conn` advertises as `maxContentLengthBytes`; larger uploads get 413. */
export const MAX_UPLOAD_BYTES = 100 * 1024 * 1024
/** Uploads kept for download; the oldest go first beyond this (see BoundedBytes). */
const UPLOAD_BUDGET_BYTES = 512 * 1024 * 1024
const DIRECT_PATH_PREFIX = '/v/t62.loopback/'

class UploadTooLarge extends Error {}

/** One request to the media endpoint: `POST` an upload, `GET` a download; its path's first segment; its peer. */
export type MediaRequestView = { method: string; kind: string; remote_address: string | null }

export class MediaStore {
  /** Keyed by the hex SHA-256 of the encrypted upload, which is also the name in its direct path. */
  private readonly uploads = new BoundedBytes<StoredBlob>(UPLOAD_BUDGET_BYTES)
  private server: Server | undefined
  /** Uploads accepted (stored) since start or `clear()`. */
  uploadCount = 0
  /** Every request since start or `clear()`, oldest first (the newest 10,000). */
  readonly requests: MediaRequestView[] = []
  private hostname = ''
  /** Download requests for stored uploads since start or `clear()`, held ones included. */
  downloadCount = 0
  /** While downloads are held (`holdDownloads(true)`), the answers they wait for. */
  private heldDownloads: Array<() => void> | null = null
  /** Token the media_conn answer hands out and uploads must carry. */
  readonly auth = randomBytes(16).toString('base64url')

  constructor(private readonly log: Logger) {}

  async listen(tls: TestTls, host: string, port = 0): Promise<void> {
    this.server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://loopback')
      this.requests.push({ method: req.method ?? '', kind: url.pathname.split('/')[1] ?? '', remote_address: req.socket.remoteAddress ?? null })
      if (this.requests.length > 10_000) this.requests.shift()
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (req.method === 'POST' && url.pathname.startsWith('/mms/')) {
        if (url.searchParams.get('auth') !== this.auth) return reply(401, { error: 'bad auth' })
        readUpload(req).then(
          bytes => {
            const directPath = this.store(bytes, url.pathname.split('/')[2] ?? 'unknown')
            reply(200, { url: `https://${this.hostname}${directPath}`, direct_path: directPath })
          },
          (err: unknown) => {
            if (res.headersSent || res.destroyed) return
            if (err instanceof UploadTooLarge) res.setHeader('connection', 'close')
            reply(err instanceof UploadTooLarge ? 413 : 400, { error: err instanceof Error ? err.message : String(err) })
          }
        )
        return
      }
      const blob = req.method === 'GET' ? this.blobAt(url.pathname) : undefined
      if (blob) {
        this.downloadCount++
        const serve = () => {
          if (res.destroyed) return
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.bytes.length })
          res.end(blob.bytes)
        }
        if (this.heldDownloads) this.heldDownloads.push(serve)
        else serve()
        return
      }
      reply(404, { error: 'not found' })
    })
    await new Promise<void>(resolve => this.server!.listen(port, host, resolve))
    const { port: bound } = this.server.address() as AddressInfo
    this.hostname = `${host.includes(':') ? `[${host}]` : host}:${bound}`
    this.log.debug({ hostname: this.hostname }, 'media endpoint listening')
  }

  get host(): string {
    return this.hostname
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise<void>(resolve => (this.server ? this.server.close(() => resolve()) : resolve()))
  }

  clear(): void {
    this.uploads.clear()
    this.uploadCount = 0
    this.requests.length = 0
    this.downloadCount = 0
    this.holdDownloads(false)
  }

  /**
   * `true`: download requests get no answer until `false`, which answers those still connected (a runner stopped
   * mid-download, in tests). Returns how many requests are held (on) or were released (off).
   */
  get heldCount(): number {
    return this.heldDownloads?.length ?? 0
  }

  holdDownloads(on: boolean): number {
    if (on) return (this.heldDownloads ??= []).length
    const waiting = this.heldDownloads ?? []
    this.heldDownloads = null
    for (const serve of waiting) serve()
    return waiting.length
  }

  /** The answer to `<iq xmlns="w:m"><media_conn/></iq>`. */
  mediaConnNode(iqId: string): BinaryNode {
    return {
      tag: 'iq',
      attrs: { from: 's.whatsapp.net', type: 'result', id: iqId },
      content: [
        {
          tag: 'media_conn',
          attrs: { auth: this.auth, ttl: String(MEDIA_CONN_TTL_S), auth_ttl: String(MEDIA_CONN_TTL_S), max_buckets: '12' },
          content: [{ tag: 'host', attrs: { hostname: this.hostname, maxContentLengthBytes: String(MAX_UPLOAD_BYTES) } }]
        }
      ]
    }
  }

  private store(bytes: Buffer, mediaType: string, counted = true): string {
    const encSha256 = createHash('sha256').update(bytes).digest('hex')
    this.uploads.set(encSha256, { bytes, mediaType })
    if (counted) this.uploadCount++
    return `${DIRECT_PATH_PREFIX}${encSha256}.enc`
  }

  /**
   * A contact's phone uploading a file it is about to send: encrypted as WhatsApp does (AES-CBC with keys derived
   * from a fresh media key for `kind`, then a 10-byte HMAC), stored for download, and the fields its message carries.
   * `corrupt` flips a byte of the stored upload after the hashes are taken (its MAC and fileEncSha256 no longer
   * match). Not counted in `uploadCount`, which counts the paired clients' uploads.
   */
  async uploadFromContact(plain: Buffer, kind: MediaKind, corrupt = false): Promise<Required<EncryptedMediaRef> & { url: string }> {
    const mediaKey = randomBytes(32)
    const { iv, cipherKey, macKey } = await getMediaKeys(mediaKey, kind)
    const cipher = createCipheriv('aes-256-cbc', cipherKey, iv)
    const body = Buffer.concat([cipher.update(plain), cipher.final()])
    const blob = Buffer.concat([body, createHmac('sha256', macKey!).update(iv).update(body).digest().subarray(0, MAC_LENGTH)])
    const fileEncSha256 = createHash('sha256').update(blob).digest()
    if (corrupt) blob[0]! ^= 0xff
    const directPath = this.store(blob, kind, false)
    return {
      url: `https://${this.hostname}${directPath}`, directPath, mediaKey, fileEncSha256,
      fileSha256: createHash('sha256').update(plain).digest(),
    }
  }

  private blobAt(directPath: string): StoredBlob | undefined {
    const name = directPath.startsWith(DIRECT_PATH_PREFIX) ? directPath.slice(DIRECT_PATH_PREFIX.length) : ''
    return this.uploads.get(name.replace(/\.enc$/, ''))
  }

  /**
   * Finds and decrypts the upload a media message points at, as the recipient's phone does: the MAC (keys derived
   * for `mediaType`), the SHA-256 of the encrypted upload and of the decrypted media must all match the message.
   */
  async decryptMedia(message: EncryptedMediaRef, mediaType: MediaKind): Promise<DecryptedMedia> {
    if (!message.mediaKey) throw new Error(`${mediaType} message without a media key`)
    if (!message.fileSha256) throw new Error(`${mediaType} message without fileSha256`)
    const path = message.directPath?.split('?')[0]
    const blob =
      (path && this.blobAt(path)) || (message.fileEncSha256 && this.uploads.get(Buffer.from(message.fileEncSha256).toString('hex')))
    if (!blob) throw new Error(`no upload found for ${message.directPath ?? `a ${mediaType} without directPath`}`)
    if (message.fileEncSha256 && !createHash('sha256').update(blob.bytes).digest().equals(Buffer.from(message.fileEncSha256))) {
      throw new Error('upload does not match fileEncSha256')
    }
    const { iv, cipherKey, macKey } = await getMediaKeys(message.mediaKey, mediaType)
    if (!macKey) throw new Error(`no MAC key derived for ${mediaType} media`)
    const body = blob.bytes.subarray(0, -MAC_LENGTH)
    const mac = blob.bytes.subarray(-MAC_LENGTH)
    const expectedMac = createHmac('sha256', macKey).update(iv).update(body).digest().subarray(0, MAC_LENGTH)
    if (mac.length !== MAC_LENGTH || !timingSafeEqual(expectedMac, mac)) throw new Error('media MAC mismatch')
    const bytes = aesDecryptWithIV(body, cipherKey, iv)
    const sha256 = createHash('sha256').update(bytes).digest()
    if (!sha256.equals(Buffer.from(message.fileSha256))) throw new Error('decrypted media does not match fileSha256')
    const { width, height } = mediaType === 'image' ? await sharp(bytes).metadata() : { width: null, height: null }
    return { bytes, sha256: sha256.toString('hex'), width: width ?? null, height: height ?? null }
  }
}

/**
 * Reads an upload body into one buffer: sized up front from Content-Length (Baileys always sends it), so a 100 MB
 * upload costs 100 MB and not its chunks plus their concatenation; a body without one is gathered chunk by chunk. A
 * body over the limit is refused but drained, so the client reads the 413 instead of a reset connection.
 */
function readUpload(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'])
    if (declared > MAX_UPLOAD_BYTES) {
      req.resume()
      return reject(new UploadTooLarge(`uploads are limited to ${MAX_UPLOAD_BYTES} bytes`))
    }
    const sized = Number.isSafeInteger(declared) && declared >= 0 ? Buffer.allocUnsafe(declared) : undefined
    const chunks: Buffer[] = []
    let received = 0
    const onData = (chunk: Buffer) => {
      if (received + chunk.length > (sized?.length ?? MAX_UPLOAD_BYTES)) {
        req.off('data', onData)
        req.resume()
        return reject(new UploadTooLarge(`uploads are limited to ${MAX_UPLOAD_BYTES} bytes`))
      }
      if (sized) chunk.copy(sized, received)
      else chunks.push(chunk)
      received += chunk.length
    }
    req.on('data', onData)
    req.on('error', reject)
    req.on('end', () => {
      if (sized && received !== sized.length) reject(new Error('upload shorter than its Content-Length'))
      else resolve(sized ?? Buffer.concat(chunks, received))
    })
  })
}
