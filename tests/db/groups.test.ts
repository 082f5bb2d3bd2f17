/**
 * The groups each number is in (migration 0016, db/queries/groups.ts), on every engine: the lease holder's fenced
 * writes (a complete fetch replaces the list, a notification rewrites or drops one group), the API's reads and
 * refresh requests, and the list leaving with a deleted session.
 */
import { expect, it } from 'vitest'
import { claimNextMessage } from '../../db/lifecycle/claim.js'
import { recordMemberReceipt } from '../../db/lifecycle/receipts.js'
import { finalizeSent } from '../../db/lifecycle/settle.js'
import { deleteSessionFenced } from '../../db/lifecycle/session-delete.js'
import {
  getGroup, listGroups, removeGroup, replaceGroups, requestGroupRefresh, takeGroupRefresh, upsertGroup,
  type GroupInfo,
} from '../../db/queries/groups.js'
import { countMemberReceipts } from '../../db/queries/messages.js'
import { requestSessionDelete } from '../../db/queries/sessions.js'
import { describeEachEngine } from '../support/db.js'
import { fakeWaId, getMessage, getSession, insertMessages, ownedSession, ph } from '../support/queue-fixtures.js'
import { findSessionRequests } from '../../db/queries/session-reports.js'

const made = new Date('2026-03-01T10:20:30.000Z')

function group(n: number, over: Partial<GroupInfo> = {}): GroupInfo {
  return {
    id: `12036300000000000${n}@g.us`,
    subject: `Team ${n} — فريق 🚚`,
    announce: false,
    isAdmin: false,
    canSend: true,
    createdAt: made,
    participants: [
      { phone: '96171000001', lid: '111111111111111', admin: true },
      { phone: null, lid: '222222222222222', admin: false },
      { phone: '96171000003', lid: null, admin: false },
    ],
    ...over,
  }
}

async function refreshRequested(ctx: { db: import('../../db/driver.js').Db }, name: string): Promise<boolean> {
  const [row] = await ctx.db.query(`SELECT groups_refresh_requested_at AS r FROM sessions WHERE name = ${ph(ctx.db, 1)}`, [name])
  return row!.r !== null
}

describeEachEngine('session_groups (groups as the runner last fetched them)', (ctx) => {
  it('a complete fetch replaces the list; the list has no members, one group has them all, byte for byte', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    expect(await listGroups(ctx.db, f.name)).toEqual([])
    const fetchedAt = async () => (await ctx.db.query(`SELECT groups_fetched_at AS t FROM sessions WHERE name = ${ph(ctx.db, 1)}`, [f.name]))[0]!.t
    expect(await fetchedAt()).toBeNull()
    expect(await replaceGroups(ctx.db, f, [group(1), group(2, { announce: true, isAdmin: true })])).toBe(true)
    expect(await fetchedAt()).not.toBeNull()
    const list = await listGroups(ctx.db, f.name)
    expect(list.map((g) => [g.id, g.announce, g.isAdmin, g.canSend, g.participantCount])).toEqual([
      ['120363000000000001@g.us', false, false, true, 3],
      ['120363000000000002@g.us', true, true, true, 3],
    ])
    expect(list[0]!.subject).toBe('Team 1 — فريق 🚚')
    expect(list[0]!.createdAt?.toISOString()).toBe(made.toISOString())
    expect(list[0]!.participants).toBeUndefined()
    const one = await getGroup(ctx.db, f.name, '120363000000000001@g.us')
    expect(one!.participants).toEqual(group(1).participants)
    // The next fetch no longer has group 1: it is gone, group 3 is new.
    expect(await replaceGroups(ctx.db, f, [group(2), group(3, { createdAt: null })])).toBe(true)
    expect((await listGroups(ctx.db, f.name)).map((g) => [g.id, g.announce, g.createdAt])).toEqual([
      ['120363000000000002@g.us', false, made],
      ['120363000000000003@g.us', false, null],
    ])
    expect(await getGroup(ctx.db, f.name, '120363000000000001@g.us')).toBeNull()
  })

  it('a notification rewrites one group or drops it, and the lists of two sessions stay apart', async () => {
    const a = await ownedSession(ctx.db, 'runner-a')
    const b = await ownedSession(ctx.db, 'runner-a')
    await replaceGroups(ctx.db, a, [group(1), group(2)])
    await replaceGroups(ctx.db, b, [group(1, { subject: 'Seen from b' })])
    const more = [...group(1).participants, { phone: '96171000004', lid: '444444444444444', admin: false }]
    expect(await upsertGroup(ctx.db, a, group(1, { participants: more, announce: true, canSend: false }))).toBe(true)
    expect(await getGroup(ctx.db, a.name, group(1).id)).toMatchObject({ participantCount: 4, participants: more, announce: true, canSend: false })
    expect(await upsertGroup(ctx.db, a, group(4))).toBe(true)
    expect(await removeGroup(ctx.db, a, group(2).id)).toBe(true)
    expect((await listGroups(ctx.db, a.name)).map((g) => g.id)).toEqual([group(1).id, group(4).id])
    expect(await listGroups(ctx.db, b.name)).toMatchObject([{ id: group(1).id, subject: 'Seen from b', participantCount: 3 }])
  })

  it('writes nothing without the lease: another owner or an older epoch', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await replaceGroups(ctx.db, f, [group(1)])
    expect(await replaceGroups(ctx.db, { ...f, owner: 'runner-b' }, [group(2)])).toBe(false)
    expect(await replaceGroups(ctx.db, { ...f, epoch: f.epoch - 1 }, [])).toBe(false)
    expect(await upsertGroup(ctx.db, { ...f, epoch: f.epoch + 1 }, group(3))).toBe(false)
    expect(await removeGroup(ctx.db, { ...f, owner: 'runner-b' }, group(1).id)).toBe(false)
    expect((await listGroups(ctx.db, f.name)).map((g) => g.id)).toEqual([group(1).id])
  })

  it('a refresh request waits for the owner, who takes it once (fenced)', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    expect((await findSessionRequests(ctx.db, 'runner-a')).groupRefresh).not.toContain(f.name)
    expect(await requestGroupRefresh(ctx.db, f.name)).toBe('ok')
    expect(await requestGroupRefresh(ctx.db, 'no-such-session')).toBe('not_found')
    expect((await findSessionRequests(ctx.db, 'runner-a')).groupRefresh).toContain(f.name)
    expect((await findSessionRequests(ctx.db, 'runner-b')).groupRefresh).not.toContain(f.name)
    await replaceGroups(ctx.db, f, [group(1)])
    expect(await refreshRequested(ctx, f.name)).toBe(true)
    expect(await takeGroupRefresh(ctx.db, { ...f, epoch: f.epoch + 1 })).toBe(false)
    expect(await takeGroupRefresh(ctx.db, f)).toBe(true)
    expect(await takeGroupRefresh(ctx.db, f)).toBe(false)
    expect(await refreshRequested(ctx, f.name)).toBe(false)
    expect((await findSessionRequests(ctx.db, 'runner-a')).groupRefresh).not.toContain(f.name)
  })

  it('a session being deleted takes no refresh request, and its groups go with it', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await replaceGroups(ctx.db, f, [group(1), group(2)])
    expect(await requestSessionDelete(ctx.db, f.name)).toBe('ok')
    expect(await requestGroupRefresh(ctx.db, f.name)).toBe('deleting')
    expect(await deleteSessionFenced(ctx.db, f)).toBe(true)
    expect(await listGroups(ctx.db, f.name)).toEqual([])
  })

  it('keeps a 1024-member group (the largest WhatsApp allows) whole', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    const members = Array.from({ length: 1024 }, (_, i) => ({ phone: `9617${String(i).padStart(7, '0')}`, lid: `${100000000000000 + i}`, admin: i === 0 }))
    await replaceGroups(ctx.db, f, [group(1, { participants: members })])
    const got = await getGroup(ctx.db, f.name, group(1).id)
    expect(got!.participantCount).toBe(1024)
    expect(got!.participants).toEqual(members)
  })

  it('claims a group message without consent or the first-contact cap, counting it once toward the daily cap', async () => {
    const f = await ownedSession(ctx.db, 'runner-a')
    await ctx.db.execute(`UPDATE sessions SET first_contact_cap = 1, daily_cap = 3 WHERE name = ${ph(ctx.db, 1)}`, [f.name])
    // A contact who said STOP with the same digits as the group changes nothing for the group.
    await ctx.db.execute(`INSERT INTO contacts (phone, opt_in) VALUES ('120363000000000001', 'no')`)
    const [toNew, toGroup, toGroup2, toNew2] = await insertMessages(ctx.db, [
      { session: f.name, phone: '96171000009', availableInMs: -4000 },
      { session: f.name, phone: group(1).id, availableInMs: -3000 },
      { session: f.name, phone: group(1).id, availableInMs: -2000 },
      { session: f.name, phone: '96171000008', availableInMs: -1000 },
    ])
    const claimOne = async (optInMode: 'open' | 'confirm') => {
      const r = await claimNextMessage(ctx.db, { session: f.name, owner: f.owner, epoch: f.epoch, gapMs: 0, optInMode, newWaId: fakeWaId })
      if (r.kind !== 'claimed') return null
      await finalizeSent(ctx.db, { id: r.message.id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })
      return r.message
    }
    // Confirm mode holds the 1:1 message for consent; both group messages go, which no first contact could (cap 1).
    expect((await claimOne('confirm'))?.id).toBe(toGroup)
    expect((await claimOne('confirm'))?.id).toBe(toGroup2)
    const held = await getMessage(ctx.db, toNew!)
    expect([held.status, held.hold]).toEqual(['pending', 'consent'])
    expect((await claimOne('open'))?.id).toBe(toNew2)
    const s = (await getSession(ctx.db, f.name))!
    expect([s.sentToday, s.firstContactToday]).toEqual([3, 1])
    // The daily cap (3) now holds everything, group messages included.
    expect(await claimOne('open')).toBeNull()
  })

  it('counts each member once: a repeated or multi-device receipt adds nothing, a read implies delivery', async () => {
    const wa = `GRP${Date.now()}${Math.random().toString(36).slice(2, 8)}`
    expect(await countMemberReceipts(ctx.db, wa)).toEqual({ delivered: 0, read: 0 })
    await recordMemberReceipt(ctx.db, wa, '96171000001', false)
    await recordMemberReceipt(ctx.db, wa, '96171000001', false)
    await recordMemberReceipt(ctx.db, wa, '96171000002', false)
    expect(await countMemberReceipts(ctx.db, wa)).toEqual({ delivered: 2, read: 0 })
    await recordMemberReceipt(ctx.db, wa, '96171000001', true)
    await recordMemberReceipt(ctx.db, wa, '333333333333333@lid', true)
    await recordMemberReceipt(ctx.db, wa, '96171000001', true)
    expect(await countMemberReceipts(ctx.db, wa)).toEqual({ delivered: 3, read: 2 })
  })
})
