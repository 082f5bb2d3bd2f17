import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateWAMessage, type AnyMessageContent, type WAMessage } from '@whiskeysockets/baileys'
import { pino } from 'pino'
import { endClient, pairClient, type PairedClient } from '../support/wa-loopback/baileys-client.js'
import type { RecordedMessage } from '../support/wa-loopback/context.js'
import { minimalPdf, requireFfmpeg, testVideoMp4, testVoiceNoteOgg } from '../support/wa-loopback/media-fixtures.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

// Every kind of outbound message a real Baileys client sends, as the contact's phone sees it: the recorded fields
// (each record carries every key, `null` where it does not apply) and the decrypted media, byte for byte.

let server: LoopbackServer
let client: PairedClient
const serverLogs: string[] = []
const CONTACT = '96170123456'
const contactJid = `${CONTACT}@s.whatsapp.net`

beforeAll(async () => {
  await requireFfmpeg()
  server = await startLoopbackServer({ log: pino({ level: 'warn' }, { write: (line: string) => void serverLogs.push(line) }) })
  client = await pairClient(server)
})
afterAll(async () => {
  if (client) await endClient(client.sock)
  await server?.stop()
})

const NOTHING = {
  text: null, caption: null, mimetype: null, file_name: null, width: null, height: null, size: null, sha256: null,
  page_count: null, seconds: null, ptt: null, latitude: null, longitude: null, name: null, address: null, vcard: null,
  quoted_id: null, revoked_id: null
}

/** The whole record expected for `sent`: every key, the given ones set. */
function expectedRecord(sent: WAMessage, fields: Partial<RecordedMessage>) {
  return { id: sent.key.id, from: client.phone, to: CONTACT, group: null, ...NOTHING, ...fields, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }
}

async function send(content: AnyMessageContent, options?: { quoted?: WAMessage }): Promise<WAMessage> {
  const sent = await client.sock.sendMessage(contactJid, content, options)
  if (!sent?.key.id) throw new Error('sendMessage returned no message')
  return sent
}

/** The record of message `id` once the contact has decrypted it. */
async function recorded(id: string, timeoutMs = 15_000): Promise<RecordedMessage> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = server.messages(CONTACT).find(m => m.id === id)
    if (found) return found
    if (Date.now() > deadline) throw new Error(`the contact recorded no message ${id}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

async function mediaOf(id: string) {
  const res = await fetch(`${server.url}/control/messages/${encodeURIComponent(id)}/media`)
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

describe('media messages, downloaded and decrypted by the contact', () => {
  it('a document: caption, mimetype, file name, page count, size, SHA-256, and the exact bytes back', async () => {
    const pdf = minimalPdf(['Invoice 2026-0042', 'Page 2: terms'])
    // pageCount is a documentMessage field Baileys passes through but does not type
    const content = { document: pdf, mimetype: 'application/pdf', fileName: 'invoice-2026-0042.pdf', caption: 'Your invoice 🧾', pageCount: 2 }
    const sent = await send(content)
    expect(await recorded(sent.key.id!)).toEqual(
      expectedRecord(sent, {
        type: 'document',
        caption: 'Your invoice 🧾',
        mimetype: 'application/pdf',
        file_name: 'invoice-2026-0042.pdf',
        page_count: 2,
        size: pdf.length,
        sha256: sha256(pdf)
      })
    )
    const media = await mediaOf(sent.key.id!)
    expect(media.status).toBe(200)
    expect(media.type).toBe('application/pdf')
    expect(media.bytes.equals(pdf)).toBe(true)
  })

  it('a video encoded by ffmpeg: caption, mimetype, seconds, size, SHA-256, exact bytes', async () => {
    const mp4 = await testVideoMp4()
    const content = { video: mp4, mimetype: 'video/mp4', caption: 'Delivery route 🚚', seconds: 1 }
    const sent = await send(content)
    expect(await recorded(sent.key.id!)).toEqual(
      expectedRecord(sent, { type: 'video', caption: 'Delivery route 🚚', mimetype: 'video/mp4', seconds: 1, size: mp4.length, sha256: sha256(mp4) })
    )
    const media = await mediaOf(sent.key.id!)
    expect([media.status, media.type]).toEqual([200, 'video/mp4'])
    expect(media.bytes.equals(mp4)).toBe(true)
  })

  it('a voice note (Opus in Ogg): ptt, seconds, mimetype, size, SHA-256, exact bytes', async () => {
    const ogg = await testVoiceNoteOgg()
    const sent = await send({ audio: ogg, mimetype: 'audio/ogg; codecs=opus', ptt: true, seconds: 1 })
    expect(await recorded(sent.key.id!)).toEqual(
      expectedRecord(sent, { type: 'audio', mimetype: 'audio/ogg; codecs=opus', ptt: true, seconds: 1, size: ogg.length, sha256: sha256(ogg) })
    )
    const media = await mediaOf(sent.key.id!)
    expect([media.status, media.type]).toEqual([200, 'audio/ogg; codecs=opus'])
    expect(media.bytes.equals(ogg)).toBe(true)
  })

  it('a 64 MB document streams through upload, decryption and the media route intact', async () => {
    const big = randomBytes(64 * 1024 * 1024)
    const sent = await send({ document: big, mimetype: 'application/octet-stream', fileName: 'backup.bin' })
    const record = await recorded(sent.key.id!, 60_000)
    expect([record.type, record.size, record.sha256]).toEqual(['document', big.length, sha256(big)])
    const media = await mediaOf(sent.key.id!)
    expect(media.status).toBe(200)
    expect(media.bytes.length).toBe(big.length)
    expect(media.bytes.equals(big)).toBe(true)
  }, 120_000)

  it('refuses an upload over the 100 MB media_conn advertises, so the send fails', async () => {
    const tooBig = Buffer.alloc(100 * 1024 * 1024 + 1024)
    await expect(send({ document: tooBig, mimetype: 'application/octet-stream', fileName: 'too-big.bin' })).rejects.toThrow(/upload failed/i)
  }, 120_000)

  it.each([
    ['a changed fileSha256', 'decrypted media does not match fileSha256', (m: WAMessage) => (m.message!.documentMessage!.fileSha256 = randomBytes(32))],
    ['another media key (MAC)', 'media MAC mismatch', (m: WAMessage) => (m.message!.documentMessage!.mediaKey = randomBytes(32))],
    ['a changed fileEncSha256', 'upload does not match fileEncSha256', (m: WAMessage) => (m.message!.documentMessage!.fileEncSha256 = randomBytes(32))]
  ])('records media with %s as undownloadable: no size, no hash, no bytes', async (_case, reason, tamper) => {
    const pdf = minimalPdf(['tampered'])
    const message = await generateWAMessage(contactJid, { document: pdf, mimetype: 'application/pdf', fileName: 't.pdf' }, {
      upload: client.sock.waUploadToServer,
      userJid: client.sock.user!.id
    })
    tamper(message)
    await client.sock.relayMessage(contactJid, message.message!, { messageId: message.key.id! })
    expect(await recorded(message.key.id!)).toEqual(
      expectedRecord(message, { type: 'document', mimetype: 'application/pdf', file_name: 't.pdf' })
    )
    expect((await mediaOf(message.key.id!)).status).toBe(404)
    expect(serverLogs.some(line => line.includes(message.key.id!) && line.includes(reason))).toBe(true)
  })
})

describe('messages without media', () => {
  it('a location with name and address, quoting an earlier document', async () => {
    const earlier = await send({ document: minimalPdf(['Order 77']), mimetype: 'application/pdf', fileName: 'order-77.pdf' })
    const location = { degreesLatitude: 33.8959, degreesLongitude: 35.4784, name: 'Warehouse 3', address: 'Port of Beirut, Lebanon' }
    const sent = await send({ location }, { quoted: earlier })
    expect(await recorded(sent.key.id!)).toEqual(
      expectedRecord(sent, {
        type: 'location',
        latitude: 33.8959,
        longitude: 35.4784,
        name: 'Warehouse 3',
        address: 'Port of Beirut, Lebanon',
        quoted_id: earlier.key.id
      })
    )
    expect((await mediaOf(sent.key.id!)).status).toBe(404)
  })

  it('a contact card: its vcard and display name', async () => {
    const vcard = 'BEGIN:VCARD\nVERSION:3.0\nFN:Rania Haddad\nORG:Support;\nTEL;type=CELL;type=VOICE;waid=96170999888:+961 70 999 888\nEND:VCARD'
    const sent = await send({ contacts: { displayName: 'Rania Haddad', contacts: [{ displayName: 'Rania Haddad', vcard }] } })
    expect(await recorded(sent.key.id!)).toEqual(expectedRecord(sent, { type: 'contact', name: 'Rania Haddad', vcard }))
  })

  it('a text that quotes an earlier message carries its id', async () => {
    const earlier = await send({ text: 'Your order #1042 has shipped' })
    const sent = await send({ text: 'It arrives tomorrow ✅' }, { quoted: earlier })
    expect(await recorded(earlier.key.id!)).toEqual(expectedRecord(earlier, { type: 'text', text: 'Your order #1042 has shipped' }))
    expect(await recorded(sent.key.id!)).toEqual(
      expectedRecord(sent, { type: 'text', text: 'It arrives tomorrow ✅', quoted_id: earlier.key.id })
    )
  })

  it('a revoke (delete for everyone) names the message it deletes', async () => {
    const earlier = await send({ text: 'sent to the wrong person' })
    const sent = await send({ delete: earlier.key })
    expect(await recorded(sent.key.id!)).toEqual(expectedRecord(sent, { type: 'revoke', revoked_id: earlier.key.id }))
  })
})

describe('GET /control/messages/:id/media after a reset', () => {
  it('is 404 once the recorded messages and their bytes are forgotten, 400 for a malformed id', async () => {
    const sent = await send({ document: minimalPdf(['kept until reset']), mimetype: 'application/pdf', fileName: 'k.pdf' })
    await recorded(sent.key.id!)
    expect((await mediaOf(sent.key.id!)).status).toBe(200)
    server.reset()
    expect(await mediaOf(sent.key.id!)).toMatchObject({ status: 404, type: 'application/json' })
    expect(server.messages()).toEqual([])
    expect((await fetch(`${server.url}/control/messages/%E0%A4%A/media`)).status).toBe(400)
  })
})
