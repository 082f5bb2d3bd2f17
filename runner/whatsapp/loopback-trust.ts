import { readFileSync } from 'node:fs'
import { Agent } from 'node:https'
import { isIP } from 'node:net'
import { ConfigError } from '../../db/shared/settings.js'

/**
 * Where the runner's Baileys sockets connect, and what they trust.
 *
 * Production uses WhatsApp's endpoint and root as Baileys ships them. For tests, demos and benchmarks the runner can
 * point at the loopback WhatsApp server (tests/support/wa-loopback), whose Noise certificates are signed by a test
 * root generated at each server start. This is the runner's one socket setting: it is passed to each socket it
 * opens (`trustedRootKey`, a socket option runner/whatsapp/baileys-patch.ts adds), never set for the whole process.
 * That root is trusted only when BOTH hold:
 * - `WA_LOOPBACK_ROOT_KEY` is set (64 hex characters, the server's `root_key`), and
 * - `WA_WEBSOCKET_URL` is a ws:// or wss:// URL whose host is a loopback IP literal: 127.0.0.0/8 or [::1].
 *   `localhost` is refused on purpose: it is a name, and a resolver or hosts file can send it elsewhere.
 * Anything else refuses to start with a ConfigError that says what to fix. `WA_WEBSOCKET_URL` without a root key is
 * accepted only if it is WhatsApp's own URL.
 *
 * The loopback's media endpoint is HTTPS with a test CA; `WA_LOOPBACK_CA_PEM` (the PEM itself) or
 * `WA_LOOPBACK_CA_FILE` (a path) provides it, and uploads then go through an https.Agent trusting only that CA.
 */
export const WHATSAPP_WEBSOCKET_URL = 'wss://web.whatsapp.com/ws/chat'

export type WhatsAppEndpoint =
  | { kind: 'whatsapp' }
  | { kind: 'loopback'; waWebSocketUrl: string; rootKey: Buffer; caPem?: string }

/**
 * The Baileys socket config keys this module sets: a subset of `UserFacingSocketConfig`, plus `trustedRootKey`
 * (the certificate root this socket's Noise handshake checks; WhatsApp's when absent).
 */
export type LoopbackSocketOverrides = { waWebSocketUrl?: string; fetchAgent?: Agent; trustedRootKey?: Uint8Array }

type Env = Record<string, string | undefined>
type ReadFile = (path: string) => string

const LOOPBACK_VARS = ['WA_LOOPBACK_ROOT_KEY', 'WA_LOOPBACK_CA_PEM', 'WA_LOOPBACK_CA_FILE'] as const

/**
 * Validates the environment and says which endpoint to use. Pure apart from reading `WA_LOOPBACK_CA_FILE`
 * through `readFile` (injectable).
 * @example resolveWhatsAppEndpoint(process.env) // { kind: 'whatsapp' } when nothing is set
 */
export function resolveWhatsAppEndpoint(env: Env, readFile: ReadFile = readUtf8): WhatsAppEndpoint {
  const url = blankToUndefined(env.WA_WEBSOCKET_URL)
  const rootKeyHex = blankToUndefined(env.WA_LOOPBACK_ROOT_KEY)
  if (!rootKeyHex) {
    const stray = LOOPBACK_VARS.filter(name => blankToUndefined(env[name]))
    if (stray.length) {
      throw new ConfigError(`${stray.join(', ')} set without WA_LOOPBACK_ROOT_KEY: loopback settings need the test root key too`)
    }
    if (url && url !== WHATSAPP_WEBSOCKET_URL) {
      throw new ConfigError(
        `WA_WEBSOCKET_URL=${url} is not WhatsApp's endpoint (${WHATSAPP_WEBSOCKET_URL}); ` +
          'a test server also needs WA_LOOPBACK_ROOT_KEY, otherwise unset WA_WEBSOCKET_URL'
      )
    }
    return { kind: 'whatsapp' }
  }
  if (!/^[0-9a-f]{64}$/i.test(rootKeyHex)) {
    throw new ConfigError('WA_LOOPBACK_ROOT_KEY must be 64 hex characters (the loopback server\'s 32-byte root public key)')
  }
  if (!url) {
    throw new ConfigError('WA_LOOPBACK_ROOT_KEY is set but WA_WEBSOCKET_URL is not: a test root is only trusted for a loopback server URL')
  }
  assertLoopbackWebSocketUrl(url)
  const inlinePem = blankToUndefined(env.WA_LOOPBACK_CA_PEM)
  const pemFile = blankToUndefined(env.WA_LOOPBACK_CA_FILE)
  const caPem = inlinePem ?? (pemFile ? readFile(pemFile) : undefined)
  if (caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`${inlinePem ? 'WA_LOOPBACK_CA_PEM' : `WA_LOOPBACK_CA_FILE (${pemFile})`} does not hold a PEM certificate`)
  }
  return { kind: 'loopback', waWebSocketUrl: url, rootKey: Buffer.from(rootKeyHex, 'hex'), ...(caPem && { caPem }) }
}

/**
 * Socket config overrides for an endpoint: nothing for WhatsApp; for the loopback its URL, its root (trusted by this
 * socket only) and the media-upload agent.
 */
export function socketOverridesFor(endpoint: WhatsAppEndpoint): LoopbackSocketOverrides {
  if (endpoint.kind !== 'loopback') return {}
  return {
    waWebSocketUrl: endpoint.waWebSocketUrl,
    trustedRootKey: Buffer.from(endpoint.rootKey),
    // Baileys uploads with node:https and passes fetchAgent as its agent (Utils/messages-media.js, uploadWithNodeHttp)
    ...(endpoint.caPem && { fetchAgent: new Agent({ ca: endpoint.caPem, keepAlive: false }) })
  }
}

/**
 * Validate, then return the overrides to spread into `makeWASocket({...})`: what the runner's factory does, and the
 * path the loopback tests use. Changes nothing global. Throws a ConfigError on any unsafe combination.
 * @example const overrides = loopbackSocketOverrides(process.env); makeWASocket({ ...config, ...overrides })
 */
export function loopbackSocketOverrides(env: Env, readFile: ReadFile = readUtf8): LoopbackSocketOverrides {
  return socketOverridesFor(resolveWhatsAppEndpoint(env, readFile))
}

function assertLoopbackWebSocketUrl(raw: string): void {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`WA_WEBSOCKET_URL=${raw} is not a URL`)
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ConfigError(`WA_WEBSOCKET_URL=${raw} must use ws:// or wss://`)
  }
  const host = url.hostname.replace(/^\[|\]$/g, '')
  // WHATWG URL parsing normalises IP literals (127.1 → 127.0.0.1, 0:0:0:0:0:0:0:1 → ::1), so string checks suffice
  const loopback = (isIP(host) === 4 && host.startsWith('127.')) || (isIP(host) === 6 && host === '::1')
  if (!loopback) {
    throw new ConfigError(
      `WA_WEBSOCKET_URL=${raw}: with WA_LOOPBACK_ROOT_KEY the host must be a loopback IP (127.0.0.0/8 or [::1]); ` +
        'names such as localhost are refused because they can resolve elsewhere'
    )
  }
}

function blankToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

function readUtf8(path: string): string {
  return readFileSync(path, 'utf8')
}
