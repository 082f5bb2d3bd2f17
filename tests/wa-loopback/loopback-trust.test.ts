import { Agent } from 'node:https'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../db/shared/settings.js'
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys'
import {
  loopbackSocketOverrides,
  resolveWhatsAppEndpoint,
  WHATSAPP_WEBSOCKET_URL
} from '../../runner/whatsapp/loopback-trust.js'

const ROOT = 'ab'.repeat(32)
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
const originalRoot = Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY)

describe('resolveWhatsAppEndpoint', () => {
  it('uses WhatsApp with nothing set, or with WhatsApp\'s own URL', () => {
    expect(resolveWhatsAppEndpoint({})).toEqual({ kind: 'whatsapp' })
    expect(resolveWhatsAppEndpoint({ WA_WEBSOCKET_URL: WHATSAPP_WEBSOCKET_URL })).toEqual({ kind: 'whatsapp' })
  })

  it('refuses another WebSocket URL without a root key', () => {
    expect(() => resolveWhatsAppEndpoint({ WA_WEBSOCKET_URL: 'ws://127.0.0.1:9/ws/chat' })).toThrow(/WA_LOOPBACK_ROOT_KEY/)
  })

  it('refuses a root key without a URL, and CA settings without a root key', () => {
    expect(() => resolveWhatsAppEndpoint({ WA_LOOPBACK_ROOT_KEY: ROOT })).toThrow(/WA_WEBSOCKET_URL is not/)
    expect(() => resolveWhatsAppEndpoint({ WA_LOOPBACK_CA_PEM: PEM })).toThrow(/without WA_LOOPBACK_ROOT_KEY/)
  })

  it.each([
    'ws://10.0.0.5:8080/ws/chat',
    'wss://web.whatsapp.com/ws/chat',
    'ws://localhost:8080/ws/chat',
    'ws://127.0.0.1.example.com/ws/chat',
    'ws://[::2]:80/ws/chat',
    'http://127.0.0.1:8080/ws/chat'
  ])('refuses the test root for %s', url => {
    expect(() => resolveWhatsAppEndpoint({ WA_LOOPBACK_ROOT_KEY: ROOT, WA_WEBSOCKET_URL: url })).toThrow(/WA_WEBSOCKET_URL/)
  })

  it.each(['ws://127.0.0.1:8080/ws/chat', 'ws://127.4.5.6/ws/chat', 'wss://[::1]:443/ws/chat', 'ws://[0:0:0:0:0:0:0:1]:1/x'])(
    'accepts the loopback URL %s',
    url => {
      const endpoint = resolveWhatsAppEndpoint({ WA_LOOPBACK_ROOT_KEY: ROOT, WA_WEBSOCKET_URL: url })
      expect(endpoint).toMatchObject({ kind: 'loopback', waWebSocketUrl: url })
    }
  )

  it('rejects a root key that is not 32 bytes of hex', () => {
    expect(() => resolveWhatsAppEndpoint({ WA_LOOPBACK_ROOT_KEY: 'abc', WA_WEBSOCKET_URL: 'ws://127.0.0.1/' })).toThrow(/64 hex/)
  })

  it('reads the CA from WA_LOOPBACK_CA_FILE and rejects a non-PEM CA', () => {
    const env = { WA_LOOPBACK_ROOT_KEY: ROOT, WA_WEBSOCKET_URL: 'ws://127.0.0.1:1/ws/chat' }
    const endpoint = resolveWhatsAppEndpoint({ ...env, WA_LOOPBACK_CA_FILE: '/ca.pem' }, path => (path === '/ca.pem' ? PEM : ''))
    expect(endpoint).toMatchObject({ kind: 'loopback', caPem: PEM })
    expect(() => resolveWhatsAppEndpoint({ ...env, WA_LOOPBACK_CA_PEM: 'nope' })).toThrow(/PEM/)
  })
})

describe('loopbackSocketOverrides', () => {
  it('returns the URL, the test root for this socket to trust and an upload agent, and changes nothing global', () => {
    const overrides = loopbackSocketOverrides({
      WA_LOOPBACK_ROOT_KEY: ROOT,
      WA_WEBSOCKET_URL: 'ws://127.0.0.1:1/ws/chat',
      WA_LOOPBACK_CA_PEM: PEM
    })
    expect(overrides.waWebSocketUrl).toBe('ws://127.0.0.1:1/ws/chat')
    expect(Buffer.from(overrides.trustedRootKey!).toString('hex')).toBe(ROOT)
    expect(overrides.fetchAgent).toBeInstanceOf(Agent)
    expect(Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY).equals(originalRoot)).toBe(true)
  })

  it('refuses an unsafe combination with a ConfigError (npm start prints it as one line)', () => {
    expect(() => loopbackSocketOverrides({ WA_LOOPBACK_ROOT_KEY: ROOT, WA_WEBSOCKET_URL: 'ws://10.0.0.5/ws/chat' })).toThrow(ConfigError)
  })

  it('changes nothing for production', () => {
    expect(loopbackSocketOverrides({})).toEqual({})
    expect(Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY).equals(originalRoot)).toBe(true)
  })
})
