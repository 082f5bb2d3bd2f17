import { EventEmitter } from 'node:events'
import type { Agent, ClientRequest } from 'node:http'
import { Agent as Dispatcher } from 'undici'
import { HttpsProxyAgent } from 'https-proxy-agent'
import { SocksProxyAgent } from 'socks-proxy-agent'
import { maskProxyUrl } from '../../db/shared/proxy.js'

/**
 * The route one session's connections take through its proxy (runner/README.md, Proxy per number): one agent for the
 * WebSocket and the media uploads (node:http and ws take an agent), and a dispatcher over the same agent for what
 * Baileys downloads with fetch() (media, app-state and history blobs: fetch takes an undici dispatcher, not an agent). http:// and https:// proxies tunnel with CONNECT (https-proxy-agent: WhatsApp's
 * endpoints are wss:// and https://, so a forwarding proxy would not do); socks5:// and socks5h:// go through
 * socks-proxy-agent. The URL, password included, stays inside the agent: what leaves this module is the masked URL
 * and failures with the password cut out.
 */

/** How the session's `detail` begins when its proxy refused or failed. */
export const PROXY_UNREACHABLE = 'proxy unreachable:'

export interface ProxyRoute {
  readonly agent: Agent
  /** For fetch(): its connections are opened by `agent`. */
  readonly dispatcher: Dispatcher
  /** The URL as shown (`socks5://user:***@host:1080`). */
  readonly shown: string
  /** What went wrong reaching through the proxy since `reset()` (password cut out), or null. */
  failure: string | null
  reset(): void
}

/**
 * An agent for `url` (checked by the API). `tls` holds the TLS options of the far end (the loopback server's CA in
 * tests); they apply to the tunnelled connection, not to the proxy.
 */
export function createProxyRoute(url: string, tls: { ca?: string } = {}): ProxyRoute {
  const u = new URL(url)
  const secrets = [...new Set([u.password, safeDecode(u.password)])].filter((s) => s.length >= 1)
  const clean = (text: string) => secrets.reduce((t, s) => t.split(s).join('***'), text)
  const agent = /^socks/.test(u.protocol) ? new SocksProxyAgent(u) : new HttpsProxyAgent(u)
  const dispatcher = new Dispatcher({
    connect: (opts, done) => {
      // The agents speak to node:http's request: this stands in for it (they emit on it, wait for its socket, and
      // destroy it when the tunnel fails after it was handed over, which here ends that socket).
      let handed: { destroy(): void } | null = null
      const req = Object.assign(new EventEmitter(), { destroy: () => handed?.destroy() }) as unknown as ClientRequest
      const secureEndpoint = opts.protocol === 'https:'
      const port = Number(opts.port) || (secureEndpoint ? 443 : 80)
      const target = { host: opts.hostname, port }
      agent.connect(req, secureEndpoint ? { ...target, secureEndpoint, ...(opts.servername ? { servername: opts.servername } : {}) } : { ...target, secureEndpoint })
        .then((socket) => {
          handed = socket
          req.emit('socket', socket)
          done(null, socket)
        }, (err: Error) => done(err, null))
    },
  })
  const route: ProxyRoute = {
    agent,
    dispatcher,
    shown: maskProxyUrl(u),
    failure: null,
    reset: () => (route.failure = null),
  }
  const connect = agent.connect.bind(agent)
  type Connect = HttpsProxyAgent<string>['connect']
  agent.connect = async (req: Parameters<Connect>[0], opts: Parameters<Connect>[1]) => {
    // A CONNECT answered with anything but 200 does not throw: https-proxy-agent hands the answer to the request as if
    // the far end had sent it, and a WebSocket would wait on it for good (Baileys listens to 'unexpected-response').
    // Refused here, it is an error the request reports like any network error.
    let refused: string | null = null
    req.once('proxyConnect', (res: { statusCode: number; statusText?: string }) => {
      if (res.statusCode !== 200) refused = `the proxy answered ${res.statusCode} ${res.statusText ?? ''}`.trim()
    })
    try {
      // The far end's TLS options go with each connection: https-proxy-agent drops the options it was made with.
      const socket = await connect(req, { ...opts, ...tls })
      if (refused !== null) {
        socket.destroy()
        throw new Error(refused)
      }
      return socket
    } catch (err) {
      route.failure = clean((err as Error).message || String(err))
      throw err
    }
  }
  return route
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
