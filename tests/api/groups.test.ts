/**
 * The groups routes on every engine: `GET /api/sessions/:name/groups[/:id]` answer what the runner last stored
 * (db/queries/groups.ts), `POST /api/sessions/:name/groups/refresh` records the request; bad input changes nothing.
 */
import { expect, it } from 'vitest'
import { findGroupRefreshRequests, replaceGroups, type GroupInfo } from '../../db/queries/groups.js'
import { requestSessionDelete } from '../../db/queries/sessions.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'
import { ownedSession } from '../support/queue-fixtures.js'

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
    expect(await findGroupRefreshRequests(ctx.db, 'runner-a')).toContain(f.name)
    res = await t.post('/api/sessions/missing/groups/refresh', {})
    expect(res.status).toBe(404)
    const g = await ownedSession(ctx.db, 'runner-a')
    await requestSessionDelete(ctx.db, g.name)
    res = await t.post(`/api/sessions/${g.name}/groups/refresh`, {})
    expect(res.status).toBe(409)
    expect(await findGroupRefreshRequests(ctx.db, 'runner-a')).not.toContain(g.name)
    expect((await t.get(`/api/sessions/${g.name}/groups`)).status).toBe(404)
  })
})
