/**
 * The groups routes on every engine: `GET /api/sessions/:name/groups[/:id]` answer what the runner last stored
 * (db/queries/groups.ts), `POST /api/sessions/:name/groups/refresh` records the request; bad input changes nothing.
 */
import { expect, it } from 'vitest'
import { replaceGroups, type GroupInfo } from '../../db/queries/groups.js'
import { getMessage } from '../../db/queries/messages.js'
import { requestSessionDelete } from '../../db/queries/sessions.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'
import { ownedSession } from '../support/queue-fixtures.js'
import { findSessionRequests } from '../../db/queries/session-reports.js'

const team: GroupInfo = {
  id: '120363401234567890@g.us',
  subject: 'Drivers — السائقون',
  announce: false,
  isAdmin: true,
  canSend: true,
  createdAt: new Date('2026-02-03T04:05:06.789Z'),
  participants: [
    { phone: '96171000001', lid: '111111111111111', admin: true },
    { phone: null, lid: '222222222222222', admin: false },
  ],
}
const news: GroupInfo = { ...team, id: '120363409999999999@g.us', subject: 'News', announce: true, isAdmin: false, canSend: false, createdAt: null }

describeEachEngine('groups: GET /api/sessions/:name/groups[/:id], POST …/groups/refresh', (ctx) => {
  it('lists the stored groups, and one group by its JID or numeric part with its members', async () => {
    const t = createTestApp(ctx.db)
    const f = await ownedSession(ctx.db, 'runner-a')
    let res = await t.get(`/api/sessions/${f.name}/groups`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual([])
    await replaceGroups(ctx.db, f, [news, team])
    expect(await (await t.get(`/api/sessions/${f.name}/groups`)).json()).toEqual([
      { id: team.id, subject: 'Drivers — السائقون', participants: 2, announce: false, can_send: true, created_at: '2026-02-03 04:05:06' },
      { id: news.id, subject: 'News', participants: 2, announce: true, can_send: false, created_at: null },
    ])
    for (const id of [team.id, '120363401234567890', encodeURIComponent(team.id)]) {
      res = await t.get(`/api/sessions/${f.name}/groups/${id}`)
      expect(res.status, id).toBe(200)
      const body = await res.json()
      expect(body).toMatchObject({ id: team.id, participants: 2, is_admin: true, members: team.participants })
      expect(body.fetched_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    }
  })

  it('404 unknown_group for a group the session is not in, 400 for a malformed id, 404 unknown_session', async () => {
    const t = createTestApp(ctx.db)
    const f = await ownedSession(ctx.db, 'runner-a')
    await replaceGroups(ctx.db, f, [team])
    let res = await t.get(`/api/sessions/${f.name}/groups/120363400000000000`)
    expect(res.status).toBe(404)
    expect((await res.json()).code).toBe('unknown_group')
    for (const bad of ['abc', '96171000001@s.whatsapp.net', '1'.repeat(40)]) {
      res = await t.get(`/api/sessions/${f.name}/groups/${encodeURIComponent(bad)}`)
      expect(res.status, bad).toBe(400)
      expect((await res.json()).code).toBe('invalid_group')
    }
    for (const path of ['/api/sessions/missing/groups', `/api/sessions/missing/groups/${team.id}`]) {
      res = await t.get(path)
      expect(res.status).toBe(404)
      expect((await res.json()).code).toBe('unknown_session')
    }
  })

  it('POST …/groups/refresh records a request for the runner; unknown → 404, deleting → 409 and nothing recorded', async () => {
    const t = createTestApp(ctx.db)
    const f = await ownedSession(ctx.db, 'runner-a')
    let res = await t.post(`/api/sessions/${f.name}/groups/refresh`, {})
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ success: true })
    expect((await findSessionRequests(ctx.db, 'runner-a')).groupRefresh).toContain(f.name)
    res = await t.post('/api/sessions/missing/groups/refresh', {})
    expect(res.status).toBe(404)
    const g = await ownedSession(ctx.db, 'runner-a')
    await requestSessionDelete(ctx.db, g.name)
    res = await t.post(`/api/sessions/${g.name}/groups/refresh`, {})
    expect(res.status).toBe(409)
    expect((await findSessionRequests(ctx.db, 'runner-a')).groupRefresh).not.toContain(g.name)
    expect((await t.get(`/api/sessions/${g.name}/groups`)).status).toBe(404)
  })

  it('queues to a group like to a phone: idempotency key, send_at, batch items, location, cancel; checks first', async () => {
    const t = createTestApp(ctx.db)
    const f = await ownedSession(ctx.db, 'runner-a')
    await replaceGroups(ctx.db, f, [team, news])
    const key = `grp-${f.name}`
    const body = { session: f.name, group: '120363401234567890', message: 'Shift starts at 6' }
    const first = await (await t.post('/api/send', body, { 'Idempotency-Key': key })).json()
    const again = await (await t.post('/api/send', { ...body, group: team.id }, { 'Idempotency-Key': key })).json()
    expect(again).toEqual(first)
    expect((await t.post('/api/send', { ...body, message: 'other' }, { 'Idempotency-Key': key })).status).toBe(409)
    const stored = (await getMessage(ctx.db, first.message_id))!
    expect([stored.phone, stored.status]).toEqual([team.id, 'pending'])

    const later = new Date(Date.now() + 3_600_000).toISOString()
    const scheduled = await (await t.post('/api/send', { ...body, send_at: later })).json()
    expect(await (await t.get(`/api/messages/${scheduled.message_id}`)).json()).toMatchObject({ phone: null, group: team.id, scheduled: true })
    expect((await t.post(`/api/messages/${scheduled.message_id}/cancel`, {})).status).toBe(200)

    const batch = await t.post('/api/send-batch', { messages: [
      { session: f.name, group: team.id, message: 'one' },
      { session: f.name, phone: '96171000009', message: 'two' },
      { session: f.name, group: team.id, type: 'location', latitude: 33.9, longitude: 35.5 },
    ] })
    expect(batch.status).toBe(200)
    const ids = ((await batch.json()) as { message_ids: number[] }).message_ids
    expect((await Promise.all(ids.map((id) => getMessage(ctx.db, id)))).map((m) => [m!.phone, m!.type])).toEqual([
      [team.id, 'text'], ['96171000009', 'text'], [team.id, 'location'],
    ])
    // A refused item refuses the batch, naming it.
    const refused = await t.post('/api/send-batch', { messages: [{ session: f.name, group: team.id, message: 'ok' }, { session: f.name, group: news.id, message: 'no' }] })
    expect(refused.status).toBe(409)
    expect(await refused.json()).toMatchObject({ code: 'group_read_only', error: expect.stringMatching(/^messages\[1\]/) })
    const loc = await t.post('/api/send-location', { session: f.name, group: news.id, latitude: 1, longitude: 2 })
    expect(loc.status).toBe(409)
    const both = await t.post('/api/send-location', { session: f.name, group: team.id, phone: '96171000009', latitude: 1, longitude: 2 })
    expect((await both.json()).code).toBe('phone_and_group')
  })

  it('resends a failed group message to the same group, with no consent check (a group has no opt-in)', async () => {
    const t = createTestApp(ctx.db)
    const f = await ownedSession(ctx.db, 'runner-a')
    await replaceGroups(ctx.db, f, [team])
    const { message_id } = await (await t.post('/api/send', { session: f.name, group: team.id, message: 'Stock low: A4 paper' })).json()
    const p = (n: number) => (ctx.db.dialect === 'mysql' ? '?' : `$${n}`)
    await ctx.db.execute(`UPDATE messages SET status = 'failed', attempts = 5, error = ${p(1)} WHERE id = ${p(2)}`, ['forbidden (403)', message_id])
    const res = await t.post(`/api/resend/${message_id}`)
    expect([res.status, await res.json()]).toEqual([200, { success: true }])
    expect(await getMessage(ctx.db, message_id)).toMatchObject({ phone: team.id, status: 'pending', attempts: 0, error: null })
    expect(await (await t.get(`/api/messages/${message_id}`)).json()).toMatchObject({ phone: null, group: team.id, status: 'pending' })
  })

  it('GET /api/messages?group= lists the messages to one group (JID or numeric part); phone and group together → 400', async () => {
    const t = createTestApp(ctx.db)
    const f = await ownedSession(ctx.db, 'runner-a')
    const other = { ...team, id: '120363401234567891@g.us', subject: 'Other' }
    await replaceGroups(ctx.db, f, [team, other])
    const send = async (to: Record<string, string>) =>
      ((await (await t.post('/api/send', { session: f.name, message: 'x', ...to })).json()) as { message_id: number }).message_id
    const a = await send({ group: team.id })
    const b = await send({ group: other.id })
    const c = await send({ group: '120363401234567890' })
    const d = await send({ phone: '96171000009' })
    // The engine's database is shared by this file's tests (the one above sends to team too): one session each.
    const list = async (q: string) => {
      const res = await t.get(`/api/messages?session=${f.name}&${q}`)
      expect(res.status, q).toBe(200)
      return ((await res.json()).messages as Array<{ id: number; phone: string | null; group: string | null }>)
    }
    for (const q of [`group=${team.id}`, 'group=120363401234567890', `group=${encodeURIComponent(team.id)}`]) {
      expect((await list(q)).map((m) => m.id), q).toEqual([c, a])
    }
    expect((await list(`group=${other.id}`)).map((m) => [m.id, m.phone, m.group])).toEqual([[b, null, other.id]])
    expect((await list('group=120363401234567890&status=sent'))).toEqual([])
    expect((await list('group=120363400000000000'))).toEqual([])
    // The phone filter never matches a group's row, and keyset pages work the same.
    expect((await list('phone=96171000009')).map((m) => m.id)).toEqual([d])
    const page = await (await t.get(`/api/messages?session=${f.name}&group=120363401234567890&limit=1`)).json()
    expect([page.messages.map((m: { id: number }) => m.id), page.next]).toEqual([[c], String(c)])
    expect((await list(`group=120363401234567890&limit=1&cursor=${page.next}`)).map((m) => m.id)).toEqual([a])

    const both = await t.get(`/api/messages?group=${team.id}&phone=96171000009`)
    expect(both.status).toBe(400)
    expect(await both.json()).toMatchObject({ success: false, code: 'phone_and_group', errors: [{ path: 'group', code: 'phone_and_group' }] })
    const bad = ['abc', '1234', '96171000001@s.whatsapp.net', '1'.repeat(31), '120363401234567890@g.us.evil', "1' OR '1'='1", '120363401234567890%00', '%F0%9F%98%80', '']
    for (const g of bad) {
      const res = await t.get(`/api/messages?group=${g.includes('%') ? g : encodeURIComponent(g)}`)
      expect(res.status, g).toBe(400)
      expect((await res.json()).code, g).toBe('invalid_group')
    }
    const twice = await t.get(`/api/messages?group=${team.id}&group=${other.id}`)
    expect(twice.status).toBe(400)
  })
})
