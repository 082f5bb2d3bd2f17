/**
 * api/media-fetch.ts against real HTTP servers on 127.0.0.1 (node:http), with the global fetch: the address policy
 * on the URL and on every redirect, the time limit, the byte limit with and without Content-Length, and the file name.
 * Then both media modules bundled by wrangler and run under workerd, to hold them to their Workers promise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { ApiError } from '../../api/errors.js'
import {
  checkMediaUrl,
  contentDispositionFileName,
  fetchMedia,
  mediaHostAllowed,
  parseMediaAllowEntry,
  parseMediaUrlPolicy,
  type FetchMediaOptions,
  type MediaUrlPolicy,
} from '../../api/media-fetch.js'
import { ConfigError } from '../../db/shared/settings.js'
import { buildWorker } from '../../infra/build-worker.js'

interface TestServer {
  port: number
  origin: string
  /** Paths requested, in order. */
  requests: string[]
}

const servers: Array<{ server: Server; sockets: Set<Socket> }> = []

/** A server on 127.0.0.1 with `handler`; closed (connections destroyed) after each test. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, self: TestServer) => void): Promise<TestServer> {
  const self: TestServer = { port: 0, origin: '', requests: [] }
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    self.requests.push(req.url ?? '')
    handler(req, res, self)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  self.port = (server.address() as AddressInfo).port
  self.origin = `http://127.0.0.1:${self.port}`
  servers.push({ server, sockets })
  return self
}

afterEach(async () => {
  for (const { server, sockets } of servers.splice(0)) {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
})

const MB = 1024 * 1024
const PDF = Buffer.from('%PDF-1.4\n%%EOF\n')

function policy(env: Record<string, string>): MediaUrlPolicy {
  return parseMediaUrlPolicy(env)
}

function options(p: MediaUrlPolicy, extra: Partial<FetchMediaOptions> = {}): FetchMediaOptions {
  return { policy: p, maxBytes: 64 * MB, ...extra }
}

/** The refusal `fetchMedia` threw: a 422 `url_fetch_failed` on the `url` field. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => {
      throw new Error('expected the fetch to be refused')
    },
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ApiError)
  const apiError = err as ApiError
  expect(apiError.status).toBe(422)
  expect(apiError.code).toBe('url_fetch_failed')
  expect(apiError.message.startsWith('url: ')).toBe(true)
  expect(apiError.errors).toEqual([{ path: 'url', code: 'url_fetch_failed', message: apiError.message.slice('url: '.length) }])
  return apiError.message
}

describe('fetchMedia: success', () => {
  it('returns the bytes, the Content-Type and the URL\'s last segment as the file name', async () => {
    const s = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/pdf' }).end(PDF))
    const got = await fetchMedia(`${s.origin}/files/Quote%202026.pdf?sig=abc#page=2`, options(policy({ MEDIA_ALLOW_HOSTS: `127.0.0.1:${s.port}` })))
    expect(Buffer.from(got.bytes).equals(PDF)).toBe(true)
    expect(got.contentType).toBe('application/pdf')
    expect(got.fileName).toBe('Quote 2026.pdf')
    expect(s.requests).toEqual(['/files/Quote%202026.pdf?sig=abc'])
  })

  it('takes the file name from Content-Disposition, filename* first', async () => {
    const s = await serve((req, res) => {
      const headers: Record<string, string> = {
        '/both': `attachment; filename="Resume.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20final.pdf`,
        '/quoted': 'attachment; filename="the \\"best\\" offer.pdf"',
        '/token': 'inline; filename=offer.pdf',
      }
      res.writeHead(200, { 'content-disposition': headers[req.url ?? '']! }).end(PDF)
    })
    const p = options(policy({ MEDIA_ALLOW_PRIVATE: '1' }))
    expect((await fetchMedia(`${s.origin}/both`, p)).fileName).toBe('Résumé final.pdf')
    expect((await fetchMedia(`${s.origin}/quoted`, p)).fileName).toBe('the "best" offer.pdf')
    expect((await fetchMedia(`${s.origin}/token`, p)).fileName).toBe('offer.pdf')
  })

  it('has no file name when neither the header nor the path gives one', async () => {
    const s = await serve((_req, res) => res.end(PDF))
    const got = await fetchMedia(`${s.origin}/`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' })))
    expect(got.fileName).toBeNull()
    expect(got.contentType).toBeNull()
  })

  it('accepts a body exactly at the limit', async () => {
    const s = await serve((_req, res) => res.end(Buffer.alloc(1000, 1)))
    const got = await fetchMedia(`${s.origin}/exact`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' }), { maxBytes: 1000 }))
    expect(got.bytes.length).toBe(1000)
  })
})

describe('fetchMedia: the address policy', () => {
  it('refuses 127.0.0.1 without connecting, unless MEDIA_ALLOW_PRIVATE or MEDIA_ALLOW_HOSTS allows it', async () => {
    const s = await serve((_req, res) => res.end(PDF))
    const url = `${s.origin}/a.pdf`
    const message = await refusal(fetchMedia(url, options(policy({}))))
    expect(message).toContain('points at a private address (127.0.0.1: loopback (127.0.0.0/8))')
    expect(message).toContain(`add 127.0.0.1:${s.port} to MEDIA_ALLOW_HOSTS`)
    // Another port of the same host is not this one.
    await refusal(fetchMedia(url, options(policy({ MEDIA_ALLOW_HOSTS: `127.0.0.1:${s.port + 1}` }))))
    // Without a port, an entry allows the default port only.
    await refusal(fetchMedia(url, options(policy({ MEDIA_ALLOW_HOSTS: '127.0.0.1' }))))
    expect(s.requests).toEqual([])
    expect((await fetchMedia(url, options(policy({ MEDIA_ALLOW_PRIVATE: '1' })))).bytes.length).toBe(PDF.length)
    expect((await fetchMedia(url, options(policy({ MEDIA_ALLOW_HOSTS: `files.lan, 127.0.0.1:${s.port}` })))).bytes.length).toBe(PDF.length)
    expect((await fetchMedia(url, options(policy({ MEDIA_ALLOW_HOSTS: '127.0.0.1:*' })))).bytes.length).toBe(PDF.length)
    expect(s.requests).toHaveLength(3)
  })

  it('refuses local names and other non-public literals', async () => {
    const p = options(policy({}))
    expect(await refusal(fetchMedia('http://localhost:9/x', p))).toContain('points at a private address (localhost is a loopback name (localhost))')
    expect(await refusal(fetchMedia('http://printer.local/x', p))).toContain('mDNS')
    expect(await refusal(fetchMedia('http://metadata/computeMetadata', p))).toContain('private')
    expect(await refusal(fetchMedia('http://[::1]:9/x', p))).toContain('loopback (::1)')
    expect(await refusal(fetchMedia('http://10.1.2.3/x', p))).toContain('private (10.0.0.0/8)')
    expect(await refusal(fetchMedia('http://169.254.169.254/latest/meta-data', p))).toContain('link-local')
    // Numeric host forms are canonicalised by the URL parser before the check.
    expect(await refusal(fetchMedia('http://2130706433/x', p))).toContain('loopback')
    expect(await refusal(fetchMedia('http://[::ffff:7f00:1]/x', p))).toContain('loopback')
  })

  it('refuses other schemes, credentials and malformed URLs', async () => {
    const p = options(policy({ MEDIA_ALLOW_PRIVATE: '1' }))
    expect(await refusal(fetchMedia('ftp://files.example.com/a.pdf', p))).toBe('url: must use http or https (got ftp)')
    expect(await refusal(fetchMedia('file:///etc/passwd', p))).toContain('got file')
    expect(await refusal(fetchMedia('data:application/pdf;base64,JVBERi0=', p))).toContain('got data')
    expect(await refusal(fetchMedia('https://user:pw@files.example.com/a.pdf', p))).toContain('user name or password')
    expect(await refusal(fetchMedia('files.example.com/a.pdf', p))).toContain('absolute http:// or https:// URL')
    expect(await refusal(fetchMedia('https://files.example.com/a b.pdf', p))).toContain('spaces')
  })

  it('refuses a name that resolves to a private address when a resolver is given, and skips it for allowed hosts', async () => {
    const asked: string[] = []
    const resolve = async (host: string) => {
      asked.push(host)
      return host === 'cdn.example.com' ? ['93.184.216.34', '10.0.0.7'] : ['93.184.216.34']
    }
    const message = await refusal(fetchMedia('https://cdn.example.com/a.pdf', options(policy({}), { resolve })))
    expect(message).toContain('points at a private address (cdn.example.com resolves to 10.0.0.7: private (10.0.0.0/8))')
    expect(asked).toEqual(['cdn.example.com'])
    // A public answer goes on to the fetch (here one that answers by itself).
    const fakeFetch = (async () => new Response(PDF, { status: 200 })) as typeof fetch
    const got = await fetchMedia('https://files.example.com/a.pdf', options(policy({}), { resolve, fetch: fakeFetch }))
    expect(got.fileName).toBe('a.pdf')
    await fetchMedia('https://cdn.example.com/a.pdf', options(policy({ MEDIA_ALLOW_HOSTS: 'cdn.example.com' }), { resolve, fetch: fakeFetch }))
    expect(asked).toEqual(['cdn.example.com', 'files.example.com'])
  })

  it('turns a resolver failure into a connection failure', async () => {
    const resolve = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example.com'), { code: 'ENOTFOUND' })
    }
    expect(await refusal(fetchMedia('https://nowhere.example.com/a.pdf', options(policy({}), { resolve })))).toBe(
      'url: could not connect to nowhere.example.com (the host name does not resolve)',
    )
    expect(await refusal(fetchMedia('https://empty.example.com/a.pdf', options(policy({}), { resolve: async () => [] })))).toContain('does not resolve')
  })
})

describe('fetchMedia: redirects', () => {
  it('refuses a redirect to a private address it was not allowed, without following it', async () => {
    const target = await serve((_req, res) => res.end(PDF))
    const s = await serve((req, res) => {
      const to = req.url === '/to-target' ? `${target.origin}/secret` : 'http://10.0.0.1/admin'
      res.writeHead(302, { location: to }).end()
    })
    const p = options(policy({ MEDIA_ALLOW_HOSTS: `127.0.0.1:${s.port}` }))
    const message = await refusal(fetchMedia(`${s.origin}/to-target`, p))
    expect(message).toContain(`was redirected to ${target.origin}/secret, which points at a private address (127.0.0.1: loopback`)
    expect(await refusal(fetchMedia(`${s.origin}/to-lan`, p))).toContain('was redirected to http://10.0.0.1/admin, which points at a private address (10.0.0.1: private (10.0.0.0/8))')
    expect(target.requests).toEqual([])
  })

  it('refuses a redirect to another scheme', async () => {
    const s = await serve((_req, res) => res.writeHead(301, { location: 'file:///etc/passwd' }).end())
    expect(await refusal(fetchMedia(`${s.origin}/`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' }))))).toContain(
      'was redirected to file:///etc/passwd, which must use http or https (got file)',
    )
  })

  it('follows a chain of up to 5 redirects across allowed hosts, naming the file after the last URL', async () => {
    const b = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/pdf' }).end(PDF))
    const a = await serve((req, res) => {
      const step = Number(/^\/hop\/(\d+)$/.exec(req.url ?? '')?.[1] ?? 0)
      // 301, 302, 303, 307, 308, then to the other server; relative Locations resolve against the current URL.
      const statuses = [301, 302, 303, 307, 308]
      if (step < 4) res.writeHead(statuses[step]!, { location: `/hop/${step + 1}` }).end()
      else res.writeHead(statuses[step]!, { location: `${b.origin}/final/Report.pdf` }).end()
    })
    const p = options(policy({ MEDIA_ALLOW_HOSTS: `127.0.0.1:${a.port},127.0.0.1:${b.port}` }))
    const got = await fetchMedia(`${a.origin}/hop/0`, p)
    expect(Buffer.from(got.bytes).equals(PDF)).toBe(true)
    expect(got.fileName).toBe('Report.pdf')
    expect(a.requests).toEqual(['/hop/0', '/hop/1', '/hop/2', '/hop/3', '/hop/4'])
    expect(b.requests).toEqual(['/final/Report.pdf'])
  })

  it('gives up after 5 redirects', async () => {
    const s = await serve((req, res) => res.writeHead(302, { location: `/r${(req.url ?? '').length}` }).end())
    expect(await refusal(fetchMedia(`${s.origin}/start`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' }))))).toBe(
      'url: was redirected more than 5 times; link the file itself',
    )
    expect(s.requests).toHaveLength(6)
  })

  it('refuses a redirect without a Location', async () => {
    const s = await serve((_req, res) => res.writeHead(302).end())
    expect(await refusal(fetchMedia(`${s.origin}/`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' }))))).toContain('answered 302 (a redirect) without saying where to')
  })
})

describe('fetchMedia: failures', () => {
  it('names the status of an error answer', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/gone') res.writeHead(410, 'Gone Fishing').end('no')
      else if (req.url === '/private') res.writeHead(403).end('sign in first')
      else if (req.url === '/broken') res.writeHead(503).end()
      else res.writeHead(404).end('no such file')
    })
    const p = options(policy({ MEDIA_ALLOW_PRIVATE: '1' }))
    expect(await refusal(fetchMedia(`${s.origin}/missing.pdf`, p))).toBe(
      `url: 127.0.0.1:${s.port} answered 404 Not Found; check the URL`,
    )
    expect(await refusal(fetchMedia(`${s.origin}/gone`, p))).toContain('answered 410 Gone Fishing; check the URL')
    expect(await refusal(fetchMedia(`${s.origin}/private`, p))).toContain('answered 403 Forbidden; the file must be downloadable without signing in')
    expect(await refusal(fetchMedia(`${s.origin}/broken`, p))).toContain('answered 503 Service Unavailable; the server could not serve the file; try again later')
  })

  it('stops a body that never ends at the time limit', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4' })
      res.write(Buffer.alloc(1024))
      // …and never ends it.
    })
    const started = Date.now()
    const message = await refusal(fetchMedia(`${s.origin}/slow.mp4`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' }), { timeoutMs: 300 })))
    expect(message).toBe('url: the download did not finish within 0.3 s; link a faster or smaller file')
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('stops a server that never answers at the time limit', async () => {
    const s = await serve(() => {})
    const message = await refusal(fetchMedia(`${s.origin}/`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' }), { timeoutMs: 250 })))
    expect(message).toContain('did not finish within 0.25 s')
  })

  it('says 15 s by default', async () => {
    // A resolver that never answers stands in for a slow network; fake timers move the clock.
    vi.useFakeTimers()
    try {
      const pending = fetchMedia('https://files.example.com/a.pdf', options(policy({}), { resolve: () => new Promise<string[]>(() => {}) }))
      const settled = refusal(pending)
      await vi.advanceTimersByTimeAsync(15_000)
      expect(await settled).toBe('url: the download did not finish within 15 s; link a faster or smaller file')
    } finally {
      vi.useRealTimers()
    }
  })

  it('refuses a declared Content-Length above the limit before reading', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(5000) })
      res.write(Buffer.alloc(100))
      // The rest would follow; the client must not wait for it.
    })
    const message = await refusal(fetchMedia(`${s.origin}/big.pdf`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' }), { maxBytes: 1000, timeoutMs: 5000 })))
    expect(message).toBe('url: the file is larger than 1000 bytes (the server says 5000 bytes); link a smaller file')
  })

  it('refuses a body without Content-Length the moment it passes the limit, and closes the connection', async () => {
    let written = 0
    let hungUp = false
    const s = await serve((_req, res) => {
      // The answer never finishes, so its 'close' means the client dropped the connection.
      res.on('close', () => (hungUp = true))
      res.writeHead(200, { 'content-type': 'video/mp4' })
      // An endless chunked body: writes while the client reads, stops when the connection closes.
      const pump = () => {
        while (!res.destroyed && written < 512 * MB) {
          written += 64 * 1024
          if (!res.write(Buffer.alloc(64 * 1024))) {
            res.once('drain', pump)
            return
          }
        }
      }
      pump()
    })
    const message = await refusal(fetchMedia(`${s.origin}/endless.mp4`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' }), { maxBytes: MB, timeoutMs: 10_000 })))
    expect(message).toBe('url: the file is larger than 1 MB; link a smaller file')
    await expect.poll(() => hungUp, { timeout: 5000 }).toBe(true)
    // Reading stopped near the limit, not after the whole 512 MB.
    expect(written).toBeLessThan(64 * MB)
  })

  it('names a refused connection and a connection that breaks mid-body', async () => {
    const s = await serve((req, res) => {
      res.writeHead(200, { 'content-length': '10000' })
      res.write(Buffer.alloc(100), () => res.socket?.destroy())
    })
    const p = options(policy({ MEDIA_ALLOW_PRIVATE: '1' }))
    expect(await refusal(fetchMedia(`${s.origin}/cut.pdf`, p))).toMatch(new RegExp(`^url: the connection to 127\\.0\\.0\\.1:${s.port} broke before the whole file arrived`))
    const closed = await serve(() => {})
    const port = closed.port
    const { server } = servers.pop()!
    await new Promise((resolve) => server.close(resolve))
    expect(await refusal(fetchMedia(`http://127.0.0.1:${port}/a.pdf`, p))).toBe(`url: could not connect to 127.0.0.1:${port} (the connection was refused)`)
  })

  it('rethrows the caller\'s own cancellation as it is', async () => {
    const s = await serve(() => {})
    const controller = new AbortController()
    const reason = new Error('the client went away')
    setTimeout(() => controller.abort(reason), 50)
    await expect(fetchMedia(`${s.origin}/`, options(policy({ MEDIA_ALLOW_PRIVATE: '1' }), { signal: controller.signal }))).rejects.toBe(reason)
  })
})

describe('parseMediaUrlPolicy', () => {
  it('reads host, host:port, host:*, [ipv6]:port and *.suffix entries', () => {
    const p = parseMediaUrlPolicy({ MEDIA_ALLOW_HOSTS: ' Files.LAN , 10.0.0.5:8080, nas.lan:*, [::1]:9000, [fd00::1], *.corp.example ', MEDIA_ALLOW_PRIVATE: '0' })
    expect(p).toEqual({
      allowPrivate: false,
      allowHosts: [
        { host: 'files.lan', suffix: false, port: 'default' },
        { host: '10.0.0.5', suffix: false, port: 8080 },
        { host: 'nas.lan', suffix: false, port: '*' },
        { host: '[::1]', suffix: false, port: 9000 },
        { host: '[fd00::1]', suffix: false, port: 'default' },
        { host: 'corp.example', suffix: true, port: 'default' },
      ],
    })
    expect(parseMediaUrlPolicy({})).toEqual({ allowHosts: [], allowPrivate: false })
    expect(parseMediaUrlPolicy({ MEDIA_ALLOW_PRIVATE: 'on' }).allowPrivate).toBe(true)
  })

  it('refuses malformed settings with a ConfigError that says what to write', () => {
    expect(() => parseMediaUrlPolicy({ MEDIA_ALLOW_HOSTS: '::1' })).toThrow(new ConfigError('MEDIA_ALLOW_HOSTS entry "::1" is an IPv6 address without brackets; write [::1] or [::1]:8080'))
    expect(() => parseMediaUrlPolicy({ MEDIA_ALLOW_HOSTS: 'http://files.lan/' })).toThrow(/MEDIA_ALLOW_HOSTS entry "http:\/\/files.lan\/" is not a host name or address/)
    expect(() => parseMediaUrlPolicy({ MEDIA_ALLOW_HOSTS: 'files.lan:70000' })).toThrow(/port must be 1-65535/)
    expect(() => parseMediaUrlPolicy({ MEDIA_ALLOW_HOSTS: 'fil*s.lan' })).toThrow(/\* may only start a suffix/)
    expect(() => parseMediaUrlPolicy({ MEDIA_ALLOW_PRIVATE: 'maybe' })).toThrow(ConfigError)
    expect(parseMediaAllowEntry('a b')).toHaveProperty('error')
  })

  it('matches an entry without a port on the scheme\'s default port only', () => {
    const p = parseMediaUrlPolicy({ MEDIA_ALLOW_HOSTS: 'files.lan,*.corp.example:8443,10.0.0.5:443' })
    expect(mediaHostAllowed(new URL('http://files.lan/a'), p)).toBe(true)
    expect(mediaHostAllowed(new URL('https://files.lan/a'), p)).toBe(true)
    expect(mediaHostAllowed(new URL('https://files.lan:443/a'), p)).toBe(true)
    expect(mediaHostAllowed(new URL('http://files.lan:8080/a'), p)).toBe(false)
    expect(mediaHostAllowed(new URL('https://a.corp.example:8443/'), p)).toBe(true)
    expect(mediaHostAllowed(new URL('https://corp.example:8443/'), p)).toBe(false)
    expect(mediaHostAllowed(new URL('https://10.0.0.5/'), p)).toBe(true)
    expect(mediaHostAllowed(new URL('http://10.0.0.5/'), p)).toBe(false)
    expect(checkMediaUrl('http://files.lan/a.pdf', p)).toMatchObject({ ok: true, allowListed: true })
    expect(checkMediaUrl('http://files.lan:8080/a.pdf', p)).toMatchObject({ ok: false })
  })
})

describe('contentDispositionFileName', () => {
  it('reads filename* (UTF-8 and ISO-8859-1) before filename, and nothing else', () => {
    expect(contentDispositionFileName(`attachment; filename*=utf-8''%F0%9F%93%84%20doc.pdf`)).toBe('📄 doc.pdf')
    expect(contentDispositionFileName(`attachment; filename*=iso-8859-1'en'caf%E9.txt`)).toBe('café.txt')
    // A broken encoding falls back to the plain parameter.
    expect(contentDispositionFileName(`attachment; filename*=UTF-8''%E9%ZZ; filename="plain.txt"`)).toBe('plain.txt')
    expect(contentDispositionFileName('attachment; name="field"; myfilename=x')).toBeNull()
    expect(contentDispositionFileName('attachment')).toBeNull()
    expect(contentDispositionFileName('attachment; filename=""')).toBeNull()
    expect(contentDispositionFileName(null)).toBeNull()
  })
})

describe('both modules under workerd (Miniflare), without nodejs_compat', () => {
  const ROOT = resolve(import.meta.dirname, '..', '..')
  let dir = ''
  let mf: Miniflare | undefined

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wa-media-workerd-'))
    // A worker that downloads ?url= with fetchMedia, the policy read from the query, and sniffs what came.
    writeFileSync(
      join(dir, 'worker.ts'),
      `import { ApiError } from ${JSON.stringify(join(ROOT, 'api/errors.ts'))}
import { fetchMedia, parseMediaUrlPolicy } from ${JSON.stringify(join(ROOT, 'api/media-fetch.ts'))}
import { sanitizeFileName, sniffMediaType } from ${JSON.stringify(join(ROOT, 'api/media-type.ts'))}
export default {
  async fetch(request: Request): Promise<Response> {
    const q = new URL(request.url).searchParams
    try {
      const got = await fetchMedia(q.get('url') ?? '', {
        policy: parseMediaUrlPolicy(Object.fromEntries(q)),
        maxBytes: Number(q.get('max') ?? 1048576),
        timeoutMs: Number(q.get('timeout') ?? 15000),
      })
      const sniffed = sniffMediaType(got.bytes, got.fileName)
      return Response.json({ size: got.bytes.length, contentType: got.contentType, fileName: got.fileName, ...sniffed, safeName: sanitizeFileName(got.fileName, sniffed.mime) })
    } catch (err) {
      if (err instanceof ApiError) return Response.json({ status: err.status, code: err.code, error: err.message }, { status: 422 })
      throw err
    }
  },
}
`,
    )
    const config = join(dir, 'wrangler.toml')
    // No compatibility flags: a node: import anywhere in the modules' imports would fail the build or the load.
    writeFileSync(config, ['name = "wa-media-workerd-test"', `main = ${JSON.stringify(join(dir, 'worker.ts'))}`, 'compatibility_date = "2026-04-26"', ''].join('\n'))
    const built = await buildWorker({ outdir: join(dir, 'out'), config })
    mf = new Miniflare({
      modules: true,
      scriptPath: built.script,
      modulesRoot: dirname(built.script),
      compatibilityDate: '2026-04-26',
      // workerd itself reaches only public addresses unless told otherwise; the test servers are on 127.0.0.1.
      outboundService: { network: { allow: ['public', 'private', 'local'] } },
    })
    await mf.ready
  }, 180_000)

  afterAll(async () => {
    await mf?.dispose()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const ask = async (query: Record<string, string>) => {
    const res = await mf!.dispatchFetch(`http://media.test/?${new URLSearchParams(query).toString()}`)
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  it('follows a redirect with the platform\'s fetch and sniffs the file', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/start') res.writeHead(302, { location: '/files/quote.bin' }).end()
      else res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename*=UTF-8''Quote%20%E2%80%94%20Dec.pdf` }).end(PDF)
    })
    const { status, body } = await ask({ url: `${s.origin}/start`, MEDIA_ALLOW_HOSTS: `127.0.0.1:${s.port}` })
    expect(status).toBe(200)
    expect(body).toEqual({
      size: PDF.length, contentType: 'application/octet-stream', fileName: 'Quote — Dec.pdf',
      mime: 'application/pdf', kind: 'document', safeName: 'Quote — Dec.pdf',
    })
    expect(s.requests).toEqual(['/start', '/files/quote.bin'])
  })

  it('refuses a private address, an error status, an oversized stream and a stalled body', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/missing') return res.writeHead(404).end()
      res.writeHead(200, { 'content-type': 'video/mp4' })
      if (req.url === '/stall') return res.write(Buffer.alloc(10))
      // An endless body: chunks as long as the connection is open.
      const pump = () => {
        while (!res.destroyed) if (!res.write(Buffer.alloc(64 * 1024))) return res.once('drain', pump)
      }
      pump()
    })
    const refused = await ask({ url: `${s.origin}/a.pdf` })
    expect(refused.body).toMatchObject({ status: 422, code: 'url_fetch_failed' })
    expect(refused.body.error).toContain('points at a private address (127.0.0.1: loopback (127.0.0.0/8))')
    expect(s.requests).toEqual([])
    const allowed = { MEDIA_ALLOW_PRIVATE: '1' }
    expect((await ask({ url: `${s.origin}/missing`, ...allowed })).body.error).toContain('answered 404 Not Found')
    expect((await ask({ url: `${s.origin}/endless`, ...allowed, max: String(MB) })).body.error).toBe('url: the file is larger than 1 MB; link a smaller file')
    expect((await ask({ url: `${s.origin}/stall`, ...allowed, timeout: '300' })).body.error).toBe('url: the download did not finish within 0.3 s; link a faster or smaller file')
  })
})
