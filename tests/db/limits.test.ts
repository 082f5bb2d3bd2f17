/**
 * Sending limits in the claim (db/lifecycle/limit-plan.ts, claimNextMessage), scheduled sends (send_at) and the pairing
 * request round trip, on every engine.
 */
import { expect, it } from 'vitest'
import type { Queryable } from '../../db/driver.js'
import { localDate, nextLocalMidnight } from '../../db/local-time.js'
import { NO_LIMITS, type LimitDefaults } from '../../db/lifecycle/limit-plan.js'
import { recordSendFailure, recordSendSuccess } from '../../db/lifecycle/pause.js'
import { enqueueMessage, enqueueMessages } from '../../db/lifecycle/enqueue.js'
import { answerPairingRequest, clearPairing, markPaired } from '../../db/queries/pairing.js'
import { claimNextMessage, type ClaimResult, type ClaimedMessage } from '../../db/lifecycle/claim.js'
import { finalizeSent } from '../../db/lifecycle/settle.js'
import { cancelPairingRequest, readPairing, requestPairingCode } from '../../db/queries/sessions.js'
import { updateSessionSettings } from '../../db/lifecycle/settings.js'
import { describeEachEngine, type EngineContext } from '../support/db.js'
import { dbNow, fakeWaId, getMessage, getSession, insertMessage, insertMessages, ownedSession, ph } from '../support/queue-fixtures.js'
import { findSessionRequests } from '../../db/queries/session-reports.js'

type Fence = { name: string; owner: string; epoch: number }

function claim(ctx: EngineContext, f: Fence, limits: LimitDefaults = NO_LIMITS): Promise<ClaimResult> {
  return claimNextMessage(ctx.db, { session: f.name, owner: f.owner, epoch: f.epoch, gapMs: 0, optInMode: 'open', newWaId: fakeWaId, limits })
}

async function sendOne(ctx: EngineContext, f: Fence, limits: LimitDefaults = NO_LIMITS): Promise<ClaimedMessage> {
  const r = await claim(ctx, f, limits)
  if (r.kind !== 'claimed') throw new Error(`expected a claim, got ${JSON.stringify(r)}`)
  await finalizeSent(ctx.db, { id: r.message.id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })
  return r.message
}

async function setColumns(db: Queryable, name: string, values: Record<string, unknown>): Promise<void> {
  const cols = Object.keys(values)
  const sets = cols.map((c, i) => `${c} = ${ph(db, i + 1)}`).join(', ')
  await db.execute(`UPDATE sessions SET ${sets} WHERE name = ${ph(db, cols.length + 1)}`, [...Object.values(values), name])
}

async function writeInbound(db: Queryable, session: string, phone: string): Promise<void> {
  const now = db.dialect === 'mysql' ? 'NOW(6)' : 'now()'
  await db.execute(
    `INSERT INTO inbound_messages (session, phone, sender_jid, body, wa_message_id, received_at)
     VALUES (${ph(db, 1)}, ${ph(db, 2)}, ${ph(db, 3)}, 'hi', ${ph(db, 4)}, ${now})`,
    [session, phone, `${phone}@s.whatsapp.net`, fakeWaId()],
  )
}

describeEachEngine('daily cap and warm-up in the claim', (ctx) => {
  it('claims up to the cap, then holds the session until the next local midnight with the reason on the row', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await setColumns(ctx.db, f.name, { daily_cap: 2, time_zone: 'Asia/Beirut' })
    const ids = await insertMessages(ctx.db, [{ session: f.name }, { session: f.name }, { session: f.name }])
    await sendOne(ctx, f)
    await sendOne(ctx, f)
    const now = (await dbNow(ctx.db)).getTime()
    const r = await claim(ctx, f)
    expect(r.kind).toBe('wait')
    const until = nextLocalMidnight(now, 'Asia/Beirut')
    if (r.kind === 'wait') {
      expect(r.hold).toMatch(/^daily cap reached \(2\/2\), resumes at \d{4}-\d\d-\d\d 0[01]:00 Asia\/Beirut$/)
      expect(r.waitMs).toBeGreaterThan(0)
      expect(r.waitMs).toBeLessThanOrEqual(15_000)
    }
    const s = (await getSession(ctx.db, f.name))!
    expect([s.quotaDay, s.sentToday]).toEqual([localDate(now, 'Asia/Beirut'), 2])
    expect(s.holdReason).toMatch(/^daily cap reached \(2\/2\)/)
    expect(Math.abs(s.holdUntil!.getTime() - until)).toBeLessThan(5_000)
    expect((await getMessage(ctx.db, ids[2]!)).status).toBe('pending')
  })

  it('starts counting from 0 on a new local day, and clears the hold once a claim goes through', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await setColumns(ctx.db, f.name, { daily_cap: 2, quota_day: '2000-01-01', sent_today: 99, hold_reason: 'daily cap reached (old)' })
    await insertMessage(ctx.db, { session: f.name })
    await sendOne(ctx, f)
    const s = (await getSession(ctx.db, f.name))!
    expect(s.sentToday).toBe(1)
    expect(s.quotaDay).toBe(localDate((await dbNow(ctx.db)).getTime(), 'UTC'))
    expect([s.holdUntil, s.holdReason]).toEqual([null, null])
  })

  it('a newly paired number gets the warm-up start as its cap on day one', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await markPaired(ctx.db, f)
    await setColumns(ctx.db, f.name, { daily_cap: 100, warmup_start: 1, warmup_days: 14 })
    await insertMessages(ctx.db, [{ session: f.name }, { session: f.name }])
    await sendOne(ctx, f)
    const r = await claim(ctx, f)
    expect(r.kind === 'wait' && r.hold).toMatch(/^daily cap reached \(1\/1, warm-up day 1 of 14\), resumes at /)
  })

  it('takes the runner defaults for NULL settings, and 0 turns a cap off', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await insertMessages(ctx.db, [{ session: f.name }, { session: f.name }, { session: f.name }])
    const oneADay = { ...NO_LIMITS, dailyCap: 1 }
    await sendOne(ctx, f, oneADay)
    expect((await claim(ctx, f, oneADay)).kind).toBe('wait')
    await setColumns(ctx.db, f.name, { daily_cap: 0 })
    await sendOne(ctx, f, oneADay)
    await sendOne(ctx, f, oneADay)
    expect((await getSession(ctx.db, f.name))!.sentToday).toBe(3)
  })
})

describeEachEngine('first-contact cap in the claim', (ctx) => {
  it('holds messages to numbers that never wrote once the cap is reached; known contacts keep going', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await setColumns(ctx.db, f.name, { first_contact_cap: 1 })
    await writeInbound(ctx.db, f.name, '96171000003')
    await writeInbound(ctx.db, 'another_session', '96171000002') // wrote to another number: still a first contact here
    const [a, b, c] = await insertMessages(ctx.db, [
      { session: f.name, phone: '96171000001', availableInMs: -3000 },
      { session: f.name, phone: '96171000002', availableInMs: -2000 },
      { session: f.name, phone: '96171000003', availableInMs: -1000 },
    ])
    expect((await sendOne(ctx, f)).id).toBe(a)
    let s = (await getSession(ctx.db, f.name))!
    expect([s.sentToday, s.firstContactToday]).toEqual([1, 1])
    const now = (await dbNow(ctx.db)).getTime()
    expect((await sendOne(ctx, f)).id).toBe(c)
    const held = await getMessage(ctx.db, b!)
    expect([held.status, held.hold]).toEqual(['pending', 'limit'])
    expect(held.error).toMatch(/^first-contact cap reached \(1\/1\): messages to numbers that never wrote to this session wait until /)
    expect(Math.abs(held.availableAt.getTime() - nextLocalMidnight(now, 'UTC'))).toBeLessThan(5_000)
    s = (await getSession(ctx.db, f.name))!
    expect([s.sentToday, s.firstContactToday]).toEqual([2, 1])
    expect(s.holdReason).toMatch(/^first-contact cap reached/)
    expect((await claim(ctx, f)).kind).toBe('idle')
  })

  it('raising the cap releases the held messages at once', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await setColumns(ctx.db, f.name, { first_contact_cap: 1 })
    const [, b] = await insertMessages(ctx.db, [
      { session: f.name, phone: '96171000011', availableInMs: -2000 },
      { session: f.name, phone: '96171000012', availableInMs: -1000 },
    ])
    await sendOne(ctx, f)
    expect((await claim(ctx, f)).kind).toBe('idle')
    expect(await updateSessionSettings(ctx.db, f.name, { firstContactCap: 5 })).toBe(true)
    expect((await getMessage(ctx.db, b!)).hold).toBeNull()
    expect((await sendOne(ctx, f)).id).toBe(b)
    expect((await getSession(ctx.db, f.name))!.firstContactToday).toBe(2)
  })
})

describeEachEngine('quiet hours in the claim', (ctx) => {
  it('takes no slot and claims nothing inside the window, and says until when', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const now = await dbNow(ctx.db)
    const h = now.getUTCHours()
    const pad = (n: number) => String((n + 24) % 24).padStart(2, '0')
    // A two-hour window around the database's current UTC hour.
    await setColumns(ctx.db, f.name, { quiet_hours: `${pad(h - 1)}:00-${pad(h + 1)}:00`, time_zone: 'UTC' })
    const id = await insertMessage(ctx.db, { session: f.name })
    const before = (await getSession(ctx.db, f.name))!.nextSendAt
    const r = await claim(ctx, f)
    expect(r.kind).toBe('wait')
    if (r.kind === 'wait') expect(r.hold).toBe(`quiet hours (${pad(h - 1)}:00-${pad(h + 1)}:00 UTC): nothing is sent until ${localDate(now.getTime() + 3_600_000, 'UTC')} ${pad(h + 1)}:00 UTC`)
    const s = (await getSession(ctx.db, f.name))!
    expect(s.nextSendAt.getTime()).toBe(before.getTime())
    expect(s.holdReason).toMatch(/^quiet hours/)
    expect((await getMessage(ctx.db, id)).status).toBe('pending')
    // Per-session "off" beats a default window.
    await updateSessionSettings(ctx.db, f.name, { quietHours: 'off' })
    const everywhere = { ...NO_LIMITS, quietHours: `${pad(h - 1)}:00-${pad(h + 1)}:00` }
    expect((await claim(ctx, f, everywhere)).kind).toBe('claimed')
    expect((await getSession(ctx.db, f.name))!.holdReason).toBeNull()
  })
})

describeEachEngine('circuit breaker', (ctx) => {
  it('pauses the session after N consecutive failures with the reason, and a success resets the streak', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const defaults = { ...NO_LIMITS, breakerFailures: 3, breakerPauseMinutes: 15 }
    expect(await recordSendFailure(ctx.db, f, { defaults, lastError: 'timeout' })).toEqual({ failures: 1, paused: false, held: true })
    await recordSendSuccess(ctx.db, f)
    expect((await getSession(ctx.db, f.name))!.consecutiveFailures).toBe(0)
    await recordSendFailure(ctx.db, f, { defaults, lastError: 'timeout' })
    await recordSendFailure(ctx.db, f, { defaults, lastError: 'timeout' })
    expect(await recordSendFailure(ctx.db, f, { defaults, lastError: 'upload failed' })).toEqual({ failures: 0, paused: true, held: true })
    const s = (await getSession(ctx.db, f.name))!
    const now = await dbNow(ctx.db)
    expect(s.pausedUntil!.getTime() - now.getTime()).toBeGreaterThan(14 * 60_000)
    expect(s.detail).toMatch(/^circuit breaker: 3 consecutive send failures \(last: upload failed\); sending paused until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/)
    expect(s.holdReason).toBe(s.detail)
    await insertMessage(ctx.db, { session: f.name })
    const r = await claim(ctx, f)
    expect(r.kind === 'wait' && r.waitMs).toBe(60_000)
  })

  it('is off at 0 (per session over the default), and writes nothing without the lease', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await setColumns(ctx.db, f.name, { breaker_failures: 0 })
    const defaults = { ...NO_LIMITS, breakerFailures: 1 }
    expect((await recordSendFailure(ctx.db, f, { defaults, lastError: 'x' })).paused).toBe(false)
    expect(await recordSendFailure(ctx.db, { ...f, epoch: f.epoch + 1 }, { defaults, lastError: 'x' })).toEqual({ failures: 0, paused: false, held: false })
  })
})

describeEachEngine('scheduled sends (send_at)', (ctx) => {
  it('makes a message due at send_at by the database clock, and stores send_at for the audit log', async () => {
    const now = await dbNow(ctx.db)
    const later = new Date(now.getTime() + 3_600_000)
    const r = await enqueueMessage(ctx.db, { session: 'default', phone: '96171000100', type: 'text', body: 'later', sendAt: later })
    const m = await getMessage(ctx.db, r.id)
    expect(m.availableAt.getTime()).toBe(later.getTime())
    expect(m.sendAt!.getTime()).toBe(later.getTime())
  })

  it('a past send_at means now; batches mix scheduled and immediate rows', async () => {
    const now = await dbNow(ctx.db)
    const past = new Date(now.getTime() - 86_400_000)
    const later = new Date(now.getTime() + 7_200_000)
    const [a, b, c] = await enqueueMessages(ctx.db, [
      { session: 'default', phone: '96171000101', type: 'text', body: 'a', sendAt: past },
      { session: 'default', phone: '96171000102', type: 'text', body: 'b', sendAt: later },
      { session: 'default', phone: '96171000103', type: 'text', body: 'c' },
    ])
    const [ma, mb, mc] = await Promise.all([a!, b!, c!].map((id) => getMessage(ctx.db, id)))
    expect(Math.abs(ma!.availableAt.getTime() - now.getTime())).toBeLessThan(5_000)
    expect(ma!.sendAt!.getTime()).toBe(past.getTime())
    expect(mb!.availableAt.getTime()).toBe(later.getTime())
    expect(mc!.sendAt).toBeNull()
  })
})

describeEachEngine('pairing-code request on the session row', (ctx) => {
  it('carries a request to the lease holder and its answer back; a cleared or replaced request takes no answer', async () => {
    const f = await ownedSession(ctx.db, 'runner-p')
    expect(await requestPairingCode(ctx.db, f.name, '96170123456')).toBe('ok')
    expect((await findSessionRequests(ctx.db, 'runner-p')).pairing).toEqual([{ name: f.name, leaseEpoch: f.epoch, phone: '96170123456' }])
    expect(await answerPairingRequest(ctx.db, f, '96170999999', { code: 'WRON-GPHN' })).toBe(false)
    expect(await answerPairingRequest(ctx.db, f, '96170123456', { code: 'ABCD-EFGH' })).toBe(true)
    expect(await readPairing(ctx.db, f.name)).toEqual({ phone: '96170123456', code: 'ABCD-EFGH', error: null })
    expect((await findSessionRequests(ctx.db, 'runner-p')).pairing).toEqual([])
    expect(await clearPairing(ctx.db, f)).toBe(true)
    expect(await readPairing(ctx.db, f.name)).toEqual({ phone: null, code: null, error: null })
    expect(await requestPairingCode(ctx.db, f.name, '96170123456')).toBe('ok')
    await cancelPairingRequest(ctx.db, f.name, '96170123456')
    expect((await findSessionRequests(ctx.db, 'runner-p')).pairing).toEqual([])
    expect(await requestPairingCode(ctx.db, 'no_such_session', '96170123456')).toBe('not_found')
  })
})
