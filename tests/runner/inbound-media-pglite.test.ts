import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { listInbound, type InboundItem } from '../../db/queries/inbound.js'
import { createWebhook } from '../../db/queries/webhook-endpoints.js'
import { createTestApp } from '../support/app.js'
import { testConfig, usePairedRunner, waitFor } from './helpers.js'

/**
 * The files people send, end to end with the real Baileys (runner/whatsapp/download.ts): the contact uploads an
 * encrypted file to the loopback's media endpoint, the runner downloads and checks it before the message's receipt,
 * and the API streams it back byte for byte. Larger than INBOUND_MEDIA_MAX_BYTES (declared or found so) and damaged
 * uploads are stored without bytes, and say why.
 */
describe('inbound media end to end on PGlite with real Baileys against the loopback server', () => {
  const MAX = 300_000
  const e2e = usePairedRunner(testConfig({ inboundMediaMaxBytes: MAX }))

  const stored = (from: string, count: number) =>
    waitFor(async () => {
      const rows = await listInbound(e2e.t.db, { phone: from, limit: 10 })
      return rows.length >= count ? rows[0]! : null
    }, 30_000, `inbound message ${count} from ${from}`)

  const file = (type: 'image' | 'video' | 'audio' | 'document', mimetype: string, bytes: Buffer, extra: Record<string, unknown> = {}) =>
    ({ type, mimetype, bytes, ...extra })

  it('stores an image and a document byte for byte, served by the API with their type and name, and announced by the webhook', async () => {
    const api = createTestApp(e2e.t.db)
    await createWebhook(e2e.t.db, { url: 'https://hooks.example.com/wa', events: ['message.received'], session: null, secret: 's'.repeat(32) })
    const from = '96173000001'
    const photo = randomBytes(MAX - 1000)
    await e2e.server.inbound({ from, to: e2e.phone, text: 'the receipt', file: file('image', 'image/jpeg', photo) })
    const image = await stored(from, 1)
    expect(image).toMatchObject({ type: 'image', text: 'the receipt', mimetype: 'image/jpeg', size: photo.length, media_status: 'stored' })
    let res = await api.get(image.media_url!)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/jpeg')
    expect(Buffer.from(await res.arrayBuffer()).equals(photo)).toBe(true)

    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(20_000)])
    await e2e.server.inbound({ from, to: e2e.phone, text: '', file: file('document', 'application/pdf; charset=binary', pdf, { fileName: 'März invoice.pdf' }) })
    const doc = await stored(from, 2)
    expect(doc).toMatchObject({ type: 'document', file_name: 'März invoice.pdf', media_status: 'stored' })
    res = await api.get(doc.media_url!)
    // The declared type's parameters are dropped; the name is the sender's, made safe for the header.
    expect(res.headers.get('content-type')).toBe('application/pdf')
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="M_rz_invoice.pdf"; filename*=UTF-8''${encodeURIComponent('März invoice.pdf')}`)
    expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true)

    const payloads = (await e2e.t.db.query("SELECT payload FROM webhook_deliveries WHERE type = 'message.received' ORDER BY id"))
      .map((r) => JSON.parse(String(r.payload)) as InboundItem)
    expect(payloads.map((p) => [p.id, p.media_status, p.media_url])).toEqual([
      [image.id, 'stored', `/api/inbound/${image.id}/media`],
      [doc.id, 'stored', `/api/inbound/${doc.id}/media`],
    ])
  }, 90_000)

  it('records a file over INBOUND_MEDIA_MAX_BYTES without its bytes, whether declared so or found so while reading', async () => {
    const from = '96173000002'
    await e2e.server.inbound({ from, to: e2e.phone, text: 'the video', file: file('video', 'video/mp4', randomBytes(MAX + 1)) })
    expect(await stored(from, 1)).toMatchObject({ type: 'video', size: MAX + 1, media_status: 'too_large', media_url: null })
    // A sender that declares a small size does not get a larger file stored.
    await e2e.server.inbound({ from, to: e2e.phone, text: '', file: file('audio', 'audio/ogg', randomBytes(MAX + 5000), { declaredSize: 1000 }) })
    expect(await stored(from, 2)).toMatchObject({ type: 'audio', size: 1000, media_status: 'too_large', media_url: null })
    expect(await e2e.t.db.query('SELECT id FROM media')).toHaveLength(2)
  }, 60_000)

  it('records a damaged upload as failed, and the contact\'s next message still arrives', async () => {
    const from = '96173000003'
    await e2e.server.inbound({ from, to: e2e.phone, text: 'broken', file: file('image', 'image/png', randomBytes(5000), { corrupt: true }) })
    expect(await stored(from, 1)).toMatchObject({ type: 'image', media_status: 'failed', media_url: null })
    await e2e.server.inbound({ from, to: e2e.phone, text: 'hello again' })
    expect(await stored(from, 2)).toMatchObject({ type: 'text', text: 'hello again', media_status: null })
  }, 60_000)

  it('a runner stopped mid-download leaves the message unreceipted: the next runner downloads and stores it once', async () => {
    const from = '96173000004'
    const bytes = randomBytes(100_000)
    const before = e2e.server.downloads(true).count
    await e2e.server.inbound({ from, to: e2e.phone, text: 'slow one', file: file('document', 'application/pdf', bytes, { fileName: 'a.pdf' }) })
    await waitFor(async () => e2e.server.downloads().held >= 1 || null, 20_000, 'the runner asking for the file')
    await e2e.runner.stop()
    expect(await listInbound(e2e.t.db, { phone: from, limit: 10 })).toEqual([])
    e2e.server.downloads(false)
    await e2e.restart()
    const doc = await stored(from, 1)
    expect(doc).toMatchObject({ type: 'document', file_name: 'a.pdf', media_status: 'stored' })
    const res = await createTestApp(e2e.t.db).get(doc.media_url!)
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
    expect(e2e.server.downloads().count).toBeGreaterThanOrEqual(before + 2)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(await listInbound(e2e.t.db, { phone: from, limit: 10 })).toHaveLength(1)
  }, 120_000)
})
