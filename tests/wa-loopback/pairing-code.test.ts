import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  connectClient,
  endClient,
  waitForClose,
  waitForConnectionUpdate,
  waitForOpen
} from '../support/wa-loopback/baileys-client.js'
import { createMemoryAuth } from '../support/wa-loopback/memory-auth.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

let server: LoopbackServer
beforeAll(async () => {
  server = await startLoopbackServer()
})
afterAll(() => server.stop())

/** A registering client that asked for a pairing code for `phone`, as the runner does after the first QR. */
async function clientWithCode(phone: string) {
  const auth = createMemoryAuth()
  const sock = connectClient({ info: server.info, auth })
  await waitForConnectionUpdate(sock, update => !!update.qr)
  const code = await sock.requestPairingCode(phone)
  return { auth, sock, code }
}

describe('pairing by code with real Baileys (link_code_companion_reg)', () => {
  it('links the number when the phone enters the code: key exchange, pair-success, 515, login', async () => {
    const { auth, sock, code } = await clientWithCode('4915112340001')
    expect(code).toMatch(/^[0-9A-Z]{8}$/)
    expect(auth.state.creds.me?.id).toBe('4915112340001@s.whatsapp.net')
    const newLogin = waitForConnectionUpdate(sock, update => update.isNewLogin === true)
    const restart = waitForClose(sock)
    // The phone's screen shows the code with a dash; either spelling is accepted.
    const res = await fetch(`${server.url}/control/pair-code`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phone: '+4915112340001', code: `${code.slice(0, 4)}-${code.slice(4).toLowerCase()}` })
    })
    expect([res.status, await res.json()]).toEqual([200, { phone: '4915112340001' }])
    await newLogin
    expect(await restart).toBe(515)
    expect(auth.state.creds.registered).toBe(true)
    expect(auth.state.creds.me?.id).toBe('4915112340001:1@s.whatsapp.net')
    expect(auth.state.creds.account?.deviceSignature?.length).toBe(64)

    auth.state.creds.accountSyncCounter = 1
    const loggedIn = connectClient({ info: server.info, auth })
    await waitForOpen(loggedIn)
    expect(server.devices()).toContainEqual({ phone: '4915112340001', jid: '4915112340001:1@s.whatsapp.net', connected: true })
    await endClient(loggedIn)
  })

  it('refuses a wrong code: the client\'s key bundle does not open, nothing is linked', async () => {
    const { sock, code } = await clientWithCode('4915112340002')
    const wrong = code === 'AAAAAAAA' ? 'BBBBBBBB' : 'AAAAAAAA'
    await expect(server.pairCode('4915112340002', wrong)).rejects.toThrow(/does not match/)
    expect(server.devices().some(d => d.phone === '4915112340002')).toBe(false)
    await endClient(sock)
  })

  it('answers 404 when no connection waits for a code for that phone, 400 for a malformed code', async () => {
    const post = (body: unknown) =>
      fetch(`${server.url}/control/pair-code`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const missing = await post({ phone: '4915112340003', code: 'ABCD-EFGH' })
    expect(missing.status).toBe(404)
    expect((await missing.json()).error).toMatch(/no connection is waiting for a pairing code/)
    expect((await post({ phone: '4915112340003', code: 'ABC' })).status).toBe(400)
    expect((await post({ phone: '4915112340003' })).status).toBe(400)
  })
})
