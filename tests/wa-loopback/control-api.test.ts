import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectClient, endClient, waitForClose, waitForConnectionUpdate, waitForOpen } from '../support/wa-loopback/baileys-client.js'
import { createMemoryAuth } from '../support/wa-loopback/memory-auth.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

let server: LoopbackServer
beforeAll(async () => {
  server = await startLoopbackServer()
})
afterAll(() => server.stop())

async function call(method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  })
  return { status: res.status, body: (await res.json()) }
}

/** The chat states recorded for the test's contact, once there are `count` of them. */
async function waitForPresence(count: number) {
  for (let i = 0; i < 100; i++) {
    const { body } = await call('GET', '/control/presence?to=%2B447700900300')
    if (body.length >= count) return body
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`fewer than ${count} chat states recorded`)
}

describe('HTTP control API', () => {
  it('GET /control/info gives the WebSocket URL, the root key and the env a runner needs', async () => {
    const { status, body } = await call('GET', '/control/info')
    expect(status).toBe(200)
    expect(body.ws_url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws\/chat$/)
    expect(body.root_key).toMatch(/^[0-9a-f]{64}$/)
    expect(body.env).toEqual({
      WA_WEBSOCKET_URL: body.ws_url,
      WA_LOOPBACK_ROOT_KEY: body.root_key,
      WA_LOOPBACK_CA_PEM: expect.stringContaining('-----BEGIN CERTIFICATE-----')
    })
  })

  it('pairs through /control/scan, lists devices, sends inbound and reads messages back', async () => {
    const auth = createMemoryAuth()
    const registering = connectClient({ info: (await call('GET', '/control/info')).body, auth })
    const { qr } = await waitForConnectionUpdate(registering, update => !!update.qr)
    const restarted = waitForClose(registering)
    expect(await call('POST', '/control/scan', { qr, phone: '15550009999' })).toEqual({ status: 200, body: { phone: '15550009999' } })
    expect(await restarted).toBe(515)
    Object.assign(auth.state.creds, { accountSyncCounter: 1 })
    const sock = connectClient({ info: server.info, auth })
    await waitForOpen(sock)
    expect((await call('GET', '/control/devices')).body).toEqual([{ phone: '15550009999', jid: '15550009999:1@s.whatsapp.net', connected: true }])
    // Where each connection came from: the registering one (logged in as the phone once scanned) and the login.
    const connections = (await call('GET', '/control/connections')).body as { phone: string | null; remote_address: string; open: boolean }[]
    expect(connections.filter((c) => c.phone === '15550009999').map((c) => c.remote_address)).toContain('127.0.0.1')
    expect(connections.filter((c) => c.phone === '15550009999' && c.open)).toHaveLength(1)
    expect(Array.isArray((await call('GET', '/control/media-requests')).body)).toBe(true)

    const received = new Promise<string>(resolve =>
      sock.ev.on('messages.upsert', ({ messages }) => {
        const text = messages[0]?.message?.conversation
        if (text) resolve(text)
      })
    )
    const inbound = await call('POST', '/control/inbound', { from: '447700900300', to: '15550009999', text: 'STOP' })
    expect(inbound.status).toBe(200)
    expect(inbound.body).toEqual({ id: expect.any(String) })
    expect(await received).toBe('STOP')

    const delivered = new Promise<void>(resolve =>
      sock.ev.on('messages.update', updates => updates.some(u => u.update.status === 3) && resolve())
    )
    const sent = await sock.sendMessage('447700900300@s.whatsapp.net', { text: 'Unsubscribed ✅' })
    await delivered
    const { body: messages } = await call('GET', '/control/messages?to=447700900300')
    expect(messages).toEqual([
      {
        id: sent!.key.id,
        from: '15550009999',
        to: '447700900300',
        group: null,
        type: 'text',
        text: 'Unsubscribed ✅',
        caption: null,
        mimetype: null,
        file_name: null,
        width: null,
        height: null,
        size: null,
        sha256: null,
        page_count: null,
        seconds: null,
        ptt: null,
        latitude: null,
        longitude: null,
        name: null,
        address: null,
        vcard: null,
        quoted_id: null,
        revoked_id: null,
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/)
      }
    ])

    // Chat states as Baileys sends them (`<chatstate>`), recorded per contact in the order they came.
    const jid = '447700900300@s.whatsapp.net'
    for (const state of ['composing', 'paused', 'recording', 'paused'] as const) await sock.sendPresenceUpdate(state, jid)
    const presence = await waitForPresence(4)
    expect(presence.map((p: { state: string }) => p.state)).toEqual(['composing', 'paused', 'recording', 'paused'])
    expect(presence[0]).toEqual({ from: '15550009999', to: '447700900300', state: 'composing', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) })
    expect((await call('GET', '/control/presence?to=447700900399')).body).toEqual([])
    expect(await call('POST', '/control/reset')).toEqual({ status: 200, body: { ok: true } })
    expect((await call('GET', '/control/presence')).body).toEqual([])
    await endClient(sock)
  })

  it('sets receipt delays, applies faults, resets, and rejects bad requests with a reason', async () => {
    expect(await call('POST', '/control/receipts', { delivered_ms: 5, read_ms: null })).toEqual({
      status: 200,
      body: { delivered_ms: 5, read_ms: null }
    })
    expect(await call('POST', '/control/fault', { phone: '15550009999', kind: 'latency', ms: 10 })).toEqual({
      status: 200,
      body: { ok: true, connections: 0 }
    })
    expect(await call('POST', '/control/reset')).toEqual({ status: 200, body: { ok: true } })
    expect((await call('GET', '/control/messages')).body).toEqual([])

    expect((await call('POST', '/control/fault', { phone: '1', kind: 'explode' })).status).toBe(400)
    expect((await call('POST', '/control/fault', { phone: '15550009999', kind: 'latency' })).status).toBe(400)
    expect((await call('POST', '/control/receipts', { delivered_ms: -1, read_ms: 0 })).status).toBe(400)
    expect((await call('POST', '/control/scan', { qr: 'https://wa.me/settings/linked_devices#a,b,c,d,e' })).status).toBe(404)
    expect((await call('POST', '/control/inbound', { from: '447700900300', to: '19999999999', text: 'x' })).status).toBe(404)
    expect((await call('POST', '/control/inbound', { from: 'abc', to: '15550009999', text: 'x' })).status).toBe(400)
    expect((await call('GET', '/control/nothing')).status).toBe(404)
  })
})
