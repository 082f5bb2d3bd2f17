import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Queryable } from '../../db/driver.js'
import { recordInbound } from '../../db/lifecycle/inbound.js'
import { getMedia } from '../../db/queries/media.js'
import { getMessage } from '../../db/queries/messages.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'
import { fakeWaId, uniqueName } from '../support/queue-fixtures.js'
import { minimalPdf, requireFfmpeg, testMp3, testVideoMp4, testVoiceNoteOgg } from '../support/wa-loopback/media-fixtures.js'

/** A multipart send: the text fields, then the file under `file` with its name and type. */
function form(fields: Record<string, string>, file?: { bytes: Buffer; name: string; type?: string }): FormData {
  const f = new FormData()
  for (const [k, v] of Object.entries(fields)) f.set(k, v)
  if (file) f.set('file', new File([new Uint8Array(file.bytes)], file.name, { type: file.type ?? 'application/octet-stream' }))
  return f
}

async function postForm(t: TestApp, path: string, body: FormData, headers: Record<string, string> = {}): Promise<Response> {
  return t.app.request(path, { method: 'POST', headers: t.headers(headers), body })
}

async function count(db: Queryable, table: 'messages' | 'media' | 'media_chunks'): Promise<number> {
  const [row] = await db.query(`SELECT COUNT(*) AS n FROM ${table}`)
  return Number(row!.n)
}

/** Runs `fn` and checks that it wrote no message, file or chunk. */
async function writesNothing(db: Queryable, fn: () => Promise<void>): Promise<void> {
  const before = [await count(db, 'messages'), await count(db, 'media'), await count(db, 'media_chunks')]
  await fn()
  expect([await count(db, 'messages'), await count(db, 'media'), await count(db, 'media_chunks')]).toEqual(before)
}

let pdf: Buffer
let mp4: Buffer
let mp3: Buffer
let opus: Buffer
/** A local file server for media by URL: `/pdf`, `/missing` (404), `/endless` (never ends), `/redirect-private`. */
let files: Server
let filesUrl: string

beforeAll(async () => {
  await requireFfmpeg()
  pdf = minimalPdf(['Invoice 1042', 'Terms', 'Thank you'])
  ;[mp4, mp3, opus] = await Promise.all([testVideoMp4(), testMp3(), testVoiceNoteOgg()])
  files = createServer((req, res) => {
    if (req.url === '/invoice.pdf') {
      res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': pdf.length })
      res.end(pdf)
    } else if (req.url === '/endless') {
      res.writeHead(200, { 'content-type': 'application/pdf' })
      const chunk = Buffer.alloc(64 * 1024, 7)
      const timer = setInterval(() => res.write(chunk), 5)
      res.on('close', () => clearInterval(timer))
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('no such file')
    }
  })
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r))
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`
})

afterAll(async () => {
  files?.closeAllConnections()
  await new Promise<void>((r) => (files ? files.close(() => r()) : r()))
})

describeEachEngine('message kinds over the API', (ctx) => {
  it('queues a PDF as a document: type from its bytes, a safe file name, the bytes stored exactly in chunks', async () => {
    const t = createTestApp(ctx.db)
    const res = await postForm(t, '/api/send-document', form({ phone: '9617000001', caption: 'Your invoice' }, { bytes: pdf, name: '../../secret/Invoice 1042.pdf' }))
    expect(res.status).toBe(200)
    const { message_id: id } = await res.json()
    const m = await getMessage(ctx.db, id)
    expect(m).toMatchObject({ type: 'document', body: 'Your invoice', status: 'pending', details: { fileName: 'Invoice 1042.pdf' } })
    const stored = await getMedia(ctx.db, m!.mediaId!)
    expect(stored?.mime).toBe('application/pdf')
    expect(Buffer.from(stored!.bytes).equals(pdf)).toBe(true)
    const shown = await (await t.get(`/api/messages/${id}`)).json()
    expect(shown).toMatchObject({ type: 'document', file_name: 'Invoice 1042.pdf', media: { mimetype: 'application/pdf', size: pdf.length } })
  })

  it('uses the filename field over the upload name, and keeps large files in chunks no statement needs 1 MiB for', async () => {
    const t = createTestApp(ctx.db)
    const big = Buffer.concat([pdf, Buffer.alloc(3 * 1024 * 1024 + 17, 1)])
    const res = await postForm(t, '/api/send-document', form({ phone: '9617000002', filename: 'statement' }, { bytes: big, name: 'x.bin' }))
    expect(res.status).toBe(200)
    const m = await getMessage(ctx.db, (await res.json()).message_id)
    expect(m?.details?.fileName).toBe('statement.pdf')
    const [largest] = await ctx.db.query(ctx.db.dialect === 'mysql'
      ? 'SELECT MAX(LENGTH(bytes)) AS n, COUNT(*) AS c FROM media_chunks WHERE media_id = ?'
      : 'SELECT MAX(octet_length(bytes)) AS n, COUNT(*) AS c FROM media_chunks WHERE media_id = $1', [m!.mediaId])
    expect(Number(largest!.n)).toBeLessThanOrEqual(256 * 1024)
    expect(Number(largest!.c)).toBe(Math.ceil(big.length / (256 * 1024)))
    expect(Buffer.from((await getMedia(ctx.db, m!.mediaId!))!.bytes).equals(big)).toBe(true)
  })

  it('refuses a document over DOCUMENT_MAX_BYTES with 413 and writes nothing', async () => {
    const t = createTestApp(ctx.db, { env: { DOCUMENT_MAX_BYTES: String(pdf.length - 1) } })
    await writesNothing(ctx.db, async () => {
      const res = await postForm(t, '/api/send-document', form({ phone: '9617000003' }, { bytes: pdf, name: 'a.pdf' }))
      expect(res.status).toBe(413)
      expect((await res.json()).code).toBe('document_too_large')
    })
  })

  it('queues an MP4 as video and refuses other bytes declared as video with 415', async () => {
    const t = createTestApp(ctx.db)
    const ok = await postForm(t, '/api/send-video', form({ phone: '9617000004', caption: 'How to' }, { bytes: mp4, name: 'clip.mp4' }))
    expect(ok.status).toBe(200)
    const m = await getMessage(ctx.db, (await ok.json()).message_id)
    expect(m?.type).toBe('video')
    expect((await getMedia(ctx.db, m!.mediaId!))?.mime).toBe('video/mp4')
    await writesNothing(ctx.db, async () => {
      const res = await postForm(t, '/api/send-video', form({ phone: '9617000004' }, { bytes: pdf, name: 'clip.mp4', type: 'video/mp4' }))
      expect(res.status).toBe(415)
      expect((await res.json()).code).toBe('unsupported_video_type')
    })
  })

  it('takes an OGG/Opus voice note as it is, and a non-Opus one only where ffmpeg can convert it', async () => {
    const without = createTestApp(ctx.db, { deps: { media: { canConvertAudio: () => Promise.resolve(false) } } })
    const voice = await postForm(without, '/api/send-audio', form({ phone: '9617000005', ptt: 'true' }, { bytes: opus, name: 'v.ogg' }))
    expect(voice.status).toBe(200)
    const v = await getMessage(ctx.db, (await voice.json()).message_id)
    expect(v).toMatchObject({ type: 'audio', details: { ptt: true }, body: null })
    await writesNothing(ctx.db, async () => {
      const res = await postForm(without, '/api/send-audio', form({ phone: '9617000005', ptt: 'true' }, { bytes: mp3, name: 'v.mp3' }))
      expect(res.status).toBe(415)
      const body = await res.json()
      expect(body.code).toBe('voice_note_not_opus')
      expect(body.error).toMatch(/ffmpeg/)
    })
    const plain = await postForm(without, '/api/send-audio', form({ phone: '9617000005' }, { bytes: mp3, name: 'song.mp3' }))
    expect(plain.status).toBe(200)
    expect((await getMessage(ctx.db, (await plain.json()).message_id))?.details).toEqual({ ptt: false })
    const withFfmpeg = createTestApp(ctx.db, { deps: { media: { canConvertAudio: () => Promise.resolve(true) } } })
    const converted = await postForm(withFfmpeg, '/api/send-audio', form({ phone: '9617000005', ptt: '1' }, { bytes: mp3, name: 'v.mp3' }))
    expect(converted.status).toBe(200)
    await writesNothing(ctx.db, async () => {
      const res = await postForm(withFfmpeg, '/api/send-audio', form({ phone: '9617000005' }, { bytes: pdf, name: 'song.mp3' }))
      expect(res.status).toBe(415)
      expect((await res.json()).code).toBe('unsupported_audio_type')
    })
  })

  it('queues a location and a contact card, and answers every bad field at once', async () => {
    const t = createTestApp(ctx.db)
    let res = await t.post('/api/send-location', { phone: '9617000006', latitude: 33.8938, longitude: 35.5018, name: 'Shop', address: 'Hamra St, Beirut' })
    expect(res.status).toBe(200)
    expect((await getMessage(ctx.db, (await res.json()).message_id))).toMatchObject({
      type: 'location', body: null, details: { location: { latitude: 33.8938, longitude: 35.5018, name: 'Shop', address: 'Hamra St, Beirut' } },
    })
    await writesNothing(ctx.db, async () => {
      res = await t.post('/api/send-location', { phone: '9617000006', latitude: 91, longitude: 'east' })
      expect(res.status).toBe(400)
      expect((await res.json()).errors.map((e: { path: string }) => e.path).sort()).toEqual(['latitude', 'longitude'])
    })
    res = await t.post('/api/send-contact', { phone: '9617000006', contact: { name: 'Help desk', phones: ['+961 1 234 567'], email: 'help@example.com' } })
    expect(res.status).toBe(200)
    expect((await getMessage(ctx.db, (await res.json()).message_id))?.details).toEqual({ contact: { name: 'Help desk', phones: ['9611234567'], email: 'help@example.com' } })
    await writesNothing(ctx.db, async () => {
      res = await t.post('/api/send-contact', { phone: '9617000006', contact: { name: '', phones: [], email: 'nope' } })
      expect(res.status).toBe(400)
      expect((await res.json()).errors.map((e: { path: string }) => e.path).sort()).toEqual(['contact.email', 'contact.name', 'contact.phones'])
    })
  })

  it('fetches media by URL once, and refuses private addresses unless allowed, failed answers and endless bodies with 422', async () => {
    const refused = createTestApp(ctx.db)
    await writesNothing(ctx.db, async () => {
      const res = await refused.post('/api/send-document', { phone: '9617000007', url: `${filesUrl}/invoice.pdf` })
      expect(res.status).toBe(422)
      const body = await res.json()
      expect(body.code).toBe('url_fetch_failed')
      expect(body.error).toMatch(/private|loopback/i)
    })
    const allowed = createTestApp(ctx.db, { env: { MEDIA_ALLOW_PRIVATE: '1', DOCUMENT_MAX_BYTES: String(1024 * 1024) } })
    const res = await allowed.post('/api/send-document', { phone: '9617000007', url: `${filesUrl}/invoice.pdf`, caption: 'Invoice' })
    expect(res.status).toBe(200)
    const m = await getMessage(ctx.db, (await res.json()).message_id)
    expect(m?.details?.fileName).toBe('invoice.pdf')
    expect(Buffer.from((await getMedia(ctx.db, m!.mediaId!))!.bytes).equals(pdf)).toBe(true)
    await writesNothing(ctx.db, async () => {
      const missing = await allowed.post('/api/send-document', { phone: '9617000007', url: `${filesUrl}/missing` })
      expect(missing.status).toBe(422)
      expect((await missing.json()).error).toMatch(/404/)
      const endless = await allowed.post('/api/send-document', { phone: '9617000007', url: `${filesUrl}/endless` })
      expect(endless.status).toBe(422)
      expect((await endless.json()).error).toMatch(/larger than 1 MB/)
      const ftp = await allowed.post('/api/send-image', { phone: '9617000007', url: 'ftp://example.com/a.png' })
      expect([400, 422]).toContain(ftp.status)
    })
  })

  it('quotes a received message with reply_to, and refuses unknown or other-session ids', async () => {
    const t = createTestApp(ctx.db)
    const other = uniqueName('s')
    expect((await t.post('/api/sessions', { name: other })).status).toBe(200)
    const waMessageId = fakeWaId()
    await recordInbound(ctx.db, { session: 'default', phone: '9617000008', senderJid: '9617000008@s.whatsapp.net', body: 'Is my order ready?', waMessageId, keyword: null })
    const [row] = await ctx.db.query(ctx.db.dialect === 'mysql' ? 'SELECT id FROM inbound_messages WHERE wa_message_id = ?' : 'SELECT id FROM inbound_messages WHERE wa_message_id = $1', [waMessageId])
    const inboundId = Number(row!.id)
    const res = await t.post('/api/send', { phone: '9617000008', message: 'Yes, ready for pickup', reply_to: inboundId })
    expect(res.status).toBe(200)
    expect((await getMessage(ctx.db, (await res.json()).message_id))?.replyTo).toBe(inboundId)
    await writesNothing(ctx.db, async () => {
      const unknown = await t.post('/api/send', { phone: '9617000008', message: 'x', reply_to: inboundId + 100_000 })
      expect(unknown.status).toBe(404)
      expect((await unknown.json()).code).toBe('unknown_reply_to')
      const elsewhere = await t.post('/api/send-location', { phone: '9617000008', latitude: 1, longitude: 2, session: other, reply_to: inboundId })
      expect(elsewhere.status).toBe(409)
      expect((await elsewhere.json()).code).toBe('reply_to_other_session')
      const doc = await postForm(t, '/api/send-document', form({ phone: '9617000008', reply_to: String(inboundId + 100_000) }, { bytes: pdf, name: 'a.pdf' }))
      expect(doc.status).toBe(404)
    })
  })

  it('answers a repeated document under one Idempotency-Key with the same id and stores nothing twice', async () => {
    const t = createTestApp(ctx.db)
    const key = uniqueName('doc-key')
    const send = () => postForm(t, '/api/send-document', form({ phone: '9617000009', caption: 'c' }, { bytes: pdf, name: 'a.pdf' }), { 'Idempotency-Key': key })
    const first = await (await send()).json()
    await writesNothing(ctx.db, async () => {
      expect(await (await send()).json()).toEqual(first)
      const changed = await postForm(t, '/api/send-document', form({ phone: '9617000009', caption: 'other' }, { bytes: pdf, name: 'a.pdf' }), { 'Idempotency-Key': key })
      expect(changed.status).toBe(409)
    })
  })

  it('cancels a pending message once, and refuses one already sent', async () => {
    const t = createTestApp(ctx.db)
    const { message_id: id } = await (await t.post('/api/send', { phone: '9617000010', message: 'later', send_at: new Date(Date.now() + 3_600_000).toISOString() })).json()
    expect(await (await t.post(`/api/messages/${id}/cancel`)).json()).toEqual({ success: true })
    expect((await getMessage(ctx.db, id))?.status).toBe('cancelled')
    expect((await t.post(`/api/messages/${id}/cancel`)).status).toBe(200)
    expect((await (await t.get(`/api/messages/${id}`)).json()).status).toBe('cancelled')
    const sent = (await (await t.post('/api/send', { phone: '9617000010', message: 'now' })).json()).message_id
    await ctx.db.execute(ctx.db.dialect === 'mysql' ? "UPDATE messages SET status = 'sent', sent_at = NOW(6) WHERE id = ?" : "UPDATE messages SET status = 'sent', sent_at = now() WHERE id = $1", [sent])
    const late = await t.post(`/api/messages/${sent}/cancel`)
    expect(late.status).toBe(409)
    expect((await late.json()).code).toBe('not_cancellable')
    expect((await t.post('/api/messages/999999999/cancel')).status).toBe(404)
  })

  it('revokes a sent message through a queued revoke row, once, and refuses pending and too-old ones', async () => {
    const t = createTestApp(ctx.db)
    const sentNow = ctx.db.dialect === 'mysql' ? "UPDATE messages SET status = 'sent', sent_at = NOW(6) - INTERVAL ? HOUR WHERE id = ?" : "UPDATE messages SET status = 'sent', sent_at = now() - $1 * interval '1 hour' WHERE id = $2"
    const id = (await (await t.post('/api/send', { phone: '9617000011', message: 'wrong price' })).json()).message_id
    const pending = await t.post(`/api/messages/${id}/revoke`)
    expect(pending.status).toBe(409)
    expect((await pending.json()).code).toBe('not_revocable')
    await ctx.db.execute(sentNow, [1, id])
    const first = await (await t.post(`/api/messages/${id}/revoke`)).json()
    expect(first.success).toBe(true)
    expect(await getMessage(ctx.db, first.message_id)).toMatchObject({ type: 'revoke', targetId: id, phone: '9617000011', status: 'pending' })
    expect(await (await t.post(`/api/messages/${id}/revoke`)).json()).toEqual(first)
    const old = (await (await t.post('/api/send', { phone: '9617000011', message: 'old' })).json()).message_id
    await ctx.db.execute(sentNow, [61, old])
    const tooLate = await t.post(`/api/messages/${old}/revoke`)
    expect(tooLate.status).toBe(409)
    expect((await tooLate.json()).code).toBe('revoke_too_late')
  })

  it('takes every JSON kind and files by url in one send-batch, all or nothing', async () => {
    const t = createTestApp(ctx.db, { env: { MEDIA_ALLOW_PRIVATE: '1' } })
    const items = [
      { phone: '9617000020', message: 'Your order shipped' },
      { type: 'location', phone: '9617000020', latitude: 1.5, longitude: 2.5, name: 'Depot' },
      { type: 'contact', phone: '9617000020', contact: { name: 'Courier', phones: ['9617000099'] } },
      { type: 'document', phone: '9617000020', url: `${filesUrl}/invoice.pdf`, caption: 'Invoice' },
    ]
    const res = await t.post('/api/send-batch', { messages: items })
    expect(res.status).toBe(200)
    const ids: number[] = (await res.json()).message_ids
    const rows = await Promise.all(ids.map((id) => getMessage(ctx.db, id)))
    expect(rows.map((m) => m?.type)).toEqual(['text', 'location', 'contact', 'document'])
    expect(rows[1]?.details).toEqual({ location: { latitude: 1.5, longitude: 2.5, name: 'Depot' } })
    expect(Buffer.from((await getMedia(ctx.db, rows[3]!.mediaId!))!.bytes).equals(pdf)).toBe(true)
    await writesNothing(ctx.db, async () => {
      const bad = await t.post('/api/send-batch', { messages: [...items.slice(0, 3), { type: 'document', phone: '9617000020', url: `${filesUrl}/missing` }] })
      expect(bad.status).toBe(422)
      const body = await bad.json()
      expect(body.code).toBe('url_fetch_failed')
      expect(body.errors[0].path).toBe('messages[3].url')
      const wrong = await t.post('/api/send-batch', { messages: [{ type: 'sticker', phone: '9617000020' }, { type: 'location', phone: '9617000020', latitude: 100, longitude: 0 }] })
      expect(wrong.status).toBe(400)
      expect((await wrong.json()).errors.map((e: { path: string }) => e.path)).toEqual(['messages[0].type', 'messages[1].latitude'])
      const many = await t.post('/api/send-batch', { messages: Array.from({ length: 21 }, () => ({ type: 'image', phone: '9617000020', url: `${filesUrl}/x.png` })) })
      expect(many.status).toBe(413)
      expect((await many.json()).code).toBe('too_many_urls')
    })
  })
})
