import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { aesDecryptWithIV, getMediaKeys, hmacSign, type BinaryNode, type proto } from '@whiskeysockets/baileys'
import sharp from 'sharp'
import type { Logger } from 'pino'
import type { TestTls } from './tls-certs.js'

/**
 * The media side: `w:m` `<media_conn/>` points Baileys at a local HTTPS endpoint, which stores uploads exactly as the
 * client encrypted them (AES-CBC body + 10-byte HMAC) and serves them back on their direct path. When a contact
 * receives an image message, its media key decrypts the stored blob, which is checked against the hashes in the
 * message before its size and dimensions are recorded.
 */
type StoredBlob = { bytes: Buffer; mediaType: string }

export type DecryptedMedia = { bytes: Buffer; width: number | null; height: number | null }

const MEDIA_CONN_TTL_S = 300
const MAC_LENGTH = 10

export class MediaStore {
  private readonly byDirectPath = new Map<string, StoredBlob>()
  private readonly byEncSha256 = new Map<string, StoredBlob>()
  private server: Server | undefined
  private hostname = ''
  /** Token the media_conn answer hands out and uploads must carry. */
  readonly auth = randomBytes(16).toString('base64url')

  constructor(private readonly log: Logger) {}

  async listen(tls: TestTls, host: string, port = 0): Promise<void> {
    this.server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://loopback')
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (req.method === 'POST' && url.pathname.startsWith('/mms/')) {
        if (url.searchParams.get('auth') !== this.auth) return reply(401, { error: 'bad auth' })
        const chunks: Buffer[] = []
        req.on('data', chunk => chunks.push(chunk))
        req.on('end', () => {
          const mediaType = url.pathname.split('/')[2] ?? 'unknown'
          const directPath = this.store(Buffer.concat(chunks), mediaType)
          reply(200, { url: `https://${this.hostname}${directPath}`, direct_path: directPath })
        })
        return
      }
      const blob = req.method === 'GET' ? this.byDirectPath.get(url.pathname) : undefined
      if (blob) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.bytes.length })
        res.end(blob.bytes)
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
    this.byDirectPath.clear()
    this.byEncSha256.clear()
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
          content: [{ tag: 'host', attrs: { hostname: this.hostname, maxContentLengthBytes: String(100 * 1024 * 1024) } }]
        }
      ]
    }
  }

  private store(bytes: Buffer, mediaType: string): string {
    const encSha256 = createHash('sha256').update(bytes).digest('base64')
    const directPath = `/v/t62.loopback/${randomBytes(12).toString('hex')}.enc`
    const blob = { bytes, mediaType }
    this.byDirectPath.set(directPath, blob)
    this.byEncSha256.set(encSha256, blob)
    return directPath
  }

  /** Finds and decrypts the upload an image message points at, verifying MAC and both SHA-256s. */
  async decryptImage(image: proto.Message.IImageMessage): Promise<DecryptedMedia> {
    if (!image.mediaKey) throw new Error('image message without a media key')
    const path = image.directPath?.split('?')[0]
    const blob =
      (path && this.byDirectPath.get(path)) ||
      (image.fileEncSha256 && this.byEncSha256.get(Buffer.from(image.fileEncSha256).toString('base64')))
    if (!blob) throw new Error(`no upload found for ${image.directPath ?? 'an image without directPath'}`)
    const { iv, cipherKey, macKey } = await getMediaKeys(image.mediaKey, 'image')
    if (!macKey) throw new Error('no MAC key derived for image media')
    const body = blob.bytes.subarray(0, -MAC_LENGTH)
    const mac = blob.bytes.subarray(-MAC_LENGTH)
    if (!hmacSign(Buffer.concat([iv, body]), macKey).subarray(0, MAC_LENGTH).equals(mac)) {
      throw new Error('media MAC mismatch')
    }
    const bytes = aesDecryptWithIV(body, cipherKey, iv)
    if (image.fileSha256 && !createHash('sha256').update(bytes).digest().equals(Buffer.from(image.fileSha256))) {
      throw new Error('decrypted media does not match fileSha256')
    }
    const { width, height } = await sharp(bytes).metadata()
    return { bytes, width: width ?? null, height: height ?? null }
  }
}
