import { describe, expect, it } from 'vitest'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { requestRevoke } from '../../db/lifecycle/revoke.js'
import { getMessage } from '../../db/queries/messages.js'
import type { MessageRecord } from '../../db/types.js'
import type { RecordedMessage } from '../support/wa-loopback/context.js'
import { usePairedRunner, waitFor } from './helpers.js'
import { buildDocx, buildPdf, DOCX_MIME, enqueueMedia, makeMp3, makeMp4, makeOggOpus, sha256, itWithFfmpeg } from './media-fixtures.js'

/**
 * Every message kind sent by the runner with the real Baileys, received and decrypted by a loopback contact
 * (runner/README.md, Sending): documents, videos, audio and voice notes byte for byte, locations, contact cards,
 * replies that quote an inbound message, revokes, and one upload per media reused by a later send.
 */
describe('message kinds end to end on PGlite with real Baileys against the loopback server', () => {
  const e2e = usePairedRunner()

  const sentRow = (id: number) =>
    waitFor(async () => {
      const m = await getMessage(e2e.t.db, id)
      if (m?.status === 'failed') throw new Error(`message ${id} failed: ${m.error}`)
      return m?.status === 'sent' ? m : null
    }, 30_000, `message ${id} sent`)
  const failedRow = (id: number) =>
    waitFor(async () => {
      const m = await getMessage(e2e.t.db, id)
      return m?.status === 'failed' ? m : null
    }, 30_000, `message ${id} failed`)
  const received = (row: MessageRecord) =>
    waitFor(() => e2e.server.messages(row.phone).find((m) => m.id === row.waMessageId), 20_000, `message ${row.id} at the contact`)
  const bytesOf = async (m: RecordedMessage) => {
    const res = await fetch(`${e2e.server.url}/control/messages/${encodeURIComponent(m.id)}/media`)
    expect(res.status).toBe(200)
    return Buffer.from(await res.arrayBuffer())
  }

  it('a PDF document: file name, mimetype, caption, size, SHA-256 of the stored bytes, page count, exact bytes', async () => {
    const pdf = buildPdf(['Invoice 2026-0042', 'Page 2: terms', 'Page 3: thanks'])
    const r = await enqueueMedia(e2e.t.db, {
      phone: '96171000001', type: 'document', bytes: pdf, mime: 'application/pdf', body: 'Your invoice 🧾',
      details: { fileName: 'invoice-2026-0042.pdf' },
    })
    const got = await received(await sentRow(r.id))
    expect(got).toMatchObject({
      type: 'document', file_name: 'invoice-2026-0042.pdf', mimetype: 'application/pdf', caption: 'Your invoice 🧾',
      size: pdf.length, sha256: sha256(pdf), page_count: 3,
    })
    expect((await bytesOf(got)).equals(pdf)).toBe(true)
  })

  it('a DOCX document arrives byte for byte with its type and name', async () => {
    const docx = buildDocx('Quarterly report')
    const r = await enqueueMedia(e2e.t.db, {
      phone: '96171000002', type: 'document', bytes: docx, mime: DOCX_MIME, details: { fileName: 'report.docx' },
    })
    const got = await received(await sentRow(r.id))
    expect(got).toMatchObject({ type: 'document', file_name: 'report.docx', mimetype: DOCX_MIME, size: docx.length, sha256: sha256(docx) })
    expect(got.page_count).toBeNull()
    expect((await bytesOf(got)).equals(docx)).toBe(true)
  })

  itWithFfmpeg('a video with its caption and the length ffmpeg read, byte for byte', async () => {
    const mp4 = await makeMp4()
    const r = await enqueueMedia(e2e.t.db, { phone: '96171000003', type: 'video', bytes: mp4, mime: 'video/mp4', body: 'Route 🚚' })
    const got = await received(await sentRow(r.id))
    expect(got).toMatchObject({ type: 'video', caption: 'Route 🚚', mimetype: 'video/mp4', seconds: 2, size: mp4.length, sha256: sha256(mp4) })
    expect((await bytesOf(got)).equals(mp4)).toBe(true)
  })

  itWithFfmpeg('an MP3 voice note is converted to OGG/Opus and sent as a voice note', async () => {
    const mp3 = await makeMp3()
    const r = await enqueueMedia(e2e.t.db, { phone: '96171000004', type: 'audio', bytes: mp3, mime: 'audio/mpeg', details: { ptt: true } })
    const got = await received(await sentRow(r.id))
    expect(got).toMatchObject({ type: 'audio', ptt: true, mimetype: 'audio/ogg; codecs=opus', seconds: 3 })
    const ogg = await bytesOf(got)
    expect(ogg.subarray(0, 4).toString('latin1')).toBe('OggS')
    expect(ogg.subarray(28, 36).toString('latin1')).toBe('OpusHead')
    expect(got.sha256).toBe(sha256(ogg))
  })

  itWithFfmpeg('an OGG/Opus voice note is sent as stored, byte for byte', async () => {
    const ogg = await makeOggOpus()
    const r = await enqueueMedia(e2e.t.db, { phone: '96171000005', type: 'audio', bytes: ogg, mime: 'audio/ogg', details: { ptt: true } })
    const got = await received(await sentRow(r.id))
    expect(got).toMatchObject({ type: 'audio', ptt: true, mimetype: 'audio/ogg; codecs=opus', seconds: 2, size: ogg.length, sha256: sha256(ogg) })
    expect((await bytesOf(got)).equals(ogg)).toBe(true)
  })

  itWithFfmpeg('an MP3 as plain audio is sent as stored, byte for byte', async () => {
    const mp3 = await makeMp3()
    const r = await enqueueMedia(e2e.t.db, { phone: '96171000006', type: 'audio', bytes: mp3, mime: 'audio/mpeg' })
    const got = await received(await sentRow(r.id))
    expect(got).toMatchObject({ type: 'audio', ptt: false, mimetype: 'audio/mpeg', seconds: 3, size: mp3.length, sha256: sha256(mp3) })
    expect((await bytesOf(got)).equals(mp3)).toBe(true)
  })

  itWithFfmpeg('a voice note that needs converting fails permanently, saying to install ffmpeg, when ffmpeg is missing', async () => {
    const mp3 = await makeMp3()
    const saved = process.env.FFMPEG_PATH
    process.env.FFMPEG_PATH = '/nonexistent/ffmpeg'
    try {
      const r = await enqueueMedia(e2e.t.db, { phone: '96171000007', type: 'audio', bytes: mp3, mime: 'audio/mpeg', details: { ptt: true } })
      const row = await failedRow(r.id)
      expect(row.error).toMatch(/install ffmpeg.*OGG\/Opus/)
      expect(row.attempts).toBe(1)
    } finally {
      if (saved === undefined) delete process.env.FFMPEG_PATH
      else process.env.FFMPEG_PATH = saved
    }
  })

  it('a location with its name and address', async () => {
    const r = await enqueueMessage(e2e.t.db, {
      session: 'default', phone: '96171000008', type: 'location', body: null,
      details: { location: { latitude: 33.8938, longitude: 35.5018, name: 'Beirut office', address: 'Hamra St, Beirut' } },
    })
    expect(await received(await sentRow(r.id))).toMatchObject({
      type: 'location', latitude: 33.8938, longitude: 35.5018, name: 'Beirut office', address: 'Hamra St, Beirut',
    })
  })

  it('a contact card whose vCard carries the phone as its WhatsApp id', async () => {
    const r = await enqueueMessage(e2e.t.db, {
      session: 'default', phone: '96171000009', type: 'contact', body: null,
      details: { contact: { name: 'Rania Haddad', phones: ['96170123456'], email: 'rania@example.com' } },
    })
    const got = await received(await sentRow(r.id))
    expect(got).toMatchObject({ type: 'contact', name: 'Rania Haddad' })
    expect(got.vcard).toMatch(/waid=96170123456/)
    expect(got.vcard).toMatch(/BEGIN:VCARD[\s\S]*END:VCARD/)
  })

  it('a text replying to an inbound message quotes it; a reply whose inbound row is gone goes without the quote', async () => {
    const from = '96171000010'
    const { id: inboundWaId } = await e2e.server.inbound({ from, to: e2e.phone, text: 'Where is my order?' })
    const [inbound] = await waitFor(async () => {
      const rows = await e2e.t.db.query<{ id: number }>('SELECT id FROM inbound_messages WHERE wa_message_id = $1', [inboundWaId])
      return rows.length ? rows : null
    }, 20_000, 'the inbound row')
    const r = await enqueueMessage(e2e.t.db, { session: 'default', phone: from, type: 'text', body: 'On its way 📦', replyTo: Number(inbound!.id) })
    const got = await received(await sentRow(r.id))
    expect(got).toMatchObject({ type: 'text', text: 'On its way 📦', quoted_id: inboundWaId })

    const orphan = await enqueueMessage(e2e.t.db, { session: 'default', phone: from, type: 'text', body: 'no quote', replyTo: 999_999 })
    expect(await received(await sentRow(orphan.id))).toMatchObject({ type: 'text', text: 'no quote', quoted_id: null })
  })

  it('a document replying to an inbound message quotes it too', async () => {
    const from = '96171000011'
    const { id: inboundWaId } = await e2e.server.inbound({ from, to: e2e.phone, text: 'Send me the form' })
    const [inbound] = await waitFor(async () => {
      const rows = await e2e.t.db.query<{ id: number }>('SELECT id FROM inbound_messages WHERE wa_message_id = $1', [inboundWaId])
      return rows.length ? rows : null
    }, 20_000, 'the inbound row')
    const pdf = buildPdf(['Form'])
    const r = await e2e.t.db.transaction(async (tx) => {
      const { insertMedia } = await import('../../db/queries/media.js')
      const mediaId = await insertMedia(tx, { bytes: pdf, mime: 'application/pdf', sha256: sha256(pdf) })
      return enqueueMessage(tx, {
        session: 'default', phone: from, type: 'document', body: 'Here it is', mediaId, details: { fileName: 'form.pdf' },
        replyTo: Number(inbound!.id),
      })
    })
    expect(await received(await sentRow(r.id))).toMatchObject({ type: 'document', quoted_id: inboundWaId, page_count: 1 })
  })

  it('revokes a sent message: the contact gets the delete for its id, and the message gets revoked_at', async () => {
    const to = '96171000012'
    const target = await enqueueMessage(e2e.t.db, { session: 'default', phone: to, type: 'text', body: 'sent by mistake' })
    const targetRow = await sentRow(target.id)
    const request = await requestRevoke(e2e.t.db, target.id)
    expect(request.kind).toBe('queued')
    const revokeId = (request as { revokeId: number }).revokeId
    const got = await received(await sentRow(revokeId))
    expect(got).toMatchObject({ type: 'revoke', revoked_id: targetRow.waMessageId })
    const after = await waitFor(async () => (await getMessage(e2e.t.db, target.id))?.revokedAt ?? null, 10_000, 'revoked_at')
    expect(after).toBeInstanceOf(Date)
  })

  it('a revoke that waited past the window fails with revoke_too_late and sends nothing', async () => {
    const to = '96171000013'
    const target = await enqueueMessage(e2e.t.db, { session: 'default', phone: to, type: 'text', body: 'old news' })
    await sentRow(target.id)
    await e2e.t.db.execute("UPDATE messages SET sent_at = now() - interval '61 hours' WHERE id = $1", [target.id])
    const revoke = await enqueueMessage(e2e.t.db, { session: 'default', phone: to, type: 'revoke', body: null, targetId: target.id })
    const row = await failedRow(revoke.id)
    expect(row.error).toMatch(/^revoke_too_late/)
    expect(e2e.server.messages(to).some((m) => m.type === 'revoke')).toBe(false)
    expect((await getMessage(e2e.t.db, target.id))!.revokedAt).toBeNull()
  })

  it('a second send of the same document reuses the upload: one upload, both contacts get the exact bytes', async () => {
    const pdf = buildPdf(['Reused'], 300_000)
    const first = await enqueueMedia(e2e.t.db, {
      phone: '96171000014', type: 'document', bytes: pdf, mime: 'application/pdf', body: 'first', details: { fileName: 'a.pdf' },
    })
    const before = e2e.server.uploads().count
    const got1 = await received(await sentRow(first.id))
    expect(e2e.server.uploads().count).toBe(before + 1)
    const second = await enqueueMessage(e2e.t.db, {
      session: 'default', phone: '96171000015', type: 'document', body: 'second', mediaId: first.mediaId, details: { fileName: 'b.pdf' },
    })
    const got2 = await received(await sentRow(second.id))
    expect(e2e.server.uploads().count).toBe(before + 1)
    // The reused upload carries this send's own caption and file name.
    expect(got2).toMatchObject({ caption: 'second', file_name: 'b.pdf', size: pdf.length, sha256: sha256(pdf), page_count: 1 })
    expect(got1).toMatchObject({ caption: 'first', file_name: 'a.pdf' })
    expect((await bytesOf(got2)).equals(pdf)).toBe(true)
  })

  it('an image is compressed and uploaded once for two sends', async () => {
    const sharp = (await import('sharp')).default
    const png = await sharp({ create: { width: 1600, height: 900, channels: 3, background: '#aa3366' } }).png().toBuffer()
    const first = await enqueueMedia(e2e.t.db, { phone: '96171000016', type: 'image', bytes: png, mime: 'image/png', body: 'one' })
    const before = e2e.server.uploads().count
    await received(await sentRow(first.id))
    const second = await enqueueMessage(e2e.t.db, { session: 'default', phone: '96171000017', type: 'image', body: 'two', mediaId: first.mediaId })
    const got = await received(await sentRow(second.id))
    expect(e2e.server.uploads().count).toBe(before + 1)
    expect(got).toMatchObject({ type: 'image', caption: 'two', mimetype: 'image/jpeg', width: 1280, height: 720 })
  })

  it('media whose chunks were pruned after queueing fails permanently, without retries', async () => {
    const pdf = buildPdf(['Gone'], 600_000)
    const r = await e2e.t.db.transaction(async (tx) => {
      const { insertMedia } = await import('../../db/queries/media.js')
      const mediaId = await insertMedia(tx, { bytes: pdf, mime: 'application/octet-stream', sha256: sha256(pdf) })
      await tx.execute('DELETE FROM media_chunks WHERE media_id = $1 AND seq = 1', [mediaId])
      return enqueueMessage(tx, { session: 'default', phone: '96171000018', type: 'document', body: null, mediaId, details: { fileName: 'gone.bin' } })
    })
    const row = await failedRow(r.id)
    expect(row.error).toMatch(/is gone/)
    expect(row.attempts).toBe(1)
  })
})
