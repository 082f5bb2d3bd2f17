import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getGroup, listGroups } from '../../db/queries/groups.js'
import type { Runner } from '../../runner/runner.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { loopbackFactory, newKey, pairSession, startLoopbackServer, startRunner, waitFor } from './helpers.js'

/**
 * The group list (db/README.md, Groups; runner/README.md, Groups) with the real Baileys client against the loopback
 * server: a group made before the pairing is listed by the fetch on connect, one made later by its notification,
 * member changes (added, or this number removed) by theirs, and the refresh route makes the runner fetch again.
 * Everything is read back through the API, which reads only the database.
 */

const ME = '96170123400'
const CONTACTS = ['96170123401', '96170123402', '96170123403', '96170123404']

describe('groups of a session, on PGlite with real Baileys against the loopback server', () => {
  let t: TestDatabase
  let server: LoopbackServer
  let runner: Runner
  let api: TestApp
  let depot: string

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    server = await startLoopbackServer()
    api = createTestApp(t.db)
    // Made before the number is linked: only the fetch on connect can bring it.
    depot = (await server.createGroup({ subject: 'Depot 7 — drivers', participants: [ME, ...CONTACTS], admins: [CONTACTS[0]!] })).id
    runner = await startRunner(t.db, await loopbackFactory(t.db, server, newKey()))
    expect(await pairSession(t.db, server, 'default', ME)).toBe(ME)
  }, 90_000)
  afterAll(async () => {
    await runner?.stop()
    await server?.stop()
    await t?.drop()
  })

  const apiGroups = async () => {
    const res = await api.get('/api/sessions/default/groups')
    expect(res.status).toBe(200)
    return (await res.json()) as { id: string; subject: string; participants: number; announce: boolean; can_send: boolean; created_at: string | null }[]
  }

  it('lists the 5-member group made before pairing, with its members by phone and LID, as the server has them', async () => {
    const list = await waitFor(async () => {
      const l = await apiGroups()
      return l.length ? l : null
    }, 20_000, 'the group list after connecting')
    expect(list).toEqual([{ id: depot, subject: 'Depot 7 — drivers', participants: 5, announce: false, can_send: true, created_at: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/) }])
    const res = await api.get(`/api/sessions/default/groups/${depot.split('@')[0]}`)
    expect(res.status).toBe(200)
    const one = await res.json()
    const truth = server.groups().find((g) => g.id === depot)!
    expect(one).toMatchObject({ id: depot, is_admin: false })
    expect(one.members).toEqual(truth.participants.map((p) => ({ phone: p.phone, lid: p.lid, admin: p.admin !== null })))
    expect(one.members.filter((m: { admin: boolean }) => m.admin).map((m: { phone: string }) => m.phone)).toEqual([CONTACTS[0]])
  })

  it('a group made while online arrives by its notification; announce-only without admin rights cannot be sent to', async () => {
    const news = (await server.createGroup({ subject: 'News', participants: [CONTACTS[0]!, ME, CONTACTS[1]!], admins: [CONTACTS[0]!], announce: true })).id
    const listed = await waitFor(async () => (await apiGroups()).find((g) => g.id === news), 15_000, 'the new group')
    expect(listed).toMatchObject({ subject: 'News', participants: 3, announce: true, can_send: false })
    const mine = (await server.createGroup({ subject: 'Ours', participants: [ME, CONTACTS[2]!], admins: [ME], announce: true })).id
    const ours = await waitFor(async () => (await apiGroups()).find((g) => g.id === mine), 15_000, 'the group this number administers')
    expect(ours).toMatchObject({ announce: true, can_send: true })
    expect((await getGroup(t.db, 'default', mine))!.isAdmin).toBe(true)
  })

  it('adding a participant updates the count and the members; removing this number drops the group', async () => {
    await server.updateGroup(depot, { add: ['96170123405'] })
    const six = await waitFor(async () => (await apiGroups()).find((g) => g.id === depot && g.participants === 6), 15_000, 'the sixth member')
    expect(six.subject).toBe('Depot 7 — drivers')
    const members = (await getGroup(t.db, 'default', depot))!.participants!
    expect(members.map((m) => m.phone)).toContain('96170123405')
    const news = server.groups().find((g) => g.subject === 'News')!.id
    await server.updateGroup(news, { remove: [ME] })
    await waitFor(async () => !(await apiGroups()).some((g) => g.id === news), 15_000, 'the group this number left to go')
    const res = await api.get(`/api/sessions/default/groups/${news}`)
    expect(res.status).toBe(404)
    expect((await res.json()).code).toBe('unknown_group')
  })

  it('POST …/groups/refresh makes the runner fetch the list again', async () => {
    // A row the runner would never write: only a complete fetch puts the truth back (and drops the stray group).
    await t.db.query(`UPDATE session_groups SET subject = 'stale', participant_count = 1 WHERE group_id = $1`, [depot])
    await t.db.query(
      `INSERT INTO session_groups (session, group_id, subject, announce, is_admin, can_send, participant_count, participants)
       VALUES ('default', '120363999999999999@g.us', 'gone', false, false, true, 1, '[]')`,
    )
    const before = (await t.db.query(`SELECT groups_fetched_at AS t FROM sessions WHERE name = 'default'`))[0]!.t as Date
    expect((await apiGroups()).find((g) => g.id === depot)!.subject).toBe('stale')
    const res = await api.post('/api/sessions/default/groups/refresh', {})
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ success: true })
    const after = await waitFor(async () => {
      const l = await apiGroups()
      return l.find((g) => g.id === depot)?.subject === 'Depot 7 — drivers' ? l : null
    }, 15_000, 'the refreshed list')
    expect(after.map((g) => g.id).sort()).toEqual(server.groups().filter((g) => g.participants.some((p) => p.phone === ME)).map((g) => g.id).sort())
    expect(after.find((g) => g.id === depot)!.participants).toBe(6)
    const row = (await t.db.query(`SELECT groups_fetched_at AS t, groups_refresh_requested_at AS r FROM sessions WHERE name = 'default'`))[0]!
    expect((row.t as Date).getTime()).toBeGreaterThan(before.getTime())
    expect(row.r).toBeNull()
    expect((await listGroups(t.db, 'default')).length).toBe(2)
  })
})
