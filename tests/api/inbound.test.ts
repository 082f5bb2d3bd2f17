import { expect, it } from 'vitest'
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
