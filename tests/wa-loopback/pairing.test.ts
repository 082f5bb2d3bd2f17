import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys'
import {
  connectClient,
  endClient,
  pairClient,
  waitForClose,
  waitForConnectionUpdate,
  waitForOpen
} from '../support/wa-loopback/baileys-client.js'
import { createMemoryAuth, restoreMemoryAuth } from '../support/wa-loopback/memory-auth.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

let server: LoopbackServer
beforeAll(async () => {
  server = await startLoopbackServer()
})
afterAll(() => server.stop())

describe('QR pairing with real Baileys', () => {
  it('emits a QR, pairs on scan with the given phone, restarts with 515 and opens', async () => {
    const auth = createMemoryAuth()
    const sock = connectClient({ info: server.info, auth })
    const { qr } = await waitForConnectionUpdate(sock, update => !!update.qr)
    expect(qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#/)
    const newLogin = waitForConnectionUpdate(sock, update => update.isNewLogin === true)
    const restart = waitForClose(sock)
    expect(await server.scan(qr!, '+4915112345678')).toEqual({ phone: '4915112345678' })
    await newLogin
    expect(await restart).toBe(515)
    expect(auth.state.creds.me?.id).toBe('4915112345678:1@s.whatsapp.net')
    expect(auth.state.creds.account?.deviceSignature?.length).toBe(64)

    const loggedIn = connectClient({ info: server.info, auth })
    await waitForOpen(loggedIn)
    expect(auth.state.creds.me?.lid).toMatch(/^\d{15}:1@lid$/)
    expect(server.devices()).toContainEqual({ phone: '4915112345678', jid: '4915112345678:1@s.whatsapp.net', connected: true })
    await endClient(loggedIn)
    expect(server.devices()).toContainEqual({ phone: '4915112345678', jid: '4915112345678:1@s.whatsapp.net', connected: false })
  })

  it('assigns a generated phone when the scan names none, and links a second device to the same phone', async () => {
    const first = await pairClient(server)
    expect(first.phone).toMatch(/^\d{11}$/)
    expect(first.sock.user?.id).toBe(`${first.phone}:1@s.whatsapp.net`)
    const second = await pairClient(server, { phone: first.phone })
    expect(second.sock.user?.id).toBe(`${first.phone}:2@s.whatsapp.net`)
    await Promise.all([endClient(first.sock), endClient(second.sock)])
  })

  it('logs in without a QR after a process restart, from persisted credentials', async () => {
    const paired = await pairClient(server)
    const persisted = paired.auth.snapshot()
    await endClient(paired.sock)

    const revived = restoreMemoryAuth(persisted)
    const sock = connectClient({ info: server.info, auth: revived })
    let sawQr = false
    sock.ev.on('connection.update', update => {
      if (update.qr) sawQr = true
    })
    await waitForOpen(sock)
    expect(sawQr).toBe(false)
    expect(sock.user?.id).toBe(`${paired.phone}:1@s.whatsapp.net`)
    await endClient(sock)
  })

  it('unlinks the device when the client logs out: 401, and the server forgets it', async () => {
    const { sock, phone, auth } = await pairClient(server)
    const closed = waitForClose(sock)
    await sock.logout()
    expect(await closed).toBe(401)
    expect(server.devices().some(device => device.phone === phone)).toBe(false)
    expect(await waitForClose(connectClient({ info: server.info, auth }))).toBe(401)
  })

  it('closes with 408 when every QR ref expires unscanned', async () => {
    const sock = connectClient({ info: server.info, auth: createMemoryAuth(), config: { qrTimeout: 100 } })
    expect(await waitForClose(sock)).toBe(408)
  })

  it('rejects a login from credentials the server never paired with 401', async () => {
    const paired = await pairClient(server)
    await endClient(paired.sock)
    const stranger = restoreMemoryAuth(paired.auth.snapshot())
    Object.assign(stranger.state.creds, { noiseKey: createMemoryAuth().state.creds.noiseKey })
    expect(await waitForClose(connectClient({ info: server.info, auth: stranger }))).toBe(401)
  })

  it('is not rejected by rc14 even with WhatsApp\'s real root: its Curve.verify ignores the verification result', async () => {
    // Baileys 7.0.0-rc14 Utils/crypto.js: Curve.verify returns true unless libsignal *throws*; a wrong signature only
    // makes curve25519 return false. So the Noise certificate check cannot tell our test root from WhatsApp's, and
    // the runner's loopback guard (runner/whatsapp/loopback-trust.ts) is what keeps test settings out of production.
    // When a Baileys bump fixes this, the handshake fails with 400 and this canary must be flipped to expect that.
    const sock = connectClient({ info: server.info, auth: createMemoryAuth(), config: { trustedRootKey: WA_CERT_DETAILS.PUBLIC_KEY } })
    try {
      const outcome = await waitForConnectionUpdate(sock, update => !!update.qr || update.connection === 'close')
      expect(outcome.qr).toBeDefined()
    } finally {
      await endClient(sock)
    }
  })

  it('checks the certificate against the root its own socket was given, leaving Baileys\' global root alone', async () => {
    const whatsappRoot = Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY).toString('hex')
    expect(whatsappRoot).not.toBe(server.info.root_key)
    // Not a curve key at all: libsignal throws, which even rc14's Curve.verify reports as a failed verification.
    const refused = connectClient({ info: server.info, auth: createMemoryAuth(), config: { trustedRootKey: Buffer.alloc(7) } })
    // At the same time, in the same process, a socket with the loopback's root (loopbackSocketOverrides) gets its QR.
    const trusted = connectClient({ info: server.info, auth: createMemoryAuth() })
    const refusedClose = waitForClose(refused)
    const trustedOutcome = waitForConnectionUpdate(trusted, update => !!update.qr || update.connection === 'close')
    try {
      expect(await refusedClose).toBe(400)
      expect((await trustedOutcome).qr).toBeDefined()
      expect(Buffer.from(WA_CERT_DETAILS.PUBLIC_KEY).toString('hex')).toBe(whatsappRoot)
    } finally {
      await endClient(trusted)
      await endClient(refused)
    }
  })
})
