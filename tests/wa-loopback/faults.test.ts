import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { BinaryNode, WAMessageUpdate, WASocket } from '@whiskeysockets/baileys'
import { connectClient, endClient, pairClient, waitForClose, waitForOpen } from '../support/wa-loopback/baileys-client.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

let server: LoopbackServer
beforeAll(async () => {
  server = await startLoopbackServer()
})
afterAll(() => server.stop())
beforeEach(() => server.reset())

const CONTACT_JID = '447700900200@s.whatsapp.net'

describe('faults on a live connection close it with the documented code', () => {
  it.each([
    ['close', 428],
    ['restart', 515],
    ['conflict', 440],
    ['logout', 401],
    ['forbidden', 403],
    ['outdated', 405]
  ] as const)('%s → %i', async (kind, code) => {
    const { sock, phone } = await pairClient(server)
    const closed = waitForClose(sock)
    expect(await server.fault({ phone, kind })).toEqual({ ok: true, connections: 1 })
    expect(await closed).toBe(code)
  })
})

describe('armed faults', () => {
  it('logout unlinks the device: its next login fails with 401', async () => {
    const { sock, phone, auth } = await pairClient(server)
    const closed = waitForClose(sock)
    await server.fault({ phone, kind: 'logout' })
    await closed
    expect(await waitForClose(connectClient({ info: server.info, auth }))).toBe(401)
    expect(server.devices().some(device => device.phone === phone)).toBe(false)
  })

  it('forbidden keeps failing logins with 403 until disarmed with kind none', async () => {
    const { sock, phone, auth } = await pairClient(server)
    const closed = waitForClose(sock)
    await server.fault({ phone, kind: 'forbidden' })
    await closed
    expect(await waitForClose(connectClient({ info: server.info, auth }))).toBe(403)
    await server.fault({ phone, kind: 'none' })
    const again = connectClient({ info: server.info, auth })
    await waitForOpen(again)
    await endClient(again)
  })

  it('refuse drops that phone\'s new connections after the handshake (428), other phones still log in', async () => {
    const refused = await pairClient(server)
    const other = await pairClient(server)
    await Promise.all([endClient(refused.sock), endClient(other.sock)])
    await server.fault({ phone: refused.phone, kind: 'refuse' })
    expect(await waitForClose(connectClient({ info: server.info, auth: refused.auth }))).toBe(428)
    const fine = connectClient({ info: server.info, auth: other.auth })
    await waitForOpen(fine)
    await endClient(fine)
  })

  it('refuse for "*" rejects every WebSocket upgrade (408)', async () => {
    const { sock, auth } = await pairClient(server)
    await endClient(sock)
    await server.fault({ phone: '*', kind: 'refuse' })
    expect(await waitForClose(connectClient({ info: server.info, auth }))).toBe(408)
  })

  it('nack463 answers messages to that recipient with error 463, surfaced as messages.update ERROR', async () => {
    const { sock } = await pairClient(server)
    await server.fault({ phone: '447700900200', kind: 'nack463' })
    const failed = new Promise<WAMessageUpdate>(resolve =>
      sock.ev.on('messages.update', updates => {
        const error = updates.find(u => u.update.status === 0)
        if (error) resolve(error)
      })
    )
    const sent = await sock.sendMessage(CONTACT_JID, { text: 'new chat' })
    const update = await failed
    expect(update.key.id).toBe(sent!.key.id)
    expect(update.update.messageStubParameters?.[0]).toBe('463')
    expect(server.messages('447700900200')).toEqual([])
    await endClient(sock)
  })

  it('drop-acks withholds the server ack but the contact still receives and answers with receipts', async () => {
    const { sock, phone } = await pairClient(server)
    await server.fault({ phone, kind: 'drop-acks' })
    const acks: string[] = []
    sock.ws.on('CB:ack,class:message', (node: BinaryNode) => acks.push(node.attrs.id!))
    const delivered = new Promise<string>(resolve =>
      sock.ev.on('messages.update', updates => {
        const receipt = updates.find(u => u.update.status === 3)
        if (receipt) resolve(receipt.key.id!)
      })
    )
    const sent = await sock.sendMessage(CONTACT_JID, { text: 'no ack for me' })
    expect(await delivered).toBe(sent!.key.id)
    expect(acks).toEqual([])
    await endClient(sock)
  })

  it('latency delays every frame to that phone', async () => {
    const { sock, phone } = await pairClient(server)
    // frames leave in order, so receipts queued behind a slow frame would also delay the next ack
    server.setReceipts({ deliveredMs: null, readMs: null })
    await server.fault({ phone, kind: 'latency', ms: 300 })
    const started = Date.now()
    const ack = serverAck(sock)
    await sock.sendMessage(CONTACT_JID, { text: 'slow' })
    await ack
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    await server.fault({ phone, kind: 'latency', ms: 0 })
    // answers to Baileys' fire-and-forget IQs after a first message were queued with the old delay; let them leave
    await new Promise(resolve => setTimeout(resolve, 400))
    const quick = Date.now()
    const second = serverAck(sock)
    await sock.sendMessage(CONTACT_JID, { text: 'fast' })
    await second
    expect(Date.now() - quick).toBeLessThan(300)
    await endClient(sock)
  })
})

function serverAck(sock: WASocket): Promise<BinaryNode> {
  return new Promise(resolve => sock.ws.once('CB:ack,class:message', resolve))
}
