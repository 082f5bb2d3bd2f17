import { describe, expect, it, vi } from 'vitest'
import { UniqueViolationError } from '../../db/driver.js'
import { pauseSession } from '../../db/queries/leases.js'
import { AWAITING_OPT_IN, MAX_CLAIM_ROUNDS, claimNextMessage, type ClaimResult, type ClaimedMessage } from '../../db/lifecycle/claim.js'
import { BACKOFF_CAP_MS, backoffMs, finalizeFailed, finalizeSent, requeueWithBackoff } from '../../db/lifecycle/settle.js'
import { failByWaId, recordDelivered, recordRead, recordServerAck } from '../../db/lifecycle/receipts.js'
import { findInflight } from '../../db/queries/message-outcomes.js'
import { markPendingOptedOut } from '../../db/lifecycle/opt-out.js'
import { probeDue } from '../../db/queries/message-claim.js'
import { reconcileInflight } from '../../db/lifecycle/reconcile.js'
import { releaseHeldMessages } from '../../db/lifecycle/consent.js'
import { describeEachEngine, type EngineContext } from '../support/db.js'
import {
  dbNow, expireLease, fakeWaId, getMessage, getMessages, getSession, insertMessage, insertMessages, leaseOnly, msBetween,
  ownedSession, ph, setOptIn, setTime, uniqueName,
} from '../support/queue-fixtures.js'

type Fence = { name: string; owner: string; epoch: number }

function claim(ctx: EngineContext, f: Fence, extra: Partial<Parameters<typeof claimNextMessage>[1]> = {}): Promise<ClaimResult> {
  return claimNextMessage(ctx.db, { session: f.name, owner: f.owner, epoch: f.epoch, gapMs: 0, optInMode: 'open', newWaId: fakeWaId, ...extra })
}

function claimed(r: ClaimResult): ClaimedMessage {
  if (r.kind !== 'claimed') throw new Error(`expected a claim, got ${JSON.stringify(r)}`)
  return r.message
}

let phoneSeq = 0
function phone(): string {
  phoneSeq += 1
  return `9617${String(process.pid % 1000).padStart(3, '0')}${String(phoneSeq).padStart(4, '0')}`
}

describeEachEngine('claimNextMessage', (ctx) => {
  it('claims the oldest due message by available_at then id, under the lease epoch, with a new WhatsApp id', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const [late, early1, early2] = await insertMessages(ctx.db, [
      { session: f.name, availableInMs: -1_000 },
      { session: f.name, availableInMs: -5_000, body: 'first' },
      { session: f.name, availableInMs: -5_000 },
    ])
    // One statement, so early1 and early2 share available_at and the id breaks the tie; both are older than `late`.
    const newWaId = vi.fn(() => '3EB0AAAAAAAAAAAAAAAAAA')
    const m = claimed(await claim(ctx, f, { newWaId }))
    expect(m).toEqual({
      id: early1, session: f.name, phone: '96170000001', type: 'text', body: 'first', mediaId: null, details: null, replyTo: null, targetId: null,
      attempts: 1, waMessageId: '3EB0AAAAAAAAAAAAAAAAAA', claimEpoch: f.epoch,
    })
    expect(newWaId).toHaveBeenCalledTimes(1)
    const row = await getMessage(ctx.db, early1!)
    expect([row.status, row.claimedBy, row.claimEpoch, row.attempts, row.waMessageId, row.error]).toEqual([
      'sending', 'runner-a', f.epoch, 1, '3EB0AAAAAAAAAAAAAAAAAA', null,
    ])
    expect(row.claimedAt).toBeInstanceOf(Date)
    expect((await getMessage(ctx.db, early2!)).status).toBe('pending')
    expect((await getMessage(ctx.db, late!)).status).toBe('pending')
  })

  it('keeps a WhatsApp id that is already stored', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const id = await insertMessage(ctx.db, { session: f.name, waMessageId: '3EB0STORED000000000000' })
    const newWaId = vi.fn(fakeWaId)
    const m = claimed(await claim(ctx, f, { newWaId }))
    expect([m.id, m.waMessageId]).toEqual([id, '3EB0STORED000000000000'])
    expect(newWaId).not.toHaveBeenCalled()
  })

  it('takes the send slot: the next claim waits for the drawn gap and changes nothing', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const [a, b] = await insertMessages(ctx.db, [{ session: f.name }, { session: f.name }])
    const before = await dbNow(ctx.db)
    claimed(await claim(ctx, f, { gapMs: 5_000 }))
    const s = (await getSession(ctx.db, f.name))!
    expect(msBetween(before, s.nextSendAt)).toBeGreaterThanOrEqual(5_000)
    await finalizeSent(ctx.db, { id: a!, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })
    const r = await claim(ctx, f)
    expect(r.kind).toBe('wait')
    if (r.kind === 'wait') expect(r.waitMs).toBeGreaterThan(3_000)
    expect(r.kind === 'wait' && r.waitMs).toBeLessThanOrEqual(5_000)
    expect((await getMessage(ctx.db, b!)).status).toBe('pending')
  })

  it('caps the reported wait at one minute', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await setTime(ctx.db, 'sessions', 'next_send_at', 3_600_000, `name = ${ph(ctx.db, 1)}`, [f.name])
    expect(await claim(ctx, f)).toEqual({ kind: 'wait', waitMs: 60_000 })
  })

  it('reports idle when no message is due yet, and leaves future rows alone', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    expect(await claim(ctx, f)).toEqual({ kind: 'idle' })
    const id = await insertMessage(ctx.db, { session: f.name, availableInMs: 60_000 })
    expect(await claim(ctx, f)).toEqual({ kind: 'idle' })
    expect((await getMessage(ctx.db, id)).status).toBe('pending')
  })

  it('never claims another session\'s messages', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const g = await ownedSession(ctx.db, 'runner-a')
    const id = await insertMessage(ctx.db, { session: g.name })
    expect(await claim(ctx, f)).toEqual({ kind: 'idle' })
    expect(claimed(await claim(ctx, g)).id).toBe(id)
  })

  it('is fenced, changing nothing, for a stale epoch, another owner or an expired lease', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const id = await insertMessage(ctx.db, { session: f.name })
    expect(await claim(ctx, { ...f, epoch: f.epoch - 1 })).toEqual({ kind: 'fenced' })
    expect(await claim(ctx, { ...f, epoch: f.epoch + 1 })).toEqual({ kind: 'fenced' })
    expect(await claim(ctx, { ...f, owner: 'runner-b' })).toEqual({ kind: 'fenced' })
    await expireLease(ctx.db, f.name)
    expect(await claim(ctx, f)).toEqual({ kind: 'fenced' })
    expect((await getMessage(ctx.db, id)).status).toBe('pending')
  })

  it('marks a message to an opted-out contact opted_out and claims the next one in the same call', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const stopped = phone()
    await setOptIn(ctx.db, stopped, 'no')
    const [out, ok] = await insertMessages(ctx.db, [{ session: f.name, phone: stopped, availableInMs: -10 }, { session: f.name, phone: phone() }])
    expect(claimed(await claim(ctx, f)).id).toBe(ok)
    const row = await getMessage(ctx.db, out!)
    expect([row.status, row.error, row.attempts, row.waMessageId]).toEqual(['opted_out', 'contact opted out', 0, null])
  })

  it('commits opt-out marks and reports idle when nothing sendable is left, leaving the slot free', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const stopped = phone()
    await setOptIn(ctx.db, stopped, 'no')
    const id = await insertMessage(ctx.db, { session: f.name, phone: stopped })
    const slotBefore = (await getSession(ctx.db, f.name))!.nextSendAt
    expect(await claim(ctx, f, { gapMs: 60_000 })).toEqual({ kind: 'idle' })
    expect((await getMessage(ctx.db, id)).status).toBe('opted_out')
    expect((await getSession(ctx.db, f.name))!.nextSendAt.getTime()).toBe(slotBefore.getTime())
  })

  it(`looks at no more than ${MAX_CLAIM_ROUNDS} candidates per transaction, answering wait 0 to continue`, async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const stopped = phone()
    await setOptIn(ctx.db, stopped, 'no')
    await insertMessages(ctx.db, Array.from({ length: 25 }, () => ({ session: f.name, phone: stopped, availableInMs: -1_000 })))
    const good = await insertMessage(ctx.db, { session: f.name })
    expect(await claim(ctx, f)).toEqual({ kind: 'wait', waitMs: 0 })
    const rows = await getMessages(ctx.db, f.name)
    expect(rows.filter((r) => r.status === 'opted_out')).toHaveLength(MAX_CLAIM_ROUNDS)
    expect(claimed(await claim(ctx, f)).id).toBe(good)
    expect((await getMessages(ctx.db, f.name)).filter((r) => r.status === 'opted_out')).toHaveLength(25)
  })

  it('sends to pending and unknown contacts in open mode', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const pend = phone()
    await setOptIn(ctx.db, pend, 'pending')
    const [a, b] = await insertMessages(ctx.db, [{ session: f.name, phone: pend, availableInMs: -10 }, { session: f.name, phone: phone() }])
    const m1 = claimed(await claim(ctx, f))
    await finalizeSent(ctx.db, { id: m1.id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })
    const m2 = claimed(await claim(ctx, f))
    expect([m1.id, m2.id]).toEqual([a, b])
  })

  describe('OPT_IN_MODE=confirm', () => {
    it('holds messages to pending and unknown contacts (still pending, moved back, marked) and claims a consenting one', async () => {
      const f = await ownedSession(ctx.db, 'runner-a')
      const [pend, unknown, yes] = [phone(), phone(), phone()]
      await setOptIn(ctx.db, pend, 'pending')
      await setOptIn(ctx.db, yes, 'yes')
      const [h1, h2, ok] = await insertMessages(ctx.db, [
        { session: f.name, phone: pend, availableInMs: -30 },
        { session: f.name, phone: unknown, availableInMs: -20 },
        { session: f.name, phone: yes, availableInMs: -10 },
      ])
      const now = await dbNow(ctx.db)
      expect(claimed(await claim(ctx, f, { optInMode: 'confirm', holdMs: 600_000 })).id).toBe(ok)
      for (const id of [h1!, h2!]) {
        const row = await getMessage(ctx.db, id)
        expect([row.status, row.hold, row.error, row.attempts, row.waMessageId]).toEqual(['pending', 'consent', AWAITING_OPT_IN, 0, null])
        expect(msBetween(now, row.availableAt)).toBeGreaterThan(590_000)
      }
    })

    it('releases held messages when the contact opts in, and they are then claimed', async () => {
      const f = await ownedSession(ctx.db, 'runner-a')
      const pend = phone()
      await setOptIn(ctx.db, pend, 'pending')
      const held = await insertMessage(ctx.db, { session: f.name, phone: pend })
      expect(await claim(ctx, f, { optInMode: 'confirm' })).toEqual({ kind: 'idle' })
      expect(await claim(ctx, f, { optInMode: 'confirm' })).toEqual({ kind: 'idle' })
      await setOptIn(ctx.db, pend, 'yes')
      expect(await releaseHeldMessages(ctx.db, pend)).toBe(1)
      const m = claimed(await claim(ctx, f, { optInMode: 'confirm' }))
      expect(m.id).toBe(held)
      const row = await getMessage(ctx.db, held)
      expect([row.hold, row.error]).toEqual([null, null])
    })

    it('does not release a message of that phone that is in transient backoff', async () => {
      const f = await ownedSession(ctx.db, 'runner-a')
      const p = phone()
      await setOptIn(ctx.db, p, 'yes')
      const id = await insertMessage(ctx.db, { session: f.name, phone: p })
      const m = claimed(await claim(ctx, f, { optInMode: 'confirm' }))
      await requeueWithBackoff(ctx.db, { id: m.id, owner: f.owner, epoch: f.epoch, backoffMs: 600_000, error: 'not connected' })
      const due = (await getMessage(ctx.db, id)).availableAt
      expect(await releaseHeldMessages(ctx.db, p)).toBe(0)
      expect((await getMessage(ctx.db, id)).availableAt.getTime()).toBe(due.getTime())
    })

    it('turns a held message opted_out when the contact says STOP', async () => {
      const f = await ownedSession(ctx.db, 'runner-a')
      const p = phone()
      const id = await insertMessage(ctx.db, { session: f.name, phone: p })
      expect(await claim(ctx, f, { optInMode: 'confirm' })).toEqual({ kind: 'idle' })
      await setOptIn(ctx.db, p, 'no')
      expect(await markPendingOptedOut(ctx.db, p)).toBe(1)
      expect((await getMessage(ctx.db, id)).status).toBe('opted_out')
    })
  })

  it('refuses to claim while the session has a sending row, rolling everything back', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const stopped = phone()
    await setOptIn(ctx.db, stopped, 'no')
    const [stuck, out, next] = await insertMessages(ctx.db, [
      { session: f.name, availableInMs: -30 },
      { session: f.name, phone: stopped, availableInMs: -20 },
      { session: f.name, availableInMs: -10 },
    ])
    claimed(await claim(ctx, f))
    expect((await getMessage(ctx.db, stuck!)).status).toBe('sending')
    const slot = (await getSession(ctx.db, f.name))!.nextSendAt
    await expect(claim(ctx, f, { gapMs: 60_000 })).rejects.toBeInstanceOf(UniqueViolationError)
    expect((await getMessage(ctx.db, out!)).status).toBe('pending') // the opt-out mark rolled back too
    expect((await getMessage(ctx.db, next!)).status).toBe('pending')
    expect((await getSession(ctx.db, f.name))!.nextSendAt.getTime()).toBe(slot.getTime())
  })
})

describeEachEngine('finalize, requeue and fail (fenced by claim_epoch)', (ctx) => {
  async function claimOne(f: Fence) {
    await insertMessage(ctx.db, { session: f.name })
    return claimed(await claim(ctx, f))
  }

  it('finalizes a send as sent and holds the next slot at least the minimum away', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await claimOne(f)
    const now = await dbNow(ctx.db)
    expect(await finalizeSent(ctx.db, { id: m.id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 4_000 })).toBe(true)
    const row = await getMessage(ctx.db, m.id)
    expect(row.status).toBe('sent')
    expect(row.sentAt).toBeInstanceOf(Date)
    expect(msBetween(now, (await getSession(ctx.db, f.name))!.nextSendAt)).toBeGreaterThanOrEqual(4_000)
    expect(await finalizeSent(ctx.db, { id: m.id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })).toBe(false)
  })

  it('requeues with backoff under the same WhatsApp id, and the retry claims it again as attempt 2', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await claimOne(f)
    const now = await dbNow(ctx.db)
    expect(await requeueWithBackoff(ctx.db, { id: m.id, owner: f.owner, epoch: f.epoch, backoffMs: 30_000, error: 'not connected' })).toBe(true)
    const row = await getMessage(ctx.db, m.id)
    expect([row.status, row.error, row.waMessageId]).toEqual(['pending', 'not connected', m.waMessageId])
    expect(msBetween(now, row.availableAt)).toBeGreaterThanOrEqual(29_000)
    expect(await claim(ctx, f)).toEqual({ kind: 'idle' })
    await setTime(ctx.db, 'messages', 'available_at', -1, `id = ${ph(ctx.db, 1)}`, [m.id])
    const again = claimed(await claim(ctx, f))
    expect([again.id, again.attempts, again.waMessageId]).toEqual([m.id, 2, m.waMessageId])
    expect((await getMessage(ctx.db, m.id)).error).toBeNull()
  })

  it('fails a message with the reason', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await claimOne(f)
    expect(await finalizeFailed(ctx.db, { id: m.id, owner: f.owner, epoch: f.epoch, error: 'invalid number' })).toBe(true)
    const row = await getMessage(ctx.db, m.id)
    expect([row.status, row.error]).toEqual(['failed', 'invalid number'])
    expect(await finalizeFailed(ctx.db, { id: m.id, owner: f.owner, epoch: f.epoch, error: 'again' })).toBe(false)
  })

  it('changes nothing for a wrong epoch or owner', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await claimOne(f)
    const stale = { id: m.id, owner: f.owner, epoch: f.epoch - 1 }
    const other = { id: m.id, owner: 'runner-b', epoch: f.epoch }
    for (const fence of [stale, other]) {
      expect(await finalizeSent(ctx.db, { ...fence, session: f.name, minGapMs: 0 })).toBe(false)
      expect(await requeueWithBackoff(ctx.db, { ...fence, backoffMs: 1_000, error: 'x' })).toBe(false)
      expect(await finalizeFailed(ctx.db, { ...fence, error: 'x' })).toBe(false)
    }
    const row = await getMessage(ctx.db, m.id)
    expect([row.status, row.error, row.claimEpoch]).toEqual(['sending', null, f.epoch])
  })

  it('ignores a stale owner after a takeover: its finalize, requeue and fail change neither the message nor the slot', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await claimOne(f)
    await expireLease(ctx.db, f.name)
    const epoch2 = await leaseOnly(ctx.db, f.name, 'runner-b')
    const adopted = await reconcileInflight(ctx.db, { session: f.name, owner: 'runner-b', epoch: epoch2, gapMs: 0 })
    expect(adopted.kind).toBe('resend')
    const slot = (await getSession(ctx.db, f.name))!.nextSendAt
    const old = { id: m.id, owner: f.owner, epoch: f.epoch }
    expect(await finalizeSent(ctx.db, { ...old, session: f.name, minGapMs: 600_000 })).toBe(false)
    expect(await requeueWithBackoff(ctx.db, { ...old, backoffMs: 1_000, error: 'late' })).toBe(false)
    expect(await finalizeFailed(ctx.db, { ...old, error: 'late' })).toBe(false)
    const row = await getMessage(ctx.db, m.id)
    expect([row.status, row.claimedBy, row.claimEpoch]).toEqual(['sending', 'runner-b', epoch2])
    expect((await getSession(ctx.db, f.name))!.nextSendAt.getTime()).toBe(slot.getTime())
    expect(await finalizeSent(ctx.db, { id: m.id, session: f.name, owner: 'runner-b', epoch: epoch2, minGapMs: 0 })).toBe(true)
  })
})

describe('backoffMs', () => {
  it('doubles from 30 s per attempt with ±20 % jitter', () => {
    expect(backoffMs(1, () => 0.5)).toBe(30_000)
    expect(backoffMs(2, () => 0.5)).toBe(60_000)
    expect(backoffMs(3, () => 0.5)).toBe(120_000)
    expect(backoffMs(1, () => 0)).toBe(24_000)
    expect(backoffMs(1, () => 1)).toBe(36_000)
  })

  it('caps the base at 30 minutes before jitter', () => {
    expect(backoffMs(7, () => 0.5)).toBe(BACKOFF_CAP_MS)
    expect(backoffMs(50, () => 0.5)).toBe(BACKOFF_CAP_MS)
    expect(backoffMs(50, () => 1)).toBe(BACKOFF_CAP_MS * 1.2)
  })

  it('treats attempts below 1 as the first', () => {
    expect(backoffMs(0, () => 0.5)).toBe(30_000)
    expect(backoffMs(-3, () => 0.5)).toBe(30_000)
  })

  it('stays within the jitter band for random draws', () => {
    for (let i = 0; i < 200; i++) {
      const v = backoffMs(2)
      expect(v).toBeGreaterThanOrEqual(48_000)
      expect(v).toBeLessThanOrEqual(72_000)
    }
  })
})

describeEachEngine('facts from WhatsApp', (ctx) => {
  async function sentMessage(f: Fence) {
    await insertMessage(ctx.db, { session: f.name })
    const m = claimed(await claim(ctx, f))
    await finalizeSent(ctx.db, { id: m.id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })
    return m
  }

  it('records delivery once and a read with an implied delivery, keeping the first times', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await sentMessage(f)
    expect(await recordDelivered(ctx.db, m.waMessageId)).toBe(true)
    const d1 = (await getMessage(ctx.db, m.id)).deliveredAt!
    expect(await recordDelivered(ctx.db, m.waMessageId)).toBe(true)
    expect((await getMessage(ctx.db, m.id)).deliveredAt!.getTime()).toBe(d1.getTime())
    expect(await recordRead(ctx.db, m.waMessageId)).toBe(true)
    const row = await getMessage(ctx.db, m.id)
    expect(row.deliveredAt!.getTime()).toBe(d1.getTime())
    expect(row.readAt).toBeInstanceOf(Date)
    expect(row.status).toBe('sent')

    const m2 = await sentMessage(f)
    await recordRead(ctx.db, m2.waMessageId)
    const r2 = await getMessage(ctx.db, m2.id)
    expect(r2.deliveredAt).toBeInstanceOf(Date)
    expect(r2.readAt).toBeInstanceOf(Date)
  })

  it('records the server ack once, keeping the first time', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await sentMessage(f)
    const read = async () => (await ctx.db.query<{ acked_at: Date | null }>(`SELECT acked_at FROM messages WHERE id = ${ph(ctx.db, 1)}`, [m.id]))[0]!.acked_at
    expect(await read()).toBeNull()
    expect(await recordServerAck(ctx.db, m.waMessageId)).toBe(true)
    const first = await read()
    expect(first).toBeInstanceOf(Date)
    expect(await recordServerAck(ctx.db, m.waMessageId)).toBe(true)
    expect((await read())!.getTime()).toBe(first!.getTime())
    expect(await recordServerAck(ctx.db, '3EB0NOSUCHID0000000000')).toBe(false)
  })

  it('reports receipts for an unknown id as unmatched', async () => {
    expect(await recordDelivered(ctx.db, '3EB0NOSUCHID0000000000')).toBe(false)
    expect(await recordRead(ctx.db, '3EB0NOSUCHID0000000000')).toBe(false)
  })

  it('fails a sent message on a negative ack without pausing the session', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await sentMessage(f)
    expect(await failByWaId(ctx.db, { waMessageId: m.waMessageId, error: 'negative ack 479' })).toEqual({ failed: true, paused: false })
    const row = await getMessage(ctx.db, m.id)
    expect([row.status, row.error]).toEqual(['failed', 'negative ack 479'])
    expect((await getSession(ctx.db, f.name))!.pausedUntil).toBeNull()
  })

  it('fails the message and pauses the session on 463, in one transaction', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await sentMessage(f)
    await insertMessage(ctx.db, { session: f.name })
    const res = await failByWaId(ctx.db, {
      waMessageId: m.waMessageId,
      error: 'negative ack 463',
      pause: { ...f, seconds: 86_400, detail: 'restricted' },
    })
    expect(res).toEqual({ failed: true, paused: true })
    const s = (await getSession(ctx.db, f.name))!
    expect(s.detail).toBe('restricted')
    expect(msBetween(await dbNow(ctx.db), s.pausedUntil!)).toBeGreaterThan(86_000_000)
    expect(await claim(ctx, f)).toEqual({ kind: 'wait', waitMs: 60_000 })
  })

  it('still fails the message when the pause is fenced out by a lost lease', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const m = await sentMessage(f)
    const res = await failByWaId(ctx.db, { waMessageId: m.waMessageId, error: 'negative ack 463', pause: { ...f, epoch: f.epoch + 1, seconds: 60, detail: 'restricted' } })
    expect(res).toEqual({ failed: true, paused: false })
    expect((await getSession(ctx.db, f.name))!.pausedUntil).toBeNull()
  })

  it('does not fail a message that is pending or already failed', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const id = await insertMessage(ctx.db, { session: f.name, waMessageId: '3EB0PENDING00000000000' })
    expect((await failByWaId(ctx.db, { waMessageId: '3EB0PENDING00000000000', error: 'x' })).failed).toBe(false)
    expect((await getMessage(ctx.db, id)).status).toBe('pending')
  })

  it('turns only the phone\'s pending rows opted_out on STOP', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const p = phone()
    const sent = await sentMessage(f)
    await ctx.db.execute(`UPDATE messages SET phone = ${ph(ctx.db, 1)} WHERE id = ${ph(ctx.db, 2)}`, [p, sent.id])
    const [a, b] = await insertMessages(ctx.db, [{ session: f.name, phone: p }, { session: f.name, phone: p }])
    const other = await insertMessage(ctx.db, { session: f.name, phone: phone() })
    expect(await markPendingOptedOut(ctx.db, p)).toBe(2)
    for (const id of [a!, b!]) expect((await getMessage(ctx.db, id)).status).toBe('opted_out')
    expect((await getMessage(ctx.db, other)).status).toBe('pending')
    expect((await getMessage(ctx.db, sent.id)).status).toBe('sent')
  })
})

describeEachEngine('reconciliation on takeover (crash windows at the database level)', (ctx) => {
  /** Runner A claims one message and "crashes" (its lease runs out); B acquires. */
  async function crashedClaim(minGapMs = 0) {
    const a = await ownedSession(ctx.db, 'runner-a')
    await insertMessage(ctx.db, { session: a.name })
    const m = claimed(await claim(ctx, a))
    await expireLease(ctx.db, a.name)
    const epoch = await leaseOnly(ctx.db, a.name, 'runner-b', minGapMs)
    return { m, a, b: { name: a.name, owner: 'runner-b', epoch } }
  }

  it('reports none when the session has no sending row', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    expect(await reconcileInflight(ctx.db, { session: f.name, owner: f.owner, epoch: f.epoch, gapMs: 0 })).toEqual({ kind: 'none' })
  })

  it('settles as sent when a receipt is on record', async () => {
    const { m, b } = await crashedClaim()
    await recordDelivered(ctx.db, m.waMessageId)
    expect(await reconcileInflight(ctx.db, { session: b.name, owner: b.owner, epoch: b.epoch, gapMs: 0 })).toEqual({ kind: 'settled', id: m.id })
    const row = await getMessage(ctx.db, m.id)
    expect([row.status, row.claimedBy, row.claimEpoch]).toEqual(['sent', 'runner-b', b.epoch])
    expect(row.sentAt).toBeInstanceOf(Date)
  })

  it('adopts once under the same WhatsApp id, then fails on the second interruption', async () => {
    const { m, b } = await crashedClaim()
    const r1 = await reconcileInflight(ctx.db, { session: b.name, owner: b.owner, epoch: b.epoch, gapMs: 5_000 })
    expect(r1).toEqual({ kind: 'resend', message: { ...m, attempts: 2, claimEpoch: b.epoch } })
    let row = await getMessage(ctx.db, m.id)
    expect([row.status, row.claimedBy, row.claimEpoch, row.attempts, row.error]).toEqual([
      'sending', 'runner-b', b.epoch, 2, 'interrupted: resent after takeover',
    ])
    // The adoption took the send slot.
    expect(msBetween(await dbNow(ctx.db), (await getSession(ctx.db, b.name))!.nextSendAt)).toBeGreaterThan(3_000)
    // B crashes during the resend; C takes over.
    await expireLease(ctx.db, b.name)
    const epochC = await leaseOnly(ctx.db, b.name, 'runner-c')
    expect(await reconcileInflight(ctx.db, { session: b.name, owner: 'runner-c', epoch: epochC, gapMs: 0 })).toEqual({ kind: 'failed', id: m.id })
    row = await getMessage(ctx.db, m.id)
    expect([row.status, row.error, row.claimEpoch]).toEqual(['failed', 'interrupted twice: not resent', epochC])
    expect(await reconcileInflight(ctx.db, { session: b.name, owner: 'runner-c', epoch: epochC, gapMs: 0 })).toEqual({ kind: 'none' })
  })

  it('settles an adopted resend whose receipt arrived before the second takeover', async () => {
    const { m, b } = await crashedClaim()
    expect((await reconcileInflight(ctx.db, { session: b.name, owner: b.owner, epoch: b.epoch, gapMs: 0 })).kind).toBe('resend')
    await recordRead(ctx.db, m.waMessageId)
    await expireLease(ctx.db, b.name)
    const epochC = await leaseOnly(ctx.db, b.name, 'runner-c')
    expect(await reconcileInflight(ctx.db, { session: b.name, owner: 'runner-c', epoch: epochC, gapMs: 0 })).toEqual({ kind: 'settled', id: m.id })
  })

  it('waits for the throttle slot before adopting, changing nothing meanwhile', async () => {
    const { m, b } = await crashedClaim(2_000)
    const r = await reconcileInflight(ctx.db, { session: b.name, owner: b.owner, epoch: b.epoch, gapMs: 0 })
    expect(r.kind).toBe('wait')
    if (r.kind === 'wait') expect(r.waitMs).toBeGreaterThan(1_000)
    const row = await getMessage(ctx.db, m.id)
    expect([row.claimedBy, row.error]).toEqual(['runner-a', null])
    await setTime(ctx.db, 'sessions', 'next_send_at', -1, `name = ${ph(ctx.db, 1)}`, [b.name])
    expect((await reconcileInflight(ctx.db, { session: b.name, owner: b.owner, epoch: b.epoch, gapMs: 0 })).kind).toBe('resend')
  })

  it('is fenced for a stale epoch and changes nothing', async () => {
    const { m, a } = await crashedClaim()
    expect(await reconcileInflight(ctx.db, { session: a.name, owner: a.owner, epoch: a.epoch, gapMs: 0 })).toEqual({ kind: 'fenced' })
    expect((await getMessage(ctx.db, m.id)).claimedBy).toBe('runner-a')
  })

  it('hands back a claim made under the same lease unchanged (a COMMIT whose reply was lost)', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await insertMessage(ctx.db, { session: f.name })
    const m = claimed(await claim(ctx, f))
    expect(await findInflight(ctx.db, f.name)).toMatchObject({ id: m.id, claimEpoch: f.epoch, claimedBy: 'runner-a', waMessageId: m.waMessageId })
    expect(await reconcileInflight(ctx.db, { session: f.name, owner: f.owner, epoch: f.epoch, gapMs: 0 })).toEqual({ kind: 'resend', message: m })
    expect((await getMessage(ctx.db, m.id)).attempts).toBe(1)
  })
})

describeEachEngine('probeDue', (ctx) => {
  it('reports per owned session when its earliest pending row is due', async () => {
    const owner = uniqueName('prober')
    const [due, later, empty] = [await ownedSession(ctx.db, owner), await ownedSession(ctx.db, owner), await ownedSession(ctx.db, owner)]
    const foreign = await ownedSession(ctx.db, 'someone-else')
    await insertMessages(ctx.db, [
      { session: due.name, availableInMs: -5_000 },
      { session: later.name, availableInMs: 30_000 },
      { session: later.name, availableInMs: 60_000 },
      { session: foreign.name },
    ])
    await insertMessage(ctx.db, { session: empty.name })
    await ctx.db.execute(`UPDATE messages SET status = 'sent' WHERE session = ${ph(ctx.db, 1)}`, [empty.name])
    const res = await probeDue(ctx.db, owner)
    const by = Object.fromEntries(res.map((r) => [r.name, r.dueInMs]))
    expect(Object.keys(by).sort()).toEqual([due.name, later.name, empty.name].sort())
    expect(by[due.name]).toBe(0)
    expect(by[later.name]).toBeGreaterThan(25_000)
    expect(by[later.name]).toBeLessThanOrEqual(30_000)
    expect(by[empty.name]).toBeNull()
  })

  it('omits sessions whose lease ran out', async () => {
    const owner = uniqueName('prober')
    const f = await ownedSession(ctx.db, owner)
    await expireLease(ctx.db, f.name)
    expect(await probeDue(ctx.db, owner)).toEqual([])
  })

  it('reports a paused session\'s due rows (the claim applies the pause, not the probe)', async () => {
    const owner = uniqueName('prober')
    const f = await ownedSession(ctx.db, owner)
    await insertMessage(ctx.db, { session: f.name })
    await pauseSession(ctx.db, { ...f, seconds: 60, detail: 'restricted' })
    expect(await probeDue(ctx.db, owner)).toEqual([{ name: f.name, dueInMs: 0 }])
  })
})
