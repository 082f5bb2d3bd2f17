import { createHash } from 'node:crypto'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getContact } from '../../db/queries/contacts.js'
import { listInboundForPhone } from '../../db/queries/inbound.js'
import type { Runner } from '../../runner/runner.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { loopbackFactory, newKey, pairSession, startLoopbackServer, startRunner, testConfig, waitFor } from './helpers.js'

/**
 * A text to a group (db/README.md, Groups) through the API and a real runner against the loopback server: every
 * other member decrypts it (the sender key), the first receipts are kept, consent (here: confirm mode) does not
 * hold it, an announce-only group is refused at the API, and a member writing STOP in the group changes nothing.
 */

const ME = '96170123500'
const CONTACTS = ['96170123501', '96170123502', '96170123503', '96170123504']

describe('sending to a group, on PGlite with real Baileys against the loopback server', () => {
  let t: TestDatabase
  let server: LoopbackServer
  let runner: Runner
  let api: TestApp
  let depot: string
  let news: string

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    server = await startLoopbackServer()
    api = createTestApp(t.db)
    depot = (await server.createGroup({ subject: 'Depot 7', participants: [ME, ...CONTACTS], admins: [CONTACTS[0]!] })).id
    news = (await server.createGroup({ subject: 'News', participants: [CONTACTS[0]!, ME], admins: [CONTACTS[0]!], announce: true })).id
    // Confirm mode: a 1:1 message to someone who never said YES would wait for consent; a group message does not.
    runner = await startRunner(t.db, await loopbackFactory(t.db, server, newKey()), testConfig({ optInMode: 'confirm' }))
    await pairSession(t.db, server, 'default', ME)
    await waitFor(async () => ((await (await api.get('/api/sessions/default/groups')).json()) as unknown[]).length === 2, 20_000, 'the group list')
  }, 90_000)
  afterAll(async () => {
    await runner?.stop()
    await server?.stop()
    await t?.drop()
  })

  const messageOf = async (id: number) => (await (await api.get(`/api/messages/${id}`)).json()) as Record<string, unknown>

  /** Waits until message `id` (a `type` to the depot group) is sent and each of the 4 other members decrypted it. */
  async function sentToMembers(id: number, type: string) {
    const sent = await waitFor(async () => {
      const m = await messageOf(id)
      if (m.status === 'failed') throw new Error(`failed: ${String(m.error)}`)
      return m.status === 'sent' ? m : null
    }, 30_000, `the group ${type} sent`)
    expect(sent).toMatchObject({ phone: null, group: depot, type })
    const records = await waitFor(() => {
      const r = server.messages({ group: depot }).filter((m) => m.id === sent.wa_message_id)
      return r.length === 4 ? r : null
    }, 15_000, `four members decrypting the ${type}`)
    expect(records.map((r) => r.to).sort()).toEqual([...CONTACTS].sort())
    return { sent, records }
  }

  it('a text to the 5-member group reaches the 4 other members byte for byte; first delivered and read are kept', async () => {
    const text = 'Route 12 closed — use the bypass 🚧 الطريق مغلق'
    const res = await api.post('/api/send', { group: depot.split('@')[0], message: text })
    expect(res.status).toBe(200)
    const { message_id: id } = (await res.json()) as { message_id: number }
    const { sent, records } = await sentToMembers(id, 'text')
    for (const r of records) expect(r).toMatchObject({ from: ME, group: depot, type: 'text', text })
    // Every member's receipts are counted once; the message keeps the first delivery and read of any member.
    const receipted = await waitFor(async () => {
      const m = await messageOf(id)
      return m.delivered_count === 4 && m.read_count === 4 ? m : null
    }, 15_000, 'four delivery and read receipts')
    expect(receipted.delivered_at).not.toBeNull()
    expect(String(receipted.read_at) >= String(receipted.delivered_at)).toBe(true)
    // A member's delivery (addressed by phone) and read (by LID) are one row, by phone.
    const rows = await t.db.query(`SELECT participant FROM message_receipts WHERE wa_message_id = $1 ORDER BY participant`, [sent.wa_message_id])
    expect(rows.map((r) => r.participant)).toEqual([...CONTACTS].sort())
  })

  it('an image uploaded for the group is downloaded and decrypted byte for byte by the 4 other members', async () => {
    const png = await sharp({ create: { width: 48, height: 32, channels: 3, background: '#3366cc' } }).png().toBuffer()
    const form = new FormData()
    form.set('group', depot)
    form.set('caption', 'Dock 3 ✅')
    form.set('file', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'dock.png')
    const res = await api.app.request('/api/send-image', { method: 'POST', headers: api.headers(), body: form })
    expect(res.status).toBe(200)
    const { message_id: id } = (await res.json()) as { message_id: number }
    const { sent, records } = await sentToMembers(id, 'image')
    // The runner recompresses images (runner/README.md, Media): each member's bytes are the same file, the one sent.
    const digests = new Set(CONTACTS.map((to) => {
      const media = server.messageMedia(String(sent.wa_message_id), to)
      expect(media?.mimetype, to).toBe('image/jpeg')
      return createHash('sha256').update(media!.bytes).digest('hex')
    }))
    expect(digests.size).toBe(1)
    const decoded = await sharp(server.messageMedia(String(sent.wa_message_id), CONTACTS[3])!.bytes).metadata()
    expect([decoded.width, decoded.height]).toEqual([48, 32])
    for (const r of records) expect(r).toMatchObject({ type: 'image', caption: 'Dock 3 ✅' })
  })

  it('refuses an announce-only group (409), a group not in the list (404), phone with group (400)', async () => {
    let res = await api.post('/api/send', { group: news, message: 'hi' })
    expect(res.status).toBe(409)
    expect((await res.json()).code).toBe('group_read_only')
    res = await api.post('/api/send', { group: '120363000000000001', message: 'hi' })
    expect(res.status).toBe(404)
    expect((await res.json()).code).toBe('unknown_group')
    res = await api.post('/api/send', { group: depot, phone: CONTACTS[0], message: 'hi' })
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('phone_and_group')
    res = await api.post('/api/send', { group: 'not-a-group', message: 'hi' })
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_group')
    const list = (await (await api.get('/api/messages')).json()) as { messages?: unknown[] } | unknown[]
    expect((Array.isArray(list) ? list : list.messages ?? []).length).toBe(2)
  })

  it('a message to an announce-only group that slipped past the API (a stale list) fails on WhatsApp\'s 403', async () => {
    const r = await enqueueMessage(t.db, { session: 'default', phone: news, type: 'text', body: 'not an admin' })
    if (r.kind === 'conflict') throw new Error('unexpected conflict')
    const failed = await waitFor(async () => {
      const m = await messageOf(r.id)
      return m.status === 'failed' ? m : null
    }, 30_000, 'the refused group message to fail')
    expect(String(failed.error)).toMatch(/403/)
    expect(server.messages({ group: news })).toEqual([])
  })

  it('a member writing STOP in the group is stored with its group and changes nothing; STOP 1:1 opts out', async () => {
    const member = CONTACTS[1]!
    await server.inbound({ from: member, to: ME, text: 'STOP', group: depot })
    // A 1:1 message after it: once it is stored, the group message before it has been handled (same connection).
    await server.inbound({ from: member, to: ME, text: 'hello' })
    await waitFor(async () => (await listInboundForPhone(t.db, member)).some((m) => m.body === 'hello'), 15_000, 'the 1:1 message')
    // Both are stored; the group one with its group and its author, and no consent decision.
    expect((await listInboundForPhone(t.db, member)).map((m) => [m.body, m.action])).toEqual([['STOP', 'none'], ['hello', 'opt-in']])
    const inbound = (await (await api.get(`/api/inbound?phone=${member}`)).json()) as { messages: Record<string, unknown>[] }
    const inGroup = inbound.messages.find((m) => m.text === 'STOP')
    expect(inGroup).toMatchObject({ group: depot, phone: member, consent: null })
    expect(inbound.messages.find((m) => m.text === 'hello')).toMatchObject({ group: null, phone: member })
    expect((await getContact(t.db, member))?.optIn).not.toBe('no')
    // The group still gets messages.
    const res = await api.post('/api/send', { group: depot, message: 'after STOP' })
    const { message_id: id } = (await res.json()) as { message_id: number }
    await waitFor(async () => (await messageOf(id)).status === 'sent', 30_000, 'the next group message sent')
    await server.inbound({ from: member, to: ME, text: 'STOP' })
    await waitFor(async () => (await getContact(t.db, member))?.optIn === 'no', 15_000, 'the 1:1 STOP')
  })

  it('after a member is added, the next message reaches it too (the cached metadata follows the change)', async () => {
    const added = '96170123505'
    await server.updateGroup(depot, { add: [added] })
    await waitFor(async () => ((await (await api.get(`/api/sessions/default/groups/${depot}`)).json()) as { participants: number }).participants === 6, 15_000, 'the sixth member listed')
    const res = await api.post('/api/send', { group: depot, message: 'welcome aboard' })
    const { message_id: id } = (await res.json()) as { message_id: number }
    const sent = await waitFor(async () => {
      const m = await messageOf(id)
      return m.status === 'sent' ? m : null
    }, 30_000, 'the message after the change sent')
    const records = await waitFor(() => {
      const r = server.messages({ group: depot }).filter((m) => m.id === sent.wa_message_id)
      return r.length === 5 ? r : null
    }, 15_000, 'five members decrypting it')
    expect(records.map((r) => r.to).sort()).toEqual([...CONTACTS, added].sort())
  })
})
