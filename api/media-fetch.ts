/**
 * Media by URL: the API downloads the file once, before it answers, so a send is stored with its bytes like an
 * upload and a bad URL is the caller's 422 rather than a failed message later. Web-standard (Node and Workers):
 * `fetch`, web streams, `AbortController`.
 *
 * The same private-network refusal as webhooks (db/shared/url-guard.ts): literal non-public addresses and local-only
 * names are refused before any connection, and every redirect target is checked again by the same rules (redirects
 * are followed by hand, at most 5). Where the runtime can resolve names (Node), the caller passes `resolve` and a
 * name that resolves to a non-public address is refused too. That check and the connection resolve separately, so a
 * name whose answer changes in between (DNS rebinding) is only fully covered by a fetch whose connection refuses
 * such addresses itself (the webhook runner's `guardedLookup`), which the caller can pass as `fetch`. On Workers the
 * platform never connects to private addresses at all.
 *
 * Its own settings, beside the webhooks': `MEDIA_ALLOW_HOSTS` names hosts that may be private anyway (`host` for the
 * URL's default port, `host:port`, `host:*`, `[ipv6]:port`, `*.suffix`), `MEDIA_ALLOW_PRIVATE=1` turns the address
 * check off. The download has one time limit for everything (15 s: connections, redirects and body) and a byte limit
 * enforced while the body streams. Every failure is a 422 `url_fetch_failed` on the `url` field saying why.
 */
import { ConfigError, settingText, type Env } from '../db/shared/settings.js'
import { addressRefusal, checkWebhookUrl, DEFAULT_URL_POLICY, isIpLiteral } from '../db/shared/url-guard.js'
import { formatBytes, readStreamWithin } from './body.js'
import { ApiError } from './errors.js'
import { invalid } from './validation.js'

/** One parsed `MEDIA_ALLOW_HOSTS` entry; `default` is the URL's default port (80 for http, 443 for https). */
export interface MediaAllowEntry {
  /** In the URL parser's canonical form (lower case, IPv6 in brackets); for a suffix entry, without the `*.`. */
  host: string
  suffix: boolean
  port: number | '*' | 'default'
}

export interface MediaUrlPolicy {
  /** Hosts that may be private: `MEDIA_ALLOW_HOSTS`. */
  allowHosts: readonly MediaAllowEntry[]
  /** `MEDIA_ALLOW_PRIVATE=1`: no address check at all (a gateway that fetches only from its own network). */
  allowPrivate: boolean
}

export const DEFAULT_MEDIA_URL_POLICY: MediaUrlPolicy = { allowHosts: [], allowPrivate: false }

/** The whole download's time limit: connecting, every redirect and the body. */
export const MEDIA_FETCH_TIMEOUT_MS = 15_000

/** Redirects followed before giving up. */
export const MEDIA_MAX_REDIRECTS = 5

/** Longest accepted URL: room for signed storage URLs (S3, GCS), whose tokens run to a few kilobytes. */
export const MEDIA_URL_MAX_LENGTH = 4096

/**
 * Parses one `MEDIA_ALLOW_HOSTS` entry: `host`, `host:port`, `host:*`, `[ipv6]`, `[ipv6]:port`, `*.suffix[:port]`.
 * Without a port it allows the URL's default port only, so `files.lan` does not also open `files.lan:5432`.
 * @example parseMediaAllowEntry('files.lan') // { host: 'files.lan', suffix: false, port: 'default' }
 */
export function parseMediaAllowEntry(entry: string): MediaAllowEntry | { error: string } {
  const raw = entry.trim()
  const e = raw.toLowerCase()
  const shape = 'write host, host:port, host:*, [ipv6]:port or *.suffix'
  if (/^[0-9a-f:]+$/.test(e) && e.split(':').length > 2) {
    return { error: `MEDIA_ALLOW_HOSTS entry "${raw}" is an IPv6 address without brackets; write [${e}] or [${e}]:8080` }
  }
  const m = /^(\[[0-9a-f:.]+\]|[^\s:/@[\]]+)(?::(\d{1,5}|\*))?$/.exec(e)
  if (!m) return { error: `MEDIA_ALLOW_HOSTS entry "${raw}" is not a host name or address; ${shape}` }
  const port = m[2] === undefined ? 'default' : m[2] === '*' ? '*' : Number(m[2])
  if (typeof port === 'number' && (port < 1 || port > 65_535)) return { error: `MEDIA_ALLOW_HOSTS entry "${raw}": the port must be 1-65535 or *` }
  const suffix = m[1]!.startsWith('*.')
  const name = suffix ? m[1]!.slice(2) : m[1]!
  if (name.includes('*')) return { error: `MEDIA_ALLOW_HOSTS entry "${raw}": * may only start a suffix (*.example.lan)` }
  let host: string
  try {
    host = new URL(`http://${name}/`).hostname
  } catch {
    return { error: `MEDIA_ALLOW_HOSTS entry "${raw}" is not a host name or address; ${shape}` }
  }
  return { host, suffix, port }
}

/**
 * Reads `MEDIA_ALLOW_HOSTS` (comma-separated) and `MEDIA_ALLOW_PRIVATE`. Throws `ConfigError` naming the setting
 * and what to write instead.
 * @example const policy = parseMediaUrlPolicy(process.env)
 */
export function parseMediaUrlPolicy(env: Env): MediaUrlPolicy {
  const allowHosts: MediaAllowEntry[] = []
  for (const item of (settingText(env, 'MEDIA_ALLOW_HOSTS') ?? '').split(',')) {
    if (!item.trim()) continue
    const entry = parseMediaAllowEntry(item)
    if ('error' in entry) throw new ConfigError(entry.error)
    allowHosts.push(entry)
  }
  const flag = settingText(env, 'MEDIA_ALLOW_PRIVATE')?.toLowerCase()
  if (flag !== undefined && !['0', '1', 'true', 'false', 'yes', 'no', 'on', 'off'].includes(flag)) {
    throw new ConfigError(`MEDIA_ALLOW_PRIVATE must be 1 or 0 (got "${env.MEDIA_ALLOW_PRIVATE}")`)
  }
  return { allowHosts, allowPrivate: flag !== undefined && ['1', 'true', 'yes', 'on'].includes(flag) }
}

/** Whether `url`'s host and port are named in `MEDIA_ALLOW_HOSTS`. */
export function mediaHostAllowed(url: URL, policy: MediaUrlPolicy): boolean {
  const host = url.hostname.toLowerCase()
  // The URL parser drops a port equal to the scheme's default, so '' is exactly "the default port".
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
  return policy.allowHosts.some((entry) => {
    if (entry.port === 'default' ? url.port !== '' : entry.port !== '*' && entry.port !== port) return false
    return entry.suffix ? host.endsWith(`.${entry.host}`) : host === entry.host
  })
}

export type MediaUrlCheck = { ok: true; url: URL; allowListed: boolean } | { ok: false; reason: string }

/** `127.0.0.1:8080`, `[::1]`, `files.lan`: the host as an allow-list entry would name it. */
function allowEntryFor(url: URL): string {
  return url.port ? `${url.hostname}:${url.port}` : url.hostname
}

function privateAddress(url: URL, why: string): string {
  return `points at a private address (${why}); to fetch from it anyway, add ${allowEntryFor(url)} to MEDIA_ALLOW_HOSTS or set MEDIA_ALLOW_PRIVATE=1`
}

/**
 * Checks a media URL without DNS: http(s), no user name or password, and (unless allowed) no literal non-public
 * address and no local-only name. The reason reads after the field name (`url: must use http or https …`).
 * @example const r = checkMediaUrl('https://files.example.com/a.pdf', policy); if (!r.ok) throw new Error(r.reason)
 */
export function checkMediaUrl(raw: string, policy: MediaUrlPolicy = DEFAULT_MEDIA_URL_POLICY): MediaUrlCheck {
  if (raw.length > MEDIA_URL_MAX_LENGTH) return { ok: false, reason: `must be at most ${MEDIA_URL_MAX_LENGTH} characters` }
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point of this check
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) return { ok: false, reason: 'must not contain spaces or control characters (percent-encode them)' }
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, reason: 'must be an absolute http:// or https:// URL, e.g. "https://example.com/files/quote.pdf"' }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: `must use http or https (got ${url.protocol.replace(/:$/, '')})` }
  if (url.username || url.password) return { ok: false, reason: 'must not carry a user name or password; use a signed or public URL' }
  if (!url.hostname) return { ok: false, reason: 'must name a host' }
  const allowListed = mediaHostAllowed(url, policy)
  if (allowListed || policy.allowPrivate) return { ok: true, url, allowListed }
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIpLiteral(host)) {
    const why = addressRefusal(host)
    return why ? { ok: false, reason: privateAddress(url, `${host}: ${why}`) } : { ok: true, url, allowListed }
  }
  // The webhook guard's verdict on the bare name (its literal-address rules do not apply to a name).
  const verdict = checkWebhookUrl(`http://${url.hostname}/`, DEFAULT_URL_POLICY)
  if (!verdict.ok) {
    const why = verdict.reason.replace(/^targets /, '').replace(/; add the host to WEBHOOK_ALLOW_HOSTS.*$/, '')
    return { ok: false, reason: privateAddress(url, `${host} is ${why}`) }
  }
  return { ok: true, url, allowListed }
}

/** Resolves a host name to its addresses (Node: `dns.promises.lookup(host, { all: true })`'s addresses). */
export type ResolveHost = (host: string) => Promise<string[]>

export interface FetchMediaOptions {
  policy: MediaUrlPolicy
  /** Largest file accepted, bytes; the message words it with `formatBytes` (`64 MB`). */
  maxBytes: number
  /** The whole download's time limit; `MEDIA_FETCH_TIMEOUT_MS` (15 s) unless a test shortens it. */
  timeoutMs?: number
  /** The caller's own cancellation (the request went away); its reason is rethrown as it is. */
  signal?: AbortSignal
  /** Where names can be resolved: every address of a checked name must be public (skipped for allowed hosts). */
  resolve?: ResolveHost
  /** The fetch to use (a Node fetch whose connections refuse private addresses, a test's); the global one otherwise. */
  fetch?: typeof fetch
}

export interface FetchedMedia {
  bytes: Uint8Array
  /** The answer's `Content-Type` as sent, or null; the bytes decide the type (api/media-type.ts). */
  contentType: string | null
  /**
   * From `Content-Disposition` (`filename*` before `filename`), else the final URL's last path segment (decoded);
   * null when neither names one. Not sanitised: pass it to `sanitizeFileName`.
   */
  fileName: string | null
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** Reason phrases for when the server sends none (HTTP/2 has none at all). */
const REASONS: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable',
  408: 'Request Timeout', 410: 'Gone', 429: 'Too Many Requests', 451: 'Unavailable For Legal Reasons', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
}

/** What the caller can do about an error status. */
function statusAdvice(status: number): string {
  if (status === 401 || status === 403) return 'the file must be downloadable without signing in (use a public or signed URL)'
  if (status === 404 || status === 410) return 'check the URL'
  if (status === 429 || status >= 500) return 'the server could not serve the file; try again later'
  return 'link a URL that answers with the file itself'
}

function fetchFailed(message: string): ApiError {
  return invalid('url', 'url_fetch_failed', message, 422)
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`
}

/** What went wrong with a connection, in words, from the error fetch threw (undici puts the system error in `cause`). */
function connectionProblem(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause ?? err
  const raw = (cause as { code?: unknown })?.code
  const code = typeof raw === 'string' ? raw : ''
  switch (code) {
    case 'ECONNREFUSED':
      return 'the connection was refused'
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_AGAIN':
      return 'the host name does not resolve'
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'the connection was closed before the answer was complete'
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'the connection timed out'
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'the host is unreachable'
  }
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `its TLS certificate was not accepted (${code})`
  const message = cause instanceof Error ? cause.message : String(cause)
  return message.slice(0, 200) || 'the connection failed'
}

/** Rejects when `signal` aborts, so a hanging resolver cannot outlast the time limit. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error)
    const onAbort = () => reject(signal.reason as Error)
    signal.addEventListener('abort', onAbort, { once: true })
    void promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** Refuses a checked name whose addresses are not all public (a public name pointing into the private network). */
async function checkResolved(url: URL, resolve: ResolveHost, signal: AbortSignal): Promise<void> {
  const host = url.hostname
  let addresses: string[]
  try {
    addresses = await untilAborted(resolve(host), signal)
  } catch (err) {
    if (signal.aborted) throw err
    throw fetchFailed(`could not connect to ${host} (${connectionProblem(err)})`)
  }
  if (addresses.length === 0) throw fetchFailed(`could not connect to ${host} (the host name does not resolve)`)
  for (const address of addresses) {
    const why = addressRefusal(address)
    if (why) throw fetchFailed(privateAddress(url, `${host} resolves to ${address}: ${why}`))
  }
}

/**
 * The file name a `Content-Disposition` header gives: `filename*` (RFC 8187, UTF-8 or ISO-8859-1) before
 * `filename` (quoted or a token); null when it names none.
 * @example contentDispositionFileName(`attachment; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf`) // 'Résumé.pdf'
 */
export function contentDispositionFileName(header: string | null): string | null {
  if (!header) return null
  const extended = /(?:^|;)\s*filename\*\s*=\s*([\w!#$%&+^`{}~.-]*)'[^']*'([^;\s]+)/i.exec(header)
  if (extended) {
    const charset = extended[1]!.toLowerCase()
    try {
      const name = charset === 'iso-8859-1' || charset === 'latin1'
        ? extended[2]!.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
        : decodeURIComponent(extended[2]!)
      if (name.trim()) return name
    } catch {
      // A broken encoding: fall through to the plain parameter.
    }
  }
  const plain = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(header)
  if (!plain) return null
  const name = plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : plain[2]!
  return name.trim() ? name : null
}

function urlFileName(url: URL): string | null {
  const segment = url.pathname.split('/').pop() ?? ''
  if (!segment) return null
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/** Reads the body, refusing the moment it passes `maxBytes`. */
function readLimited(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array> {
  return readStreamWithin(body, maxBytes, { tooLarge: () => fetchFailed(`the file is larger than ${formatBytes(maxBytes)}; link a smaller file`) })
}

/**
 * Downloads `rawUrl` once: the URL and every redirect target checked against `policy` (and `resolve`), at most 5
 * redirects, `timeoutMs` for all of it, at most `maxBytes` read. Throws `ApiError` 422 `url_fetch_failed` (field
 * `url`) naming the cause: a refused address, a non-http(s) URL, the server's status (`answered 404 Not Found`), too
 * many redirects, the time limit (`did not finish within 15 s`), the size (`is larger than 64 MB`), or the
 * connection.
 * @example const { bytes, contentType, fileName } = await fetchMedia(body.url, { policy, maxBytes: 64 * 1024 * 1024 })
 */
export async function fetchMedia(rawUrl: string, options: FetchMediaOptions): Promise<FetchedMedia> {
  const timeoutMs = options.timeoutMs ?? MEDIA_FETCH_TIMEOUT_MS
  const fetchImpl = options.fetch ?? fetch
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort(new Error(`media download did not finish within ${seconds(timeoutMs)}`))
  }, timeoutMs)
  const callerAbort = () => controller.abort(options.signal?.reason)
  if (options.signal?.aborted) callerAbort()
  options.signal?.addEventListener('abort', callerAbort, { once: true })
  let host = ''
  let received = false
  try {
    let current = rawUrl
    for (let redirects = 0; ; redirects++) {
      const check = checkMediaUrl(current, options.policy)
      if (!check.ok) throw fetchFailed(redirects === 0 ? check.reason : `was redirected to ${current.slice(0, 300)}, which ${check.reason}`)
      const url = check.url
      host = url.host
      if (options.resolve && !check.allowListed && !options.policy.allowPrivate && !isIpLiteral(url.hostname.replace(/^\[|\]$/g, ''))) {
        await checkResolved(url, options.resolve, controller.signal)
      }
      // The fragment is the client's own; it is never sent.
      url.hash = ''
      const res = await fetchImpl(url.href, {
        redirect: 'manual',
        signal: controller.signal,
        headers: { accept: '*/*', 'user-agent': 'wa-gateway (media by URL)' },
      })
      received = true
      if (REDIRECTS.has(res.status)) {
        await res.body?.cancel().catch(() => {})
        const location = res.headers.get('location')
        if (!location) throw fetchFailed(`${host} answered ${res.status} (a redirect) without saying where to`)
        if (redirects >= MEDIA_MAX_REDIRECTS) throw fetchFailed(`was redirected more than ${MEDIA_MAX_REDIRECTS} times; link the file itself`)
        try {
          current = new URL(location, url).href
        } catch {
          throw fetchFailed(`${host} redirected to "${location.slice(0, 200)}", which is not a URL`)
        }
        received = false
        continue
      }
      if (res.status < 200 || res.status > 299) {
        await res.body?.cancel().catch(() => {})
        const reason = res.statusText || REASONS[res.status] || ''
        throw fetchFailed(`${host} answered ${res.status}${reason ? ` ${reason}` : ''}; ${statusAdvice(res.status)}`)
      }
      const declared = res.headers.get('content-length')
      if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > options.maxBytes) {
        await res.body?.cancel().catch(() => {})
        throw fetchFailed(`the file is larger than ${formatBytes(options.maxBytes)} (the server says ${declared.trim()} bytes); link a smaller file`)
      }
      const bytes = await readLimited(res.body, options.maxBytes)
      return {
        bytes,
        contentType: res.headers.get('content-type'),
        fileName: contentDispositionFileName(res.headers.get('content-disposition')) ?? urlFileName(url),
      }
    }
  } catch (err) {
    if (err instanceof ApiError) throw err
    if (timedOut) throw fetchFailed(`the download did not finish within ${seconds(timeoutMs)}; link a faster or smaller file`)
    if (options.signal?.aborted) throw options.signal.reason
    if (received) throw fetchFailed(`the connection to ${host} broke before the whole file arrived (${connectionProblem(err)})`)
    throw fetchFailed(`could not connect to ${host} (${connectionProblem(err)})`)
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', callerAbort)
  }
}
