import { createHash, randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import type { Queryable } from '../../db/driver.js'
import { pruneUnreferencedMedia } from '../../db/queries/cron.js'
import { recordInbound } from '../../db/lifecycle/inbound.js'
import { getMessage } from '../../db/queries/messages.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'

/** `GET /api/inbound` and `GET /api/inbound/:id` (api/routes/inbound.ts): what people wrote, as the API lists it. */
describeEachEngine('GET /api/inbound and /api/inbound/:id', (ctx) => {
  it('lists received messages newest first with their kind, media metadata, quoted message and consent, page by page', async () => {
    const t = createTestApp(ctx.db)
    const phone = '9614100001'
    const { message_id } = await (await t.post('/api/send', { phone, message: 'your order shipped' })).json()
    const ourWaId = (await getMessage(ctx.db, message_id))!.waMessageId!
    const base = { session: 'default', phone, senderJid: `${phone}@s.whatsapp.net`, keyword: null }
    await recordInbound(ctx.db, { ...base, body: 'hello', waMessageId: 'API1' })
    await recordInbound(ctx.db, {
      ...base, body: null, waMessageId: 'API2', type: 'image', caption: 'the parcel', mimetype: 'image/jpeg', size: 2048,
      lid: '999888777666555', quotedWaId: ourWaId,
    })
    await recordInbound(ctx.db, { ...base, body: 'STOP', waMessageId: 'API3', keyword: 'stop' })

    let res = await t.get('/api/inbound?session=default&limit=2')
    expect(res.status).toBe(200)
    const first = await res.json()
    expect(first.messages.map((m: { text: string }) => m.text)).toEqual(['STOP', 'the parcel'])
    expect(first.messages[0]).toMatchObject({ type: 'text', consent: 'stop', reply_to_message_id: null })
    const image = first.messages[1]
    expect(image).toEqual({
      id: expect.any(Number), session: 'default', phone, lid: '999888777666555', type: 'image', text: 'the parcel',
      mimetype: 'image/jpeg', file_name: null, size: 2048, reply_to_message_id: message_id,
      received_at: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/), consent: null,
      media_status: null, media_url: null,
    })
    expect(first.next).toBe(String(image.id))
    const second = await (await t.get(`/api/inbound?session=default&limit=2&cursor=${first.next}`)).json()
    expect(second.messages.map((m: { text: string }) => m.text)).toEqual(['hello'])
    expect(second.next).toBeNull()

    expect((await (await t.get('/api/inbound?session=default&type=image')).json()).messages.map((m: { id: number }) => m.id)).toEqual([image.id])
    expect((await (await t.get(`/api/inbound?phone=%2B${phone}&since=2000-01-01`)).json()).messages).toHaveLength(3)
    expect((await (await t.get('/api/inbound?session=default&until=2000-01-01')).json()).messages).toEqual([])
    expect((await (await t.get('/api/inbound?session=nobody')).json())).toEqual({ messages: [], next: null })

    res = await t.get(`/api/inbound/${image.id}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual(image)
  })

  it('streams a received file byte for byte as a download, says why another has none, and 410 once it is pruned', async () => {
    const t = createTestApp(ctx.db)
    const phone = '9614100002'
    const base = { session: 'default', phone, senderJid: `${phone}@s.whatsapp.net`, keyword: null, body: null }
    // Three chunks (256 KiB each) and a bit: the stream reads them one by one.
    const bytes = randomBytes(3 * 256 * 1024 + 1234)
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    await recordInbound(ctx.db, {
      ...base, waMessageId: 'MEDIA1', type: 'document', mimetype: 'application/pdf', fileName: 'invoice "march"\r\n.pdf',
      size: bytes.length, media: { status: 'stored', bytes, mime: 'application/pdf', sha256 },
    })
    await recordInbound(ctx.db, { ...base, waMessageId: 'MEDIA2', type: 'video', mimetype: 'video/mp4', size: 90_000_000, media: { status: 'too_large' } })
    await recordInbound(ctx.db, { ...base, waMessageId: 'MEDIA3', type: 'image', mimetype: 'image/jpeg', size: 10, media: { status: 'failed' } })
    // A redelivery stores neither the message nor its file again.
    expect(await recordInbound(ctx.db, {
      ...base, waMessageId: 'MEDIA1', type: 'document', media: { status: 'stored', bytes, mime: 'application/pdf', sha256 },
    })).toEqual({ kind: 'duplicate' })
    expect(await countMedia(ctx.db, sha256)).toBe(1)

    const [failed, large, doc] = (await (await t.get(`/api/inbound?phone=${phone}`)).json()).messages
    expect(doc).toMatchObject({ type: 'document', media_status: 'stored', media_url: `/api/inbound/${doc.id}/media` })
    expect(large).toMatchObject({ media_status: 'too_large', media_url: null })
    expect(failed).toMatchObject({ media_status: 'failed', media_url: null })
    expect(await (await t.get(`/api/inbound/${doc.id}`)).json()).toEqual(doc)

    let res = await t.get(doc.media_url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/pdf')
    expect(res.headers.get('content-length')).toBe(String(bytes.length))
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="invoice__march___.pdf"; filename*=UTF-8''${encodeURIComponent('invoice "march"\r\n.pdf')}`,
    )
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)

    for (const [item, code] of [[large, 'no_media'], [failed, 'no_media']] as const) {
      res = await t.get(`/api/inbound/${item.id}/media`)
      expect(res.status).toBe(404)
      expect((await res.json()).code).toBe(code)
    }
    res = await t.get('/api/inbound/987654321/media')
    expect(res.status).toBe(404)
    expect((await res.json()).code).toBe('unknown_inbound')
    expect((await t.get('/api/inbound/0/media')).status).toBe(400)

    // Past MEDIA_RETENTION_DAYS the pruner deletes the file (no message references it); the message stays.
    await ctx.db.execute(`UPDATE media SET created_at = created_at - ${ctx.db.dialect === 'mysql' ? 'INTERVAL 40 DAY' : "interval '40 days'"}`)
    expect(await pruneUnreferencedMedia(ctx.db, { retentionDays: 30, pauseMs: 0 })).toBeGreaterThanOrEqual(1)
    res = await t.get(doc.media_url)
    expect(res.status).toBe(410)
    expect((await res.json()).code).toBe('media_expired')
    expect(await (await t.get(`/api/inbound/${doc.id}`)).json()).toMatchObject({ media_status: 'expired', media_url: null })
  })

  it('answers 404 unknown_inbound for an unknown id and 400 for bad ids and filters', async () => {
    const t = createTestApp(ctx.db)
    let res = await t.get('/api/inbound/987654321')
    expect(res.status).toBe(404)
    expect((await res.json()).code).toBe('unknown_inbound')
    res = await t.get('/api/inbound/abc')
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_id')
    for (const [query, code] of [
      ['type=sticker', 'invalid_inbound_type'], ['limit=501', 'invalid_limit'], ['cursor=0', 'invalid_cursor'],
      ['since=yesterday', 'invalid_timestamp'], ['session=a%20b', 'invalid_session_name'],
    ]) {
      res = await t.get(`/api/inbound?${query}`)
      expect(res.status, query).toBe(400)
      expect((await res.json()).code, query).toBe(code)
    }
    expect((await t.get('/api/inbound')).status).toBe(200)
  })
})

async function countMedia(db: Queryable, sha256: string): Promise<number> {
  const [row] = await db.query(`SELECT COUNT(*) AS n FROM media WHERE sha256 = ${db.dialect === 'mysql' ? '?' : '$1'}`, [sha256])
  return Number(row!.n)
}
