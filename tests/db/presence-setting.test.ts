/**
 * Typing before each send in the database, on every engine: the `sessions.presence` setting (migration 0011) and the
 * claim's presence lead (db/lifecycle/claim.ts): a session showing typing is claimed up to the lead before its slot,
 * told how far the slot is, and the next slot counts from it; never during a pause, never for a session set "off".
 */
import { expect, it } from 'vitest'
import { claimNextMessage, type ClaimNextMessageParams, type ClaimResult } from '../../db/lifecycle/claim.js'
import { finalizeSent } from '../../db/lifecycle/settle.js'
import { updateSessionSettings } from '../../db/lifecycle/settings.js'
import type { PresenceSetting } from '../../db/types.js'
import { describeEachEngine, type EngineContext } from '../support/db.js'
import { fakeWaId, getSession, insertMessages, msBetween, ownedSession, ph, setTime } from '../support/queue-fixtures.js'

type Fence = { name: string; owner: string; epoch: number }

function claim(ctx: EngineContext, f: Fence, presence?: ClaimNextMessageParams['presence'], gapMs = 3000): Promise<ClaimResult> {
  return claimNextMessage(ctx.db, { session: f.name, owner: f.owner, epoch: f.epoch, gapMs, optInMode: 'open', newWaId: fakeWaId, ...(presence ? { presence } : {}) })
}

const on = (leadMs = 6000) => ({ default: 'on' as PresenceSetting, leadMs })

describeEachEngine('sessions.presence (typing before each send)', (ctx) => {
  it('is NULL (the runner default) for a new session, takes "on" and "off", and null returns it to the default', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    expect((await getSession(ctx.db, f.name))!.settings.presence).toBeNull()
    expect(await updateSessionSettings(ctx.db, f.name, { presence: 'off' })).toBe(true)
    expect((await getSession(ctx.db, f.name))!.settings.presence).toBe('off')
    await updateSessionSettings(ctx.db, f.name, { dailyCap: 10 })
    expect((await getSession(ctx.db, f.name))!.settings).toMatchObject({ presence: 'off', dailyCap: 10 })
    await updateSessionSettings(ctx.db, f.name, { presence: 'on' })
    expect((await getSession(ctx.db, f.name))!.settings.presence).toBe('on')
    await updateSessionSettings(ctx.db, f.name, { presence: null })
    expect((await getSession(ctx.db, f.name))!.settings.presence).toBeNull()
  })

  it('refuses any other value in the column itself', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await expect(ctx.db.execute(`UPDATE sessions SET presence = 'maybe' WHERE name = ${ph(ctx.db, 1)}`, [f.name])).rejects.toThrow()
    expect((await getSession(ctx.db, f.name))!.settings.presence).toBeNull()
  })

  it('a session showing typing is claimed up to the lead before its slot, with dueInMs, and the next slot counts from it', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await insertMessages(ctx.db, [{ session: f.name }, { session: f.name }, { session: f.name }])
    const first = await claim(ctx, f, on())
    expect(first).toMatchObject({ kind: 'claimed', presence: true, dueInMs: 0 })
    if (first.kind !== 'claimed') return
    await finalizeSent(ctx.db, { id: first.message.id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })
    const slot1 = (await getSession(ctx.db, f.name))!.nextSendAt
    // 3 s to the slot, within the 6 s lead: claimed now, the slot 3 s ahead.
    const second = await claim(ctx, f, on(), 4000)
    expect(second.kind).toBe('claimed')
    if (second.kind !== 'claimed') return
    expect(second.presence).toBe(true)
    expect(second.dueInMs).toBeGreaterThan(2000)
    expect(second.dueInMs).toBeLessThanOrEqual(3000)
    await finalizeSent(ctx.db, { id: second.message.id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })
    // The next slot is the early-claimed one plus its gap, not the claim's time plus the gap.
    expect(msBetween(slot1, (await getSession(ctx.db, f.name))!.nextSendAt)).toBe(4000)
    // With a lead shorter than the 7 s left, the answer is to wait until the lead before the slot.
    const third = await claim(ctx, f, on(1000))
    expect(third.kind).toBe('wait')
    if (third.kind === 'wait') {
      expect(third.waitMs).toBeGreaterThan(5000)
      expect(third.waitMs).toBeLessThanOrEqual(6000)
    }
  })

  it('no lead for a session set "off", for a runner without presence, or while paused', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await insertMessages(ctx.db, [{ session: f.name }])
    await setTime(ctx.db, 'sessions', 'next_send_at', 2000, `name = ${ph(ctx.db, 1)}`, [f.name])
    const waits = async (r: ClaimResult) => {
      expect(r.kind).toBe('wait')
      return r.kind === 'wait' ? r.waitMs : -1
    }
    expect(await waits(await claim(ctx, f))).toBeGreaterThan(1000)
    expect(await waits(await claim(ctx, f, { default: 'off', leadMs: 6000 }))).toBeGreaterThan(1000)
    await updateSessionSettings(ctx.db, f.name, { presence: 'off' })
    expect(await waits(await claim(ctx, f, on()))).toBeGreaterThan(1000)
    // The session's "on" wins over a runner default of "off".
    await updateSessionSettings(ctx.db, f.name, { presence: 'on' })
    await setTime(ctx.db, 'sessions', 'paused_until', 2000, `name = ${ph(ctx.db, 1)}`, [f.name])
    expect(await waits(await claim(ctx, f, { default: 'off', leadMs: 6000 }))).toBeGreaterThan(1000)
    await setTime(ctx.db, 'sessions', 'paused_until', -1, `name = ${ph(ctx.db, 1)}`, [f.name])
    const r = await claim(ctx, f, { default: 'off', leadMs: 6000 })
    expect(r).toMatchObject({ kind: 'claimed', presence: true })
  })
})
