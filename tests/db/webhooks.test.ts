import { beforeEach, expect, it } from 'vitest'
import { setContactOptIn } from '../../db/lifecycle/opt-out.js'
import { recordInbound } from '../../db/lifecycle/inbound.js'
import { reportSessionState } from '../../db/queries/session-reports.js'
import { claimNextMessage } from '../../db/lifecycle/claim.js'
import { failByWaId, recordDelivered, recordRead } from '../../db/lifecycle/receipts.js'
import { finalizeFailed, finalizeSent } from '../../db/lifecycle/settle.js'
import { markPendingOptedOut } from '../../db/lifecycle/opt-out.js'
import { reconcileInflight } from '../../db/lifecycle/reconcile.js'
import { countDeliveriesByStatus, getDelivery, listDeliveries, replayDelivery } from '../../db/queries/webhook-deliveries.js'
import { WEBHOOK_EVENTS, type WebhookEvent, createWebhook, deleteWebhook, listWebhooks } from '../../db/queries/webhook-endpoints.js'
import * as webhookClaims from '../../db/queries/webhook-claims.js'
import { describeEachEngine, type EngineContext } from '../support/db.js'
import { expireLease, fakeWaId, getMessage, insertMessage, insertMessages, leaseOnly, ownedSession, ph, setTime, uniqueName } from '../support/queue-fixtures.js'

/**
 * Webhook events are rows written in the same transaction as the change they report (db/queries/webhook-events.ts), one
 * per matching webhook, only for real transitions; and the delivery bookkeeping (claim with expiry, fenced outcome,
 * backoff capped by the window, dead, replay).
 */

const ALL = [...WEBHOOK_EVENTS]

async function deliveries(ctx: EngineContext, type?: string) {
  const rows = await listDeliveries(ctx.db, { limit: 1000 })
  return rows.filter((r) => !type || r.type === type).reverse()
}

async function claimOne(ctx: EngineContext, f: { name: string; owner: string; epoch: number }) {
  const r = await claimNextMessage(ctx.db, { session: f.name, owner: f.owner, epoch: f.epoch, gapMs: 0, optInMode: 'open', newWaId: fakeWaId })
  if (r.kind !== 'claimed') throw new Error(`expected a claim, got ${r.kind}`)
  return r.message
}

let phoneSeq = 0
const phone = () => `9618${String(process.pid % 1000).padStart(3, '0')}${String(++phoneSeq).padStart(4, '0')}`

describeEachEngine('webhook events', (ctx) => {
  beforeEach(async () => {
    await ctx.db.execute('DELETE FROM webhook_deliveries')
    await ctx.db.execute('DELETE FROM webhooks')
  })

  const hook = (events: WebhookEvent[] = ALL, session: string | null = null) =>
    createWebhook(ctx.db, { url: 'https://example.com/hook', events, session, secret: 's3cret-s3cret-s3cret' })

  it('writes nothing when no webhook exists', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await insertMessage(ctx.db, { session: f.name })
    const m = await claimOne(ctx, f)
    expect(await finalizeSent(ctx.db, { ...m, owner: f.owner, epoch: f.epoch, session: f.name, minGapMs: 0 })).toBe(true)
    expect(await recordDelivered(ctx.db, m.waMessageId)).toBe(true)
    expect(await deliveries(ctx)).toEqual([])
  })

  it('fans a message.sent out to every matching webhook, with one event id, honouring events and session filters', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const all = await hook()
    const onlyFailed = await hook(['message.failed'])
    const thisSession = await hook(['message.sent'], f.name)
    const otherSession = await hook(['message.sent'], 'someone-else')
    await insertMessage(ctx.db, { session: f.name, phone: '9611234567' })
    const m = await claimOne(ctx, f)
    await finalizeSent(ctx.db, { ...m, owner: f.owner, epoch: f.epoch, session: f.name, minGapMs: 0 })
    const rows = await deliveries(ctx)
    expect(rows.map((r) => r.webhookId).sort()).toEqual([all.id, thisSession.id].sort())
    expect(rows.every((r) => r.type === 'message.sent' && r.status === 'pending' && r.attempts === 0)).toBe(true)
    expect(new Set(rows.map((r) => r.eventId)).size).toBe(1)
    expect(rows[0]!.eventId).toMatch(/^[0-9a-f-]{36}$/)
    const data = JSON.parse(rows[0]!.payload)
    expect(data).toMatchObject({
      message_id: m.id, session: f.name, phone: '9611234567', type: 'text', status: 'sent', wa_message_id: m.waMessageId,
      attempts: 1, error: null, delivered_at: null, read_at: null,
    })
    expect(data.sent_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    expect([onlyFailed.id, otherSession.id].some((id) => rows.some((r) => r.webhookId === id))).toBe(false)
  })

  it('a group message\'s data names its group, with a null phone; a 1:1 message\'s has a null group', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await hook(['message.sent'], f.name)
    await insertMessages(ctx.db, [{ session: f.name, phone: '120363000000000777@g.us', availableInMs: -2000 }, { session: f.name, phone: '9611234568', availableInMs: -1000 }])
    for (let i = 0; i < 2; i++) {
      const m = await claimOne(ctx, f)
      await finalizeSent(ctx.db, { ...m, owner: f.owner, epoch: f.epoch, session: f.name, minGapMs: 0 })
    }
    const data = (await deliveries(ctx, 'message.sent')).map((r) => JSON.parse(r.payload)).filter((d) => d.session === f.name)
    expect(data.map((d) => [d.phone, d.group])).toEqual([[null, '120363000000000777@g.us'], ['9611234568', null]])
  })

  it('writes no event when the change is rolled back, and one when it commits', async () => {
    await hook(['message.failed'])
    const f = await ownedSession(ctx.db, 'runner-a')
    await insertMessage(ctx.db, { session: f.name })
    const m = await claimOne(ctx, f)
    await expect(ctx.db.transaction(async (tx) => {
      expect(await finalizeFailed(tx, { id: m.id, owner: f.owner, epoch: f.epoch, error: 'invalid number' })).toBe(true)
      expect((await tx.query('SELECT COUNT(*) AS n FROM webhook_deliveries'))[0]!.n).toSatisfy((n) => Number(n) === 1)
      throw new Error('the process died here')
    }, { retries: 0 })).rejects.toThrow('the process died here')
    expect(await deliveries(ctx)).toEqual([])
    expect((await getMessage(ctx.db, m.id)).status).toBe('sending')
    expect(await finalizeFailed(ctx.db, { id: m.id, owner: f.owner, epoch: f.epoch, error: 'invalid number' })).toBe(true)
    const [row] = await deliveries(ctx, 'message.failed')
    expect(JSON.parse(row!.payload)).toMatchObject({ message_id: m.id, status: 'failed', error: 'invalid number' })
    // A second finalize is fenced out: no second event.
    expect(await finalizeFailed(ctx.db, { id: m.id, owner: f.owner, epoch: f.epoch, error: 'again' })).toBe(false)
    expect(await deliveries(ctx, 'message.failed')).toHaveLength(1)
  })

  it('reports delivered and read once each, however many receipts arrive; a read without a delivery reports both', async () => {
    await hook(['message.delivered', 'message.read'])
    const f = await ownedSession(ctx.db, 'runner-a')
    await insertMessages(ctx.db, [{ session: f.name }, { session: f.name }])
    const a = await claimOne(ctx, f)
    await finalizeSent(ctx.db, { ...a, owner: f.owner, epoch: f.epoch, session: f.name, minGapMs: 0 })
    const b = await claimOne(ctx, f)
    await finalizeSent(ctx.db, { ...b, owner: f.owner, epoch: f.epoch, session: f.name, minGapMs: 0 })
    expect(await recordDelivered(ctx.db, a.waMessageId)).toBe(true)
    expect(await recordDelivered(ctx.db, a.waMessageId)).toBe(true)
    expect(await recordRead(ctx.db, a.waMessageId)).toBe(true)
    expect(await recordRead(ctx.db, a.waMessageId)).toBe(true)
    expect(await recordRead(ctx.db, b.waMessageId)).toBe(true)
    expect(await recordDelivered(ctx.db, b.waMessageId)).toBe(true)
    expect(await recordDelivered(ctx.db, '3EB0NOSUCHID0000000000')).toBe(false)
    expect(await recordRead(ctx.db, '3EB0NOSUCHID0000000000')).toBe(false)
    const seen = (await deliveries(ctx)).map((r) => [JSON.parse(r.payload).message_id, r.type])
    expect(seen).toEqual([[a.id, 'message.delivered'], [a.id, 'message.read'], [b.id, 'message.delivered'], [b.id, 'message.read']])
  })

  it('reports a negative ack and a takeover\'s settle and fail as message.failed / message.sent', async () => {
    await hook(['message.failed', 'message.sent'])
    const f = await ownedSession(ctx.db, 'runner-a')
    await insertMessage(ctx.db, { session: f.name })
    const m = await claimOne(ctx, f)
    await finalizeSent(ctx.db, { ...m, owner: f.owner, epoch: f.epoch, session: f.name, minGapMs: 0 })
    expect((await failByWaId(ctx.db, { waMessageId: m.waMessageId, error: 'negative ack 479' })).failed).toBe(true)
    expect((await failByWaId(ctx.db, { waMessageId: m.waMessageId, error: 'again' })).failed).toBe(false)
    // Takeover with a receipt on record: settled as sent.
    const g = await ownedSession(ctx.db, 'runner-a')
    await insertMessage(ctx.db, { session: g.name })
    const n = await claimOne(ctx, g)
    await ctx.db.execute(`UPDATE messages SET delivered_at = ${ctx.db.dialect === 'mysql' ? 'NOW(6)' : 'now()'} WHERE id = ${ph(ctx.db, 1)}`, [n.id])
    await expireLease(ctx.db, g.name)
    const epoch = await leaseOnly(ctx.db, g.name, 'runner-b')
    expect(await reconcileInflight(ctx.db, { session: g.name, owner: 'runner-b', epoch, gapMs: 0 })).toEqual({ kind: 'settled', id: n.id })
    const types = (await deliveries(ctx)).map((r) => [JSON.parse(r.payload).message_id, r.type, JSON.parse(r.payload).status])
    expect(types).toEqual([[m.id, 'message.sent', 'sent'], [m.id, 'message.failed', 'failed'], [n.id, 'message.sent', 'sent']])
  })

  it('STOP: contact.opted_out, one message.opted_out per pending message and message.received, once; a redelivery adds nothing', async () => {
    await hook()
    const session = 'default'
    const p = phone()
    const ids = await insertMessages(ctx.db, [{ session, phone: p }, { session, phone: p }])
    const input = { session, phone: p, senderJid: `${p}@s.whatsapp.net`, body: 'STOP', waMessageId: `IN${p}`, keyword: 'stop' as const }
    const r = await recordInbound(ctx.db, input)
    expect(r).toMatchObject({ kind: 'stored', action: 'stop', optedOut: 2 })
    expect(await recordInbound(ctx.db, input)).toEqual({ kind: 'duplicate' })
    const rows = await deliveries(ctx)
    expect(rows.map((d) => d.type).sort()).toEqual(['contact.opted_out', 'message.opted_out', 'message.opted_out', 'message.received'])
    const out = rows.filter((d) => d.type === 'message.opted_out').map((d) => JSON.parse(d.payload))
    expect(out.map((d) => d.message_id).sort()).toEqual([...ids].sort())
    expect(out.every((d) => d.status === 'opted_out' && d.error === 'contact opted out')).toBe(true)
    expect(JSON.parse(rows.find((d) => d.type === 'contact.opted_out')!.payload)).toMatchObject({ phone: p, opt_in: 'no', session, source: 'inbound' })
    expect(JSON.parse(rows.find((d) => d.type === 'message.received')!.payload)).toMatchObject({ session, phone: p, body: 'STOP', action: 'stop', wa_message_id: `IN${p}` })
    // YES after STOP: opted in again; a second STOP-less message from a decided contact changes nothing.
    await recordInbound(ctx.db, { ...input, body: 'YES', keyword: 'start', waMessageId: `IN2${p}` })
    await recordInbound(ctx.db, { ...input, body: 'thanks', keyword: null, waMessageId: `IN3${p}` })
    const after = (await deliveries(ctx)).map((d) => d.type)
    expect(after.filter((t) => t === 'contact.opted_in')).toHaveLength(1)
    expect(after.filter((t) => t === 'message.received')).toHaveLength(3)
  })

  it('the API/dashboard consent change reports only real changes, to webhooks without a session filter', async () => {
    const unfiltered = await hook(['contact.opted_in', 'contact.opted_out', 'message.opted_out'])
    await hook(['contact.opted_in', 'contact.opted_out'], 'default')
    const p = phone()
    await insertMessage(ctx.db, { session: 'default', phone: p })
    await setContactOptIn(ctx.db, p, 'yes')
    await setContactOptIn(ctx.db, p, 'yes')
    expect(await setContactOptIn(ctx.db, p, 'no')).toBe(1)
    await setContactOptIn(ctx.db, p, 'no')
    await setContactOptIn(ctx.db, p, 'pending')
    const rows = await deliveries(ctx)
    expect(rows.map((d) => [d.webhookId, d.type])).toEqual([
      [unfiltered.id, 'contact.opted_in'], [unfiltered.id, 'contact.opted_out'], [unfiltered.id, 'message.opted_out'],
    ])
    expect(JSON.parse(rows[1]!.payload)).toMatchObject({ phone: p, opt_in: 'no', session: null, source: 'api' })
    // Without a webhook for message.opted_out the bulk statement runs: same effect, no event.
    await ctx.db.execute('DELETE FROM webhooks')
    const q = phone()
    await insertMessages(ctx.db, [{ session: 'default', phone: q }, { session: 'default', phone: q }])
    expect(await markPendingOptedOut(ctx.db, q)).toBe(2)
  })

  it('session.status on a status change only, session.qr on a new QR', async () => {
    await hook(['session.status', 'session.qr'])
    const name = uniqueName('wh')
    await ctx.db.execute(`INSERT INTO sessions (name) VALUES (${ph(ctx.db, 1)})`, [name])
    const epoch = await leaseOnly(ctx.db, name, 'runner-a')
    const fence = { name, owner: 'runner-a', epoch }
    // Acquire set 'connecting'.
    expect(await reportSessionState(ctx.db, { ...fence, status: 'connecting', qrCode: 'data:image/png;base64,AAAA', qr: '2@one' })).toBe(true)
    expect(await reportSessionState(ctx.db, { ...fence, status: 'connecting', qrCode: 'data:image/png;base64,AAAA', qr: '2@one' })).toBe(true)
    expect(await reportSessionState(ctx.db, { ...fence, status: 'connecting', qrCode: 'data:image/png;base64,BBBB', qr: '2@two' })).toBe(true)
    expect(await reportSessionState(ctx.db, { ...fence, status: 'online', phone: '96171000000' })).toBe(true)
    expect(await reportSessionState(ctx.db, { ...fence, status: 'online', phone: '96171000000' })).toBe(true)
    expect(await reportSessionState(ctx.db, { ...fence, epoch: epoch + 1, status: 'offline' })).toBe(false)
    const rows = (await deliveries(ctx)).map((d) => [d.type, JSON.parse(d.payload)])
    expect(rows.map(([t]) => t)).toEqual(['session.qr', 'session.qr', 'session.status'])
    expect(rows[1]![1]).toMatchObject({ session: name, qr: '2@two', qr_code: 'data:image/png;base64,BBBB' })
    expect(rows[2]![1]).toMatchObject({ session: name, status: 'online', previous_status: 'connecting', phone: '96171000000' })
  })
})

describeEachEngine('webhook deliveries', (ctx) => {
  beforeEach(async () => {
    await ctx.db.execute('DELETE FROM webhook_deliveries')
    await ctx.db.execute('DELETE FROM webhooks')
  })

  async function oneEvent() {
    const hook = await createWebhook(ctx.db, { url: 'https://example.com/h', events: ['contact.opted_in'], session: null, secret: 'x'.repeat(20) })
    await setContactOptIn(ctx.db, phone(), 'yes')
    const [d] = await listDeliveries(ctx.db, { limit: 10 })
    return { hook, d: d! }
  }

  it('claims each due delivery once, fences the outcome by claim, and re-claims an expired claim', async () => {
    const { hook, d } = await oneEvent()
    const [c] = await webhookClaims.claimDeliveries(ctx.db, { owner: 'r1', limit: 10, lockMs: 60_000 })
    expect(c).toMatchObject({ id: d.id, webhookId: hook.id, eventId: d.eventId, attempts: 1, url: 'https://example.com/h', secret: 'x'.repeat(20) })
    expect(await webhookClaims.claimDeliveries(ctx.db, { owner: 'r2', limit: 10, lockMs: 60_000 })).toEqual([])
    // The claim expires (its runner died): another runner takes it; the first one's late outcome matches nothing.
    await setTime(ctx.db, 'webhook_deliveries', 'next_attempt_at', -1000, `id = ${ph(ctx.db, 1)}`, [d.id])
    const [again] = await webhookClaims.claimDeliveries(ctx.db, { owner: 'r2', limit: 10, lockMs: 60_000 })
    expect(again).toMatchObject({ id: d.id, eventId: d.eventId, attempts: 2 })
    expect(await webhookClaims.markDelivered(ctx.db, { id: d.id, owner: 'r1', attempts: 1, httpStatus: 200 })).toBe(false)
    expect(await webhookClaims.markDelivered(ctx.db, { id: d.id, owner: 'r2', attempts: 2, httpStatus: 204 })).toBe(true)
    expect(await getDelivery(ctx.db, d.id)).toMatchObject({ status: 'delivered', lastStatus: 204, lastError: null, attempts: 2 })
    expect(await webhookClaims.claimDeliveries(ctx.db, { owner: 'r3', limit: 10, lockMs: 60_000 })).toEqual([])
  })

  it('retries after the backoff, never later than the window, then dead with the last error; replay starts over', async () => {
    const { d } = await oneEvent()
    const [c] = await webhookClaims.claimDeliveries(ctx.db, { owner: 'r1', limit: 1, lockMs: 60_000 })
    expect(await webhookClaims.markFailed(ctx.db, { id: c!.id, owner: 'r1', attempts: 1, httpStatus: 500, error: 'HTTP 500', backoffMs: 3_600_000, windowMs: 120_000 })).toBe('pending')
    let row = (await getDelivery(ctx.db, d.id))!
    // Capped at first attempt + window (2 min), not an hour.
    expect(row.nextAttemptAt.getTime() - row.firstAttemptAt!.getTime()).toBe(120_000)
    expect(row).toMatchObject({ status: 'pending', lastStatus: 500, lastError: 'HTTP 500' })
    expect(await webhookClaims.claimDeliveries(ctx.db, { owner: 'r1', limit: 1, lockMs: 60_000 })).toEqual([])
    // The window has passed since the first attempt: the next failure is final.
    await setTime(ctx.db, 'webhook_deliveries', 'next_attempt_at', -1, `id = ${ph(ctx.db, 1)}`, [d.id])
    await setTime(ctx.db, 'webhook_deliveries', 'first_attempt_at', -130_000, `id = ${ph(ctx.db, 1)}`, [d.id])
    const [c2] = await webhookClaims.claimDeliveries(ctx.db, { owner: 'r1', limit: 1, lockMs: 60_000 })
    expect(await webhookClaims.markFailed(ctx.db, { id: c2!.id, owner: 'r1', attempts: 2, httpStatus: null, error: 'ECONNREFUSED', backoffMs: 10, windowMs: 120_000 })).toBe('dead')
    row = (await getDelivery(ctx.db, d.id))!
    expect(row).toMatchObject({ status: 'dead', attempts: 2, lastStatus: null, lastError: 'ECONNREFUSED' })
    expect(await webhookClaims.claimDeliveries(ctx.db, { owner: 'r1', limit: 1, lockMs: 60_000 })).toEqual([])
    expect(await replayDelivery(ctx.db, d.id)).toBe('ok')
    expect(await replayDelivery(ctx.db, d.id)).toBe('wrong_status')
    expect(await replayDelivery(ctx.db, 987_654_321)).toBe('not_found')
    const [c3] = await webhookClaims.claimDeliveries(ctx.db, { owner: 'r1', limit: 1, lockMs: 60_000 })
    expect(c3).toMatchObject({ id: d.id, eventId: d.eventId, attempts: 1 })
    // A permanent failure (refused address) is dead at once.
    expect(await webhookClaims.markFailed(ctx.db, { id: d.id, owner: 'r1', attempts: 1, httpStatus: null, error: 'refused', backoffMs: 10, windowMs: 120_000, permanent: true })).toBe('dead')
  })

  it('lists deliveries newest first with keyset pages and a status filter; deleting a webhook removes its deliveries', async () => {
    const hook = await createWebhook(ctx.db, { url: 'https://example.com/h', events: ['contact.opted_in', 'contact.opted_out'], session: null, secret: 'y'.repeat(20) })
    for (let i = 0; i < 5; i++) await setContactOptIn(ctx.db, phone(), 'yes')
    const page1 = await listDeliveries(ctx.db, { webhookId: hook.id, limit: 3 })
    const page2 = await listDeliveries(ctx.db, { webhookId: hook.id, limit: 3, beforeId: page1[2]!.id })
    expect(page1.map((d) => d.id)).toEqual([...page1.map((d) => d.id)].sort((a, b) => b - a))
    expect([...page1, ...page2].map((d) => d.id)).toHaveLength(5)
    expect(await listDeliveries(ctx.db, { status: 'dead', limit: 10 })).toEqual([])
    expect((await countDeliveriesByStatus(ctx.db)).pending).toBe(5)
    expect(await listWebhooks(ctx.db)).toEqual([expect.objectContaining({ id: hook.id, events: ['contact.opted_in', 'contact.opted_out'], session: null, enabled: true })])
    expect(await deleteWebhook(ctx.db, hook.id)).toBe(true)
    expect(await deleteWebhook(ctx.db, hook.id)).toBe(false)
    expect(await listDeliveries(ctx.db, { limit: 10 })).toEqual([])
  })
})
