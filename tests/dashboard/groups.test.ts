/**
 * Groups on the dashboard (api/README.md, The dashboard): the Send form picks or takes a group and checks it as the API
 * does; the Messages page names a group message by its subject (one query for the page) and filters by group.
 */
import { beforeAll, expect, it } from 'vitest'
import type { Db } from '../../db/driver.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { replaceGroups, type GroupInfo } from '../../db/queries/groups.js'
import { getMessage, listMessages } from '../../db/queries/messages.js'
import { describeEachEngine } from '../support/db.js'
import { ownedSession } from '../support/queue-fixtures.js'
import { dashboardApp, signIn, textOf, type Browserish } from './support.js'

const member = { phone: '96171000001', lid: null, admin: false }
const group = (id: string, subject: string, canSend = true): GroupInfo => ({
  id: `${id}@g.us`, subject, announce: !canSend, isAdmin: false, canSend, createdAt: null, participants: [member, member, member],
})

/** `db`, counting the statements that read `session_groups`. */
function countingGroupReads(db: Db): { db: Db; reads: () => number } {
  let reads = 0
  const wrapped = new Proxy(db, {
    get(target, prop) {
      if (prop === 'query') {
        return (sql: string, params?: readonly unknown[]) => {
          if (/\bsession_groups\b/.test(sql)) reads++
          return target.query(sql, params)
        }
      }
      const value = Reflect.get(target, prop, target) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
  return { db: wrapped, reads: () => reads }
}

describeEachEngine('dashboard: groups', (ctx) => {
  let b: Browserish
  let session: string
  let other: string
  const crew = group('120363401111111111', 'Crew 🚚')
  const board = group('120363402222222222', 'لوحة الإعلانات', false)
  const elsewhere = group('120363403333333333', 'Elsewhere')

  beforeAll(async () => {
    b = await signIn(dashboardApp(ctx.db))
    const f = await ownedSession(ctx.db, 'runner-g')
    const g = await ownedSession(ctx.db, 'runner-g')
    session = f.name
    other = g.name
    await replaceGroups(ctx.db, f, [crew, board])
    await replaceGroups(ctx.db, g, [elsewhere])
  })

  const lastId = async () => (await listMessages(ctx.db, { limit: 1 }))[0]?.id

  it('Send lists the groups each session may send to (not a read-only one), under its session', async () => {
    const html = await (await b.get(`/dashboard/send?session=${session}`)).text()
    const select = /<select id="group" name="group"[\s\S]*?<\/select>/.exec(html)![0]
    expect(select).toContain(`<optgroup label="Session ${session}"><option value="${crew.id}">Crew 🚚 (3 members)</option></optgroup>`)
    expect(select).toContain(`<optgroup label="Session ${other}"><option value="${elsewhere.id}">Elsewhere (3 members)</option></optgroup>`)
    expect(select).not.toContain(board.id)
    expect(html).toMatch(/<input id="group_id" name="group_id"/)
  })

  it('sends a text, and a location, to a picked or typed group: stored with the group JID', async () => {
    let res = await b.post('/dashboard/send', { kind: 'text', group: crew.id, phone: '', session, message: 'Shift at 6 ✅' })
    expect(res.status).toBe(303)
    let id = Number(/sent=(\d+)/.exec(res.headers.get('location')!)![1])
    expect(await getMessage(ctx.db, id)).toMatchObject({ phone: crew.id, session, type: 'text', body: 'Shift at 6 ✅', status: 'pending' })
    res = await b.post('/dashboard/send', { kind: 'location', group_id: '120363401111111111', session, latitude: '33.9', longitude: '35.5' })
    expect(res.status).toBe(303)
    id = Number(/sent=(\d+)/.exec(res.headers.get('location')!)![1])
    expect(await getMessage(ctx.db, id)).toMatchObject({ phone: crew.id, type: 'location' })
  })

  it('shows the API’s group refusals beside the group field and queues nothing', async () => {
    const before = await lastId()
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ group: elsewhere.id }, new RegExp(`Session “${session}” is not in group ${elsewhere.id}`)],
      [{ group_id: '120363409999999999' }, /is not in group 120363409999999999@g\.us/],
      [{ group_id: board.id }, /Only admins may send to group .* and session “.*” is none/],
      [{ group: crew.id, phone: '96170000001' }, /Give phone or group, not both/],
      [{ group: crew.id, group_id: elsewhere.id }, /Pick a group or type its id, not both/],
      [{ group_id: 'abc' }, /a group JID \(120363…@g\.us\) or its numeric part/],
      [{ group_id: "1' OR '1'='1" }, /a group JID/],
      [{ group_id: '96171000001@s.whatsapp.net' }, /a group JID/],
      [{}, /Is required/],
    ]
    for (const [fields, error] of cases) {
      const res = await b.post('/dashboard/send', { kind: 'text', session, message: 'x', ...fields })
      expect(res.status, JSON.stringify(fields)).toBe(422)
      const html = await res.text()
      const at = fields.group || fields.group_id ? 'group' : 'phone'
      const beside = new RegExp(`id="${at}-error"[^>]*>([^<]*)<`).exec(html)
      expect(beside?.[1], JSON.stringify(fields)).toMatch(error)
      if (fields.group_id) expect(html).toContain(`value="${fields.group_id.replace(/'/g, '&#39;')}"`)
    }
    expect(await lastId()).toBe(before)
  })

  it('Messages names a group message by its subject, with one query for the page, and filters by group', async () => {
    const app = countingGroupReads(ctx.db)
    const c = await signIn(dashboardApp(app.db))
    const ids: number[] = []
    for (const message of ['first', 'second']) {
      const res = await c.post('/dashboard/send', { kind: 'text', group: crew.id, session, message })
      ids.push(Number(/sent=(\d+)/.exec(res.headers.get('location')!)![1]))
    }
    // Queued before the group turned read-only: a second group on the page, still one query.
    const early = (await enqueueMessage(ctx.db, { session, phone: board.id, type: 'text', body: 'early' })).id
    const phone = await c.post('/dashboard/send', { kind: 'text', phone: '96170000077', session, message: 'to a phone' })
    expect(phone.status).toBe(303)
    const before = app.reads()
    const html = await (await c.get(`/dashboard/messages?session=${session}`)).text()
    expect(app.reads() - before).toBe(1)
    for (const id of ids) {
      const row = new RegExp(`data-message-id="${id}"[\\s\\S]*?</tr>`).exec(html)![0]
      expect(textOf(row)).toContain('Group “Crew 🚚”')
      expect(row).toContain(`href="/dashboard/messages?group=${encodeURIComponent(crew.id)}"`)
    }
    expect(textOf(new RegExp(`data-message-id="${early}"[\\s\\S]*?</tr>`).exec(html)![0])).toContain('Group “لوحة الإعلانات”')
    expect(html).toContain('href="/dashboard/messages?phone=96170000077"')

    for (const q of [`group=${encodeURIComponent(crew.id)}`, 'group=120363401111111111']) {
      const page = await (await c.get(`/dashboard/messages?${q}`)).text()
      const shown = [...page.matchAll(/data-message-id="(\d+)"/g)].map((m) => Number(m[1]))
      expect(shown, q).toEqual(expect.arrayContaining(ids))
      for (const id of shown) expect((await getMessage(ctx.db, id))!.phone).toBe(crew.id)
    }
    const detail = await (await c.get(`/dashboard/messages/${ids[0]}`)).text()
    expect(textOf(detail)).toMatch(/Text to\s+Group “Crew 🚚”\s+from session/)

    const both = await c.get('/dashboard/messages?group=120363401111111111&phone=96170000077')
    expect(both.status).toBe(422)
    expect(textOf(await both.text())).toContain('Filter by a phone or a group, not both')
    for (const bad of ['abc', '96171000001@s.whatsapp.net', '1'.repeat(40)]) {
      const res = await c.get(`/dashboard/messages?group=${encodeURIComponent(bad)}`)
      expect(res.status, bad).toBe(422)
      expect(await res.text()).toMatch(/id="f-group-error"[^>]*>[^<]*group JID/)
    }
  })

  it('a group the session has left shows its JID', async () => {
    const f = await ownedSession(ctx.db, 'runner-h')
    await replaceGroups(ctx.db, f, [crew])
    const res = await b.post('/dashboard/send', { kind: 'text', group: crew.id, session: f.name, message: 'bye' })
    const id = Number(/sent=(\d+)/.exec(res.headers.get('location')!)![1])
    await replaceGroups(ctx.db, f, [])
    const html = await (await b.get(`/dashboard/messages?session=${f.name}`)).text()
    const row = new RegExp(`data-message-id="${id}"[\\s\\S]*?</tr>`).exec(html)![0]
    expect(textOf(row)).toContain(`Group ${crew.id}`)
  })
})
