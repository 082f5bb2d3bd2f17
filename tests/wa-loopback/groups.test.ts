import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { pino } from 'pino'
import type { BaileysEventMap, MessageUserReceiptUpdate, WAMessage, WASocket } from '@whiskeysockets/baileys'
import { connectClient, endClient, pairClient, waitForOpen, type PairedClient } from '../support/wa-loopback/baileys-client.js'
import type { RecordedMessage } from '../support/wa-loopback/context.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

// WhatsApp groups through the loopback with a plain real Baileys socket: the group is listed and described by the
// w:g2 queries, a message to it goes out as one skmsg plus pairwise sender-key distributions, and every member's
// phone decrypts it with the sender key (records carry `group`); receipts come per participant; a simulated member
// writes back through its own sender key.

let server: LoopbackServer
let client: PairedClient
const serverLogs: string[] = []
const CONTACTS = ['447700900501', '447700900502', '447700900503', '447700900504']
const LATECOMER = '447700900505'

beforeAll(async () => {
  server = await startLoopbackServer({ log: pino({ level: 'warn' }, { write: (line: string) => void serverLogs.push(line) }) })
  client = await pairClient(server)
})
afterAll(async () => {
  if (client) await endClient(client.sock)
  await server?.stop()
})

async function control<T = Record<string, unknown>>(path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${server.url}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) })
  return { status: res.status, json: (await res.json()) as T }
}

async function createGroup(body: Record<string, unknown>): Promise<string> {
  const { status, json } = await control('/control/groups', body)
  expect(status).toBe(200)
  expect(json.id).toMatch(/^120363\d{12}@g\.us$/)
  return json.id as string
}

/** The records of message `id` in `group`, once `count` participants have decrypted it. */
async function recordsOf(group: string, id: string, count: number, timeoutMs = 15_000): Promise<RecordedMessage[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { json } = await control<RecordedMessage[]>(`/control/messages?group=${encodeURIComponent(group)}`)
    const found = json.filter(m => m.id === id)
    if (found.length >= count) return found
    if (Date.now() > deadline) throw new Error(`${found.length} of ${count} participants decrypted ${id}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

async function sendToGroup(group: string, content: Parameters<WASocket['sendMessage']>[1]): Promise<WAMessage> {
  const sent = await client.sock.sendMessage(group, content)
  if (!sent?.key.id) throw new Error('sendMessage returned no message')
  return sent
}

function nextEvent<E extends keyof BaileysEventMap, T>(sock: WASocket, event: E, pick: (data: BaileysEventMap[E]) => T | undefined, timeoutMs = 10_000) {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.ev.off(event, listener)
      reject(new Error(`no matching ${event}`))
    }, timeoutMs)
    const listener = (data: BaileysEventMap[E]) => {
      const found = pick(data)
      if (found === undefined) return
      clearTimeout(timer)
      sock.ev.off(event, listener)
      resolve(found)
    }
    sock.ev.on(event, listener)
  })
}

describe('groups on the loopback', () => {
  let group: string

  it('lists the group and answers its metadata with participants and admins', async () => {
    // the paired member's device is told of the new group (w:gp2 <create>), as WhatsApp tells a member added to one
    const announced = nextEvent(client.sock, 'groups.upsert', groups => groups[0])
    group = await createGroup({ subject: 'Depot 7 — drivers', participants: [client.phone, ...CONTACTS], admins: [client.phone, CONTACTS[0]] })
    expect(await announced).toMatchObject({ id: group, subject: 'Depot 7 — drivers' })

    const all = await client.sock.groupFetchAllParticipating()
    expect(Object.keys(all)).toEqual([group])
    const listed = all[group]!
    expect(listed).toMatchObject({ id: group, subject: 'Depot 7 — drivers', announce: false, size: 5, addressingMode: 'lid' })
    expect(listed.participants.map(p => p.phoneNumber)).toEqual([client.phone, ...CONTACTS].map(phone => `${phone}@s.whatsapp.net`))

    const meta = await client.sock.groupMetadata(group)
    const byPhone = Object.fromEntries(meta.participants.map(p => [p.phoneNumber!.split('@')[0], p]))
    expect(byPhone[client.phone]!.admin).toBe('superadmin')
    expect(byPhone[CONTACTS[0]!]!.admin).toBe('admin')
    for (const phone of CONTACTS.slice(1)) expect(byPhone[phone]!.admin).toBeNull()
    for (const p of meta.participants) expect(p.id).toMatch(/^\d+@lid$/)
    expect(meta.ownerPn).toBe(`${client.phone}@s.whatsapp.net`)

    // a group the account is not in is not described to it
    const foreign = await createGroup({ subject: 'Not ours', participants: CONTACTS.slice(0, 2) })
    await expect(client.sock.groupMetadata(foreign)).rejects.toThrow()
  })

  it('a text to the group is decrypted with the sender key by each of the other four members', async () => {
    const receipts: MessageUserReceiptUpdate[] = []
    const onReceipt = (updates: MessageUserReceiptUpdate[]) => void receipts.push(...updates)
    client.sock.ev.on('message-receipt.update', onReceipt)
    const sent = await sendToGroup(group, { text: 'Route 12 closed, use the bypass 🚧' })
    const records = await recordsOf(group, sent.key.id!, 4)
    expect(records.map(r => r.to).sort()).toEqual([...CONTACTS].sort())
    for (const record of records) {
      expect(record).toMatchObject({ from: client.phone, group, type: 'text', text: 'Route 12 closed, use the bypass 🚧' })
    }
    // each participant sends delivery and read receipts, carrying `participant`
    const deadline = Date.now() + 5_000
    const readers = () => new Set(receipts.filter(r => r.key.id === sent.key.id && r.receipt.readTimestamp).map(r => r.receipt.userJid))
    while (readers().size < 4 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    client.sock.ev.off('message-receipt.update', onReceipt)
    const delivered = receipts.filter(r => r.key.id === sent.key.id && r.receipt.receiptTimestamp).map(r => r.receipt.userJid)
    expect(new Set(delivered)).toEqual(new Set(CONTACTS.map(phone => `${phone}@s.whatsapp.net`)))
    expect(readers().size).toBe(4)
    for (const r of receipts) expect(r.key.remoteJid).toBe(group)
  })

  it('an image to the group is downloaded and decrypted byte for byte by every member', async () => {
    const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#cc6633' } }).jpeg().toBuffer()
    const sent = await sendToGroup(group, { image: jpeg, caption: 'Dock 3' })
    const records = await recordsOf(group, sent.key.id!, 4)
    const sha256 = createHash('sha256').update(jpeg).digest('hex')
    for (const record of records) {
      expect(record).toMatchObject({ type: 'image', caption: 'Dock 3', sha256, size: jpeg.length, width: 40, height: 30 })
      const res = await fetch(`${server.url}/control/messages/${encodeURIComponent(sent.key.id!)}/media?to=${record.to}`)
      expect(res.status).toBe(200)
      expect(Buffer.from(await res.arrayBuffer()).equals(jpeg)).toBe(true)
    }
  })

  it('a member added later gets the sender key with the next message; a removed one gets nothing', async () => {
    const notified = nextEvent(client.sock, 'group-participants.update', u =>
      u.id === group && u.action === 'add' ? u : undefined)
    const { status, json } = await control<{ participants: string[] }>(`/control/groups/${encodeURIComponent(group)}/participants`, { add: [LATECOMER], remove: [CONTACTS[3]] })
    expect(status).toBe(200)
    expect(json.participants).toEqual([client.phone, ...CONTACTS.slice(0, 3), LATECOMER])
    await notified

    const sent = await sendToGroup(group, { text: 'Welcome aboard' })
    const records = await recordsOf(group, sent.key.id!, 4)
    expect(records.map(r => r.to).sort()).toEqual([...CONTACTS.slice(0, 3), LATECOMER].sort())
    // nobody else decrypted it: the removed member is no longer relayed the group's messages
    await new Promise(resolve => setTimeout(resolve, 300))
    expect((await control<RecordedMessage[]>(`/control/messages?group=${encodeURIComponent(group)}&to=${CONTACTS[3]}`)).json.map(m => m.id))
      .not.toContain(sent.key.id)
    expect(serverLogs.filter(line => line.includes('could not decrypt'))).toEqual([])

    // bad changes are refused and change nothing
    expect((await control(`/control/groups/${encodeURIComponent(group)}/participants`, { add: [LATECOMER] })).status).toBe(400)
    expect((await control(`/control/groups/${encodeURIComponent(group)}/participants`, { remove: ['12'] })).status).toBe(400)
    expect((await control('/control/groups/120363000000000000@g.us/participants', { add: [CONTACTS[3]] })).status).toBe(404)
    const meta = await client.sock.groupMetadata(group)
    expect(meta.participants.length).toBe(5)
  })

  it('an announce-only group refuses a member who is not an admin', async () => {
    const announce = await createGroup({ subject: 'Notices', participants: [CONTACTS[0], client.phone, CONTACTS[1]], announce: true })
    expect((await client.sock.groupMetadata(announce)).announce).toBe(true)
    const refused = nextEvent(client.sock, 'messages.update', updates => updates.find(u => u.key.remoteJid === announce && u.update.status === 0))
    const sent = await sendToGroup(announce, { text: 'may I?' })
    const update = await refused
    expect(update.key.id).toBe(sent.key.id)
    expect(update.update.messageStubParameters).toEqual(['403'])
    await new Promise(resolve => setTimeout(resolve, 300))
    expect((await control(`/control/messages?group=${encodeURIComponent(announce)}`)).json).toEqual([])

    // the admin contact may write in it, and the paired member reads it
    const upsert = nextEvent(client.sock, 'messages.upsert', ({ messages }) =>
      messages.find(m => m.key?.remoteJid === announce))
    expect((await control('/control/inbound', { from: CONTACTS[0], group: announce, text: 'Depot closes at 18:00' })).status).toBe(200)
    expect((await upsert).message?.conversation).toBe('Depot closes at 18:00')
    // a non-admin contact may not
    expect((await control('/control/inbound', { from: CONTACTS[1], group: announce, text: 'ok' })).status).toBe(403)
  })

  it('a member writing in the group reaches the socket with the group as chat and the author as participant', async () => {
    const author = CONTACTS[1]!
    const texts = ['first from the driver', 'second, same sender key']
    for (const text of texts) {
      const upsert = nextEvent(client.sock, 'messages.upsert', ({ messages }) =>
        messages.find(m => m.key?.remoteJid === group && m.message?.conversation === text))
      const { status, json } = await control<{ id: string }>('/control/inbound', { from: author, group, text })
      expect(status).toBe(200)
      const message = await upsert
      expect(message.key?.id).toBe(json.id)
      expect(message.key?.fromMe).toBe(false)
      expect(message.key?.participant).toMatch(/@lid$/)
      expect(message.key?.participantAlt).toBe(`${author}@s.whatsapp.net`)
    }
    // bad input
    expect((await control('/control/inbound', { from: CONTACTS[3], group, text: 'removed' })).status).toBe(400)
    expect((await control('/control/inbound', { from: author, group: '120363000000000000@g.us', text: 'x' })).status).toBe(404)
  })

  it('a paired phone added later gets the contact\'s sender key before its first message; once removed it gets none', async () => {
    const second = await pairClient(server)
    try {
      const author = CONTACTS[2]!
      const crew = await createGroup({ subject: 'Night shift', participants: [author, client.phone] })
      const said = (sock: WASocket, text: string) =>
        nextEvent(sock, 'messages.upsert', ({ messages }) => messages.find(m => m.key.remoteJid === crew && m.message?.conversation === text))
      const first = said(client.sock, 'before you joined')
      await control('/control/inbound', { from: author, group: crew, text: 'before you joined' })
      await first

      const joined = nextEvent(second.sock, 'group-participants.update', u => (u.id === crew && u.action === 'add' ? u : undefined))
      expect((await control(`/control/groups/${encodeURIComponent(crew)}/participants`, { add: [second.phone] })).status).toBe(200)
      await joined
      // the same sender key continues: the first member reads on, the newcomer gets it distributed with this message
      const both = [said(client.sock, 'welcome'), said(second.sock, 'welcome')]
      await control('/control/inbound', { from: author, group: crew, text: 'welcome' })
      const [old, fresh] = await Promise.all(both)
      expect(fresh!.key.participantAlt).toBe(`${author}@s.whatsapp.net`)
      expect(old!.key.id).toBe(fresh!.key.id)

      const left = nextEvent(second.sock, 'group-participants.update', u => (u.id === crew && u.action === 'remove' ? u : undefined))
      expect((await control(`/control/groups/${encodeURIComponent(crew)}/participants`, { remove: [second.phone] })).status).toBe(200)
      await left
      const seen: string[] = []
      second.sock.ev.on('messages.upsert', ({ messages }) => {
        for (const m of messages) if (m.key.remoteJid === crew && m.message?.conversation) seen.push(m.message.conversation)
      })
      const after = said(client.sock, 'after you left')
      await control('/control/inbound', { from: author, group: crew, text: 'after you left' })
      await after
      await new Promise(resolve => setTimeout(resolve, 300))
      expect(seen).toEqual([])
      // a group the phone is no longer in is not listed to it
      expect(Object.keys(await second.sock.groupFetchAllParticipating())).not.toContain(crew)
    } finally {
      await endClient(second.sock)
    }
  })

  it('an offline member gets the group, then the message, at its next login', async () => {
    const third = await pairClient(server)
    await endClient(third.sock)
    const author = CONTACTS[0]!
    const late = await createGroup({ subject: 'Weekend', participants: [author, third.phone] })
    const { json } = await control<{ id: string }>('/control/inbound', { from: author, group: late, text: 'while you were away' })

    const sock = connectClient({ info: server.info, auth: third.auth })
    try {
      const upsert = nextEvent(sock, 'messages.upsert', ({ messages, type }) => {
        const found = messages.find(m => m.key.remoteJid === late && m.message?.conversation === 'while you were away')
        return found && { id: found.key.id, type }
      })
      const created = nextEvent(sock, 'groups.upsert', groups => groups.find(g => g.id === late))
      await waitForOpen(sock)
      expect(await created).toMatchObject({ subject: 'Weekend' })
      expect(await upsert).toEqual({ id: json.id, type: 'append' })
      const meta = await sock.groupMetadata(late)
      expect(meta.participants.map(p => p.phoneNumber)).toEqual([`${author}@s.whatsapp.net`, `${third.phone}@s.whatsapp.net`])
    } finally {
      await endClient(sock)
    }
  })

  it('refuses malformed group bodies', async () => {
    expect((await control('/control/groups', { subject: '', participants: [client.phone] })).status).toBe(400)
    expect((await control('/control/groups', { subject: 'x', participants: 'nope' })).status).toBe(400)
    expect((await control('/control/groups', { subject: 'x', participants: [client.phone], admins: [CONTACTS[0]] })).status).toBe(400)
    expect((await control('/control/groups', { subject: 'x', participants: [client.phone, client.phone] })).status).toBe(400)
    expect((await control('/control/groups', { subject: 'x'.repeat(101), participants: [client.phone] })).status).toBe(400)
    expect((await control('/control/groups', { subject: 'x', participants: [client.phone], announce: 'yes' })).status).toBe(400)
  })
})
