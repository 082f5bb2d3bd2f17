import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import sharp from 'sharp'
import type { BinaryNode, WAMessageUpdate, WASocket, proto } from '@whiskeysockets/baileys'
import { connectClient, endClient, pairClient, waitForOpen, type PairedClient } from '../support/wa-loopback/baileys-client.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

let server: LoopbackServer
let client: PairedClient
const CONTACT = '447700900123'
const contactJid = `${CONTACT}@s.whatsapp.net`

beforeAll(async () => {
  server = await startLoopbackServer()
  client = await pairClient(server)
})
afterAll(async () => {
  await endClient(client.sock)
  await server.stop()
})
beforeEach(() => server.reset())

/** Collects `messages.update` statuses per message id. */
function watchStatuses(sock: WASocket) {
  const statuses = new Map<string, number[]>()
  const waiters: Array<() => void> = []
  sock.ev.on('messages.update', (updates: WAMessageUpdate[]) => {
    for (const { key, update } of updates) {
      if (!key.id || update.status == null) continue
      statuses.set(key.id, [...(statuses.get(key.id) ?? []), update.status])
    }
    for (const wake of waiters.splice(0)) wake()
  })
  return {
    statuses,
    async until(id: string, status: number, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      while (!statuses.get(id)?.includes(status)) {
        if (Date.now() > deadline) throw new Error(`no status ${status} for ${id}; saw ${statuses.get(id)}`)
        await new Promise<void>(resolve => {
          waiters.push(resolve)
          setTimeout(resolve, 100)
        })
      }
    }
  }
}

function nextServerAck(sock: WASocket, id: string): Promise<BinaryNode> {
  return new Promise(resolve => {
    const listener = (node: BinaryNode) => {
      if (node.attrs.id !== id) return
      sock.ws.off('CB:ack,class:message', listener)
      resolve(node)
    }
    sock.ws.on('CB:ack,class:message', listener)
  })
}

function nextUpsert(sock: WASocket, predicate: (m: proto.IWebMessageInfo) => boolean, timeoutMs = 5_000) {
  return new Promise<{ message: proto.IWebMessageInfo; type: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no matching messages.upsert')), timeoutMs)
    const listener = ({ messages, type }: { messages: proto.IWebMessageInfo[]; type: string }) => {
      const message = messages.find(predicate)
      if (!message) return
      clearTimeout(timer)
      sock.ev.off('messages.upsert', listener)
      resolve({ message, type })
    }
    sock.ev.on('messages.upsert', listener)
  })
}

describe('outbound messages, decrypted by the contact', () => {
  it('records Arabic and emoji text exactly as the contact decrypted it, in order', async () => {
    const texts = ['مرحبا، كيف حالك؟', 'Delivery 📦✅ — 10:30', 'plain']
    const ids: string[] = []
    const receipts = watchStatuses(client.sock)
    for (const text of texts) ids.push((await client.sock.sendMessage(contactJid, { text, linkPreview: null }))!.key.id!)
    await receipts.until(ids.at(-1)!, 3)
    const recorded = server.messages(CONTACT)
    expect(recorded.map(m => [m.id, m.from, m.to, m.type, m.text])).toEqual(
      ids.map((id, i) => [id, client.phone, CONTACT, 'text', texts[i]])
    )
  })

  it('delivers the server ack, then delivery (3) and read (4) receipts as messages.update', async () => {
    server.setReceipts({ deliveredMs: 50, readMs: 400 })
    const receipts = watchStatuses(client.sock)
    const messageId = 'LOOPBACKRECEIPTS01'
    const ack = nextServerAck(client.sock, messageId)
    await client.sock.sendMessage(contactJid, { text: 'receipts please' }, { messageId })
    expect((await ack).attrs).toMatchObject({ class: 'message', id: messageId })
    await receipts.until(messageId, 4)
    expect(receipts.statuses.get(messageId)).toEqual([3, 4])
  })

  it('sends no receipt that is configured as never', async () => {
    server.setReceipts({ deliveredMs: 0, readMs: null })
    const receipts = watchStatuses(client.sock)
    const sent = await client.sock.sendMessage(contactJid, { text: 'delivered, never read' })
    await receipts.until(sent!.key.id!, 3)
    const second = await client.sock.sendMessage(contactJid, { text: 'flush' })
    await receipts.until(second!.key.id!, 3)
    expect(receipts.statuses.get(sent!.key.id!)).toEqual([3])
  })

  it('uploads an image over HTTPS and records caption, mimetype, dimensions and decrypted size', async () => {
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3366cc' } }).jpeg().toBuffer()
    const receipts = watchStatuses(client.sock)
    const sent = await client.sock.sendMessage(contactJid, { image: png, caption: 'Invoice 🧾 فاتورة', mimetype: 'image/jpeg' })
    await receipts.until(sent!.key.id!, 3)
    expect(server.messages(CONTACT).at(-1)).toMatchObject({
      id: sent!.key.id,
      type: 'image',
      caption: 'Invoice 🧾 فاتورة',
      mimetype: 'image/jpeg',
      width: 64,
      height: 48,
      size: png.length,
      text: null
    })
  })
})

describe('inbound messages from a simulated contact', () => {
  it.each(['STOP', 'YES', 'hello', 'أوقف الرسائل من فضلك'])('delivers "%s" Signal-encrypted as messages.upsert notify', async text => {
    const upsert = nextUpsert(client.sock, m => m.message?.conversation === text)
    const { id } = await server.inbound({ from: '+201001234567', to: client.phone, text })
    const { message, type } = await upsert
    expect(type).toBe('notify')
    expect(message.key!).toMatchObject({ id, fromMe: false, remoteJidAlt: '201001234567@s.whatsapp.net' })
    expect(message.key!.remoteJid).toMatch(/@lid$/)
    expect(message.messageStubType ?? 0).toBe(0)
  })

  it('queues messages for an offline device and delivers them at login as append', async () => {
    const paired = await pairClient(server)
    const persistedAuth = paired.auth
    await endClient(paired.sock)
    const { id } = await server.inbound({ from: '201001234568', to: paired.phone, text: 'YES' })
    const sock = connectClient({ info: server.info, auth: persistedAuth })
    const upsert = nextUpsert(sock, m => m.key?.id === id)
    await waitForOpen(sock)
    const { message, type } = await upsert
    expect(type).toBe('append')
    expect(message.message?.conversation).toBe('YES')
    await endClient(sock)
  })

  it('sends a message again in a new session when the device asks for a retry (it lost its Signal session)', async () => {
    const peer = '201001234570'
    const paired = await pairClient(server)
    try {
      const first = nextUpsert(paired.sock, m => m.message?.conversation === 'before')
      await server.inbound({ from: peer, to: paired.phone, text: 'before' })
      await first
      paired.auth.forget('session')
      const stub = nextUpsert(paired.sock, m => m.messageStubType === 2 /* CIPHERTEXT: could not decrypt */)
      const again = nextUpsert(paired.sock, m => m.message?.conversation === 'STOP', 10_000)
      const { id } = await server.inbound({ from: peer, to: paired.phone, text: 'STOP' })
      expect((await stub).message.key?.id).toBe(id)
      expect((await again).message.key?.id).toBe(id)
    } finally {
      await endClient(paired.sock)
    }
  })

  it('keeps the Signal session both ways: a reply after an inbound message still decrypts', async () => {
    const peer = '201001234569'
    await server.inbound({ from: peer, to: client.phone, text: 'hello' })
    const receipts = watchStatuses(client.sock)
    const sent = await client.sock.sendMessage(`${peer}@s.whatsapp.net`, { text: 'reply' })
    await receipts.until(sent!.key.id!, 3)
    const answer = nextUpsert(client.sock, m => m.message?.conversation === 'and again')
    await server.inbound({ from: peer, to: client.phone, text: 'and again' })
    await answer
    expect(server.messages(peer).map(m => m.text)).toEqual(['reply'])
  })
})
