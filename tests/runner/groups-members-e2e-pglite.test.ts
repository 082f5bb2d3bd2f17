import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getGroup } from '../../db/queries/groups.js'
import type { Runner } from '../../runner/runner.js'
import type { WhatsAppClientFactory } from '../../runner/whatsapp/client.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { loopbackFactory, newKey, pairSession, startLoopbackServer, startRunner, testConfig, waitFor } from './helpers.js'

/**
 * A send right after a membership change (runner/README.md, Groups), with real Baileys against the loopback server.
 * The runner refetches a changed group after its notification; here that refetch is held open (the production client,
 * its `fetchGroup` made to wait), so a message is sent while the runner still holds the members before the change.
 * The loopback relays the group message to the members now in the group, and one decrypts it only if the sender
 * handed it the sender key, i.e. only if Baileys encrypted for the current members: a stale `cachedGroupMetadata`
 * leaves an added member out.
 */

const ME = '96170124500'
const CONTACTS = ['96170124501', '96170124502', '96170124503']
const ADDED = '96170124504'

describe('a group send right after a membership change, on PGlite with real Baileys against the loopback server', () => {
  let t: TestDatabase
  let server: LoopbackServer
  let runner: Runner
  let api: TestApp
  let crew: string
  /** Group ids the runner asked `fetchGroup` for (a change notification handled), in order. */
  const refetched: string[] = []
  /** While set, every `fetchGroup` waits for it (the refetch after a notification has not answered yet). */
  let hold: Promise<void> | null = null
  let release = () => {}

  /** The production factory; its clients' `fetchGroup` waits while `hold` is set. */
  async function heldRefetchFactory(): Promise<WhatsAppClientFactory> {
    const inner = await loopbackFactory(t.db, server, newKey())
    return {
      async create(session, log, fence) {
        const client = await inner.create(session, log, fence)
        const fetchGroup = client.fetchGroup!.bind(client)
        client.fetchGroup = async (id) => {
          refetched.push(id)
          if (hold) await hold
          return fetchGroup(id)
        }
        return client
      },
    }
  }

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    server = await startLoopbackServer()
    api = createTestApp(t.db)
    crew = (await server.createGroup({ subject: 'Crew', participants: [ME, ...CONTACTS], admins: [ME] })).id
    runner = await startRunner(t.db, await heldRefetchFactory(), testConfig())
    await pairSession(t.db, server, 'default', ME)
    await waitFor(async () => (await getGroup(t.db, 'default', crew))?.participantCount === 4, 20_000, 'the group listed')
  }, 90_000)
  afterAll(async () => {
    release()
    await runner?.stop()
    await server?.stop()
    await t?.drop()
  })

  /** Queues a text to the group, waits until it is sent, and answers who decrypted it once `count` members did. */
  async function sendAndCount(text: string, count: number): Promise<string[]> {
    const res = await api.post('/api/send', { group: crew, message: text })
    expect(res.status).toBe(200)
    const { message_id: id } = (await res.json()) as { message_id: number }
    const sent = await waitFor(async () => {
      const m = (await (await api.get(`/api/messages/${id}`)).json()) as { status: string; error: string | null; wa_message_id: string }
      if (m.status === 'failed') throw new Error(`failed: ${m.error}`)
      return m.status === 'sent' ? m : null
    }, 30_000, `"${text}" sent`)
    const records = await waitFor(() => {
      const r = server.messages({ group: crew }).filter((m) => m.id === sent.wa_message_id)
      return r.length >= count ? r : null
    }, 15_000, `${count} members decrypting "${text}"`)
    return records.map((r) => r.to).sort()
  }

  /** Holds the refetch, changes the members, and waits until the runner has handled the notification (asked to refetch). */
  async function changeWhileRefetchHeld(change: { add?: string[]; remove?: string[] }): Promise<void> {
    hold = new Promise((r) => (release = () => ((hold = null), r())))
    const before = refetched.length
    await server.updateGroup(crew, change)
    await waitFor(() => refetched.slice(before).includes(crew), 15_000, 'the change notification handled')
  }

  it('a member added just before a send gets it, though the refetch has not answered; the stored list follows', async () => {
    expect(await sendAndCount('before the change', 3)).toEqual([...CONTACTS].sort())
    await changeWhileRefetchHeld({ add: [ADDED] })
    // Still the old list: the runner's refetch is held.
    expect((await getGroup(t.db, 'default', crew))?.participantCount).toBe(4)
    expect(await sendAndCount('welcome', 4)).toEqual([...CONTACTS, ADDED].sort())
    release()
    await waitFor(async () => (await getGroup(t.db, 'default', crew))?.participantCount === 5, 15_000, 'the stored list with the new member')
    const stored = await getGroup(t.db, 'default', crew)
    expect(stored?.participants?.map((p) => p.phone)).toContain(ADDED)
  })

  it('a member removed just before a send is not among its recipients; the stored list drops it', async () => {
    const removed = CONTACTS[0]!
    await changeWhileRefetchHeld({ remove: [removed] })
    const to = await sendAndCount('after the removal', 3)
    expect(to).toEqual([...CONTACTS.slice(1), ADDED].sort())
    release()
    await waitFor(async () => (await getGroup(t.db, 'default', crew))?.participantCount === 4, 15_000, 'the stored list without the member')
    expect((await getGroup(t.db, 'default', crew))?.participants?.map((p) => p.phone)).not.toContain(removed)
  })
})
