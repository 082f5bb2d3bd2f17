import { expect, it } from 'vitest'
import { recordInbound, resolveInbound } from '../../db/lifecycle/inbound.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getInbound, getInboundById, listInbound, type InboundItem } from '../../db/queries/inbound.js'
import { getMessage } from '../../db/queries/messages.js'
import { listDeliveries } from '../../db/queries/webhook-deliveries.js'
import { createWebhook } from '../../db/queries/webhook-endpoints.js'
import { matchConsentKeyword } from '../../runner/whatsapp/consent.js'
import { describeEachEngine } from '../support/db.js'

/**
 * `GET /api/inbound` reads (db/queries/inbound.ts): what kind of message people wrote, its media metadata, the sent
 * message it quotes, and a newest-first keyset listing whose pages neither skip nor repeat rows inserted meanwhile.
 */

let seq = 0
const phone = () => `9617${String(process.pid % 1000).padStart(3, '0')}${String(++seq).padStart(4, '0')}`
const wa = () => `IN${process.pid}X${++seq}`

describeEachEngine('inbound listing', (ctx) => {
  it('stores kind, caption, media metadata, LID and the sent message a reply quotes; consent only from text', async () => {
    const db = ctx.db
    const session = 'kinds'
    const p = phone()
    const base = { session, phone: p, senderJid: `${p}@s.whatsapp.net`, keyword: null }
    const ours = await enqueueMessage(db, { session, phone: p, type: 'text', body: 'your order shipped' })
    if (ours.kind !== 'created') throw new Error('not created')
    const ourWaId = (await getMessage(db, ours.id))!.waMessageId!
    await createWebhook(db, { url: 'https://example.com/h', events: ['message.received'], session: null, secret: 's'.repeat(32) })

    await recordInbound(db, {
      ...base, body: null, waMessageId: wa(), type: 'image', caption: 'STOP', mimetype: 'image/jpeg', size: 123_456,
      lid: '555000111222333', quotedWaId: ourWaId,
    })
    await recordInbound(db, { ...base, body: '👍', waMessageId: wa(), type: 'reaction', quotedWaId: ourWaId })
    await recordInbound(db, {
      ...base, body: null, waMessageId: wa(), type: 'document', caption: 'invoice', mimetype: 'application/pdf',
      fileName: 'a'.repeat(300), size: 5_000_000_000, quotedWaId: 'NOT-OURS',
    })
    await recordInbound(db, { ...base, body: 'stop', waMessageId: wa(), keyword: 'stop' })

    const rows = await listInbound(db, { session, limit: 10 })
    expect(rows.map((r) => [r.type, r.text, r.consent, r.reply_to_message_id])).toEqual([
      ['text', 'stop', 'stop', null],
      ['document', 'invoice', null, null],
      ['reaction', '👍', null, ours.id],
      ['image', 'STOP', null, ours.id],
    ])
    const [, doc, , image] = rows as [InboundItem, InboundItem, InboundItem, InboundItem]
    expect(image).toMatchObject({ phone: p, lid: '555000111222333', mimetype: 'image/jpeg', size: 123_456, file_name: null })
    expect(doc.file_name).toBe('a'.repeat(255))
    expect(doc.size).toBe(5_000_000_000)
    expect(await getInbound(db, image.id)).toEqual(image)
    expect(await getInbound(db, 987_654_321)).toBeNull()
    // A reply quoting the image quotes its caption.
    expect((await getInboundById(db, image.id))!.body).toBe('STOP')

    const payloads = (await listDeliveries(db, { limit: 100 }))
      .filter((d) => d.type === 'message.received').map((d) => JSON.parse(d.payload) as Record<string, unknown>)
    // The webhook carries the listing's item, after the payload's original fields.
    expect(image.received_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    expect(payloads.find((x) => x.id === image.id)).toEqual({ ...image, sender: `${p}@s.whatsapp.net`, body: 'STOP', wa_message_id: expect.any(String), action: 'opt-in' })
    expect(payloads.find((x) => x.id === rows[0]!.id)).toMatchObject({ type: 'text', text: 'stop', consent: 'stop' })
  })

  it('decides a LID sender\'s stored messages later from text only, never from a caption', async () => {
    const db = ctx.db
    const session = 'lidkinds'
    const lid = `77${process.pid}${++seq}`
    const base = { session, phone: null, senderJid: `${lid}@lid`, keyword: null, lid }
    await recordInbound(db, { ...base, body: null, waMessageId: 'C1', type: 'video', caption: 'stop', mimetype: 'video/mp4' })
    const decided = await resolveInbound(db, { session, senderJid: `${lid}@lid`, phone: phone(), keywordOf: matchConsentKeyword })
    expect(decided.map((d) => d.action)).toEqual(['opt-in'])
  })

  it('filters by session, phone, type, since and until, and pages newest first without skipping rows added between pages', async () => {
    const db = ctx.db
    const session = 'paging'
    const a = phone()
    const b = phone()
    const ids: number[] = []
    const add = async (p: string, type: 'text' | 'location' = 'text') => {
      await recordInbound(db, { session, phone: p, senderJid: `${p}@s.whatsapp.net`, body: type === 'text' ? 'hi' : null, waMessageId: wa(), keyword: null, type })
      ids.push((await listInbound(db, { session, limit: 1 }))[0]!.id)
    }
    for (let i = 0; i < 5; i++) await add(i % 2 ? b : a, i === 3 ? 'location' : 'text')
    await recordInbound(db, { session: 'elsewhere', phone: a, senderJid: `${a}@s.whatsapp.net`, body: 'x', waMessageId: wa(), keyword: null })

    const first = await listInbound(db, { session, limit: 2 })
    expect(first.map((r) => r.id)).toEqual([ids[4], ids[3]])
    // Rows arriving while a client pages (some concurrently) only get higher ids: the next page is unchanged.
    await Promise.all([add(a), add(b), add(a)])
    const second = await listInbound(db, { session, limit: 2, beforeId: first[1]!.id })
    const third = await listInbound(db, { session, limit: 2, beforeId: second[1]!.id })
    expect([...second, ...third].map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]])

    expect((await listInbound(db, { session, phone: b, limit: 50 })).every((r) => r.phone === b)).toBe(true)
    expect((await listInbound(db, { phone: a, limit: 50 })).some((r) => r.session === 'elsewhere')).toBe(true)
    expect((await listInbound(db, { session, type: 'location', limit: 50 })).map((r) => r.id)).toEqual([ids[3]])
    const all = await listInbound(db, { session, limit: 50 })
    expect(all).toHaveLength(8)
    const future = new Date(Date.now() + 3_600_000)
    expect(await listInbound(db, { session, since: future, limit: 50 })).toEqual([])
    expect(await listInbound(db, { session, until: future, limit: 50 })).toHaveLength(8)
    expect(await listInbound(db, { session, until: new Date('2000-01-01T00:00:00Z'), limit: 50 })).toEqual([])
    const oldest = new Date(`${all.at(-1)!.received_at}Z`)
    expect((await listInbound(db, { session, since: oldest, until: future, limit: 50 })).length).toBe(8)
  })
})
