import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { request, type Agent } from 'node:https'
import { encodeBase64EncodedStringForUpload, MEDIA_PATH_MAP } from '@whiskeysockets/baileys'
import type { MediaConnInfo, WAMediaUploadFunction } from '@whiskeysockets/baileys'
import type { Logger } from 'pino'

/**
 * The media upload the runner hands Baileys in place of its own `waUploadToServer` (runner/README.md, Sending). Same
 * request (POST of the encrypted file to `<host>/mms/<kind>/<enc sha256>?auth=…`), but it keeps the HTTP status,
 * which Baileys' upload discards (every failure becomes "Media upload failed on all hosts", 500), so the runner can
 * tell a media WhatsApp refuses from a host that is down:
 * - 2xx with a URL: uploaded;
 * - 401/403: the upload token expired; the media connection is refreshed and the next host tried;
 * - any other 4xx but 408 and 429: `MediaRefusedError` at once (the other hosts are the same service and would
 *   refuse it too): the message fails with the reason;
 * - 5xx, 408, 429, network errors, timeouts: the next host; after the last, `MediaUploadError`, retried with backoff
 *   like any send.
 */

/** WhatsApp refused this media (too large, wrong type, malformed): a permanent failure for the message. */
export class MediaRefusedError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message)
    this.name = 'MediaRefusedError'
  }
}

/** No media host took the upload (network, 5xx, timeout): transient, the send is retried. */
export class MediaUploadError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MediaUploadError'
  }
}

export interface UploaderDeps {
  /** Baileys' `sock.refreshMediaConn`: the hosts and the upload token, cached by Baileys for its TTL. */
  refreshMediaConn: (forceGet?: boolean) => Promise<MediaConnInfo>
  /** The endpoint's HTTPS agent (the loopback's CA), or the default one. */
  agent?: Agent
  log: Logger
  /** Counts each upload request that reached a host (the runner's metric and tests). */
  onUpload?: () => void
}

/**
 * An upload whose connection sends or receives nothing for this long is abandoned (transient): without it a host
 * that stalls would hold the session's loop, and its lease, for good.
 */
export const UPLOAD_IDLE_TIMEOUT_MS = 30_000

type HostAnswer = { status: number; body: { url?: string; direct_path?: string; error?: string } | null }

const isRefusal = (status: number) => status >= 400 && status < 500 && status !== 408 && status !== 429

export function createUploader(deps: UploaderDeps): WAMediaUploadFunction {
  return async (encFilePath, { mediaType, fileEncSha256B64, timeoutMs }) => {
    let conn = await deps.refreshMediaConn(false)
    const size = (await stat(encFilePath)).size
    const token = encodeBase64EncodedStringForUpload(fileEncSha256B64)
    const path = (MEDIA_PATH_MAP as Record<string, string>)[mediaType]
    if (!path) throw new MediaRefusedError(`no upload path for media type ${mediaType}`, null)
    let lastError = 'no media host offered'
    for (const { hostname, maxContentLengthBytes } of conn.hosts) {
      if (maxContentLengthBytes && size > maxContentLengthBytes) {
        throw new MediaRefusedError(`media refused: ${size} bytes encrypted, the media host takes at most ${maxContentLengthBytes}`, 413)
      }
      const url = new URL(`https://${hostname}${path}/${token}`)
      url.searchParams.set('auth', conn.auth)
      url.searchParams.set('token', token)
      let answer: HostAnswer
      try {
        answer = await post(url, encFilePath, size, deps.agent, timeoutMs)
        deps.onUpload?.()
      } catch (err) {
        lastError = `${hostname}: ${(err as Error).message}`
        deps.log.warn({ host: hostname, err: (err as Error).message }, 'media upload failed; trying the next host')
        continue
      }
      const { status, body } = answer
      if (status >= 200 && status < 300 && (body?.url || body?.direct_path)) {
        return { mediaUrl: body.url ?? '', directPath: body.direct_path ?? '' }
      }
      const reason = body?.error ? `: ${body.error}` : ''
      if (status === 401 || status === 403) {
        conn = await deps.refreshMediaConn(true)
        lastError = `${hostname} answered ${status}${reason}`
        continue
      }
      if (isRefusal(status)) throw new MediaRefusedError(`media refused by WhatsApp (HTTP ${status}${reason})`, status)
      lastError = `${hostname} answered ${status}${reason}`
      deps.log.warn({ host: hostname, status }, 'media upload failed; trying the next host')
    }
    throw new MediaUploadError(`media upload failed on every host (last: ${lastError})`)
  }
}

/** POSTs the encrypted file, streamed from disk (Baileys' own upload does the same to avoid undici's buffering). */
function post(url: URL, filePath: string, size: number, agent: Agent | undefined, timeoutMs: number | undefined): Promise<HostAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': size, Origin: 'https://web.whatsapp.com' },
        ...(agent ? { agent } : {}),
        timeout: timeoutMs ?? UPLOAD_IDLE_TIMEOUT_MS,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          // Only the JSON answer matters; an error page is cut short.
          if (text.length < 64 * 1024) text += chunk
        })
        res.on('error', reject)
        res.on('end', () => {
          let body: HostAnswer['body']
          try {
            body = JSON.parse(text) as HostAnswer['body']
          } catch {
            body = null
          }
          resolve({ status: res.statusCode ?? 0, body })
        })
      },
    )
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('upload stalled (no progress) and was abandoned')))
    const file = createReadStream(filePath)
    file.on('error', (err) => req.destroy(err))
    file.pipe(req)
  })
}
