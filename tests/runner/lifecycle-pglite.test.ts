import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countAuthKeys } from '../../db/queries/auth-state.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getMessage } from '../../db/queries/messages.js'
import { createSession, getSession, requestReconnect, requestSessionDelete } from '../../db/queries/sessions.js'
import type { Runner } from '../../runner/runner.js'
import type { WhatsAppClientFactory } from '../../runner/whatsapp/client.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { recordCloses } from '../support/runner-hooks.js'
import { loopbackFactory, newKey, pairSession, startLoopbackServer, startRunner, testConfig, waitFor } from './helpers.js'

describe('session lifecycle and faults (PGlite, real Baileys, loopback server)', () => {
  let t: TestDatabase
  let server: LoopbackServer
  let factory: WhatsAppClientFactory
  /** Each session's connection closes, as its clients reported them. */
  let closes: ReturnType<typeof recordCloses>
  let runner: Runner
  const key = newKey()
  const phones: Record<string, string> = {}
  const cfg = testConfig()

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    server = await startLoopbackServer()
    closes = recordCloses(await loopbackFactory(t.db, server, key))
    factory = closes.factory
    runner = await startRunner(t.db, factory, cfg)
  })
  afterAll(async () => {
    await runner?.stop()
    await server?.stop()
    await t?.drop()
  })

  const session = async (name: string) => (await getSession(t.db, name))!
  /** Sends the runner's loop for `name` has started (its stats). */
  const sendsOf = (name: string) => runner.stats().sessions.find((s) => s.name === name)!.sends

  it('default exists from the first start; a new session shows a QR within 2 s of its creation', async () => {
    expect(await session('default')).toBeTruthy()
    phones.default = await pairSession(t.db, server, 'default')
    const created = Date.now()
    expect(await createSession(t.db, 'sales')).toBe('created')
    await waitFor(async () => (await session('sales')).qrCode, 5_000, 'QR of sales')
    expect(Date.now() - created).toBeLessThan(2_000)
    phones.sales = await pairSession(t.db, server, 'sales')
    expect(phones.sales).not.toBe(phones.default)
  })

  it('a restart logs in again from the database without a QR', async () => {
    await runner.stop()
    expect((await session('default')).status).toBe('offline')
    expect((await countAuthKeys(t.db, 'default')).keys).toBeGreaterThan(800) // creds + 812 pre-keys + sessions…
    // The stored values are ciphertext: no creds JSON in the table.
    const [row] = await t.db.query<{ value: Uint8Array }>("SELECT value FROM auth_keys WHERE session = 'default' AND type = 'creds'")
    expect(Buffer.from(row!.value).toString('latin1')).not.toContain('noiseKey')
    runner = await startRunner(t.db, factory, cfg)
    await waitFor(async () => {
      const [d, s] = [await session('default'), await session('sales')]
      expect(d.qrCode).toBeNull()
      expect(s.qrCode).toBeNull()
      return d.status === 'online' && s.status === 'online'
    }, 20_000, 'both online again without a QR')
    expect((await session('default')).phone).toBe(phones.default)
  })

  it('error ack 463 fails the message, pauses the session with a detail, and retries nothing', async () => {
    const recipient = '96171000463'
    await server.fault({ phone: recipient, kind: 'nack463' })
    const r = await enqueueMessage(t.db, { session: 'sales', phone: recipient, type: 'text', body: 'first contact' })
    const failed = await waitFor(async () => {
      const m = await getMessage(t.db, r.id)
      return m?.status === 'failed' ? m : null
    }, 20_000, 'failed by 463')
    expect(failed.error).toMatch(/463/)
    const s = await session('sales')
    expect(s.pausedUntil!.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000)
    expect(s.detail).toMatch(/restricted/)
    const sendsAfterNack = sendsOf('sales')
    const next = await enqueueMessage(t.db, { session: 'sales', phone: '96171000464', type: 'text', body: 'must wait' })
    // Several throttle windows pass: the paused session sends nothing, and the restricted message is not retried.
    await new Promise((r) => setTimeout(r, cfg.throttleMaxMs * 3))
    expect((await getMessage(t.db, next.id))!.status).toBe('pending')
    expect(sendsOf('sales')).toBe(sendsAfterNack)
    expect((await getMessage(t.db, r.id))!.attempts).toBe(1)
    // A reconnect while paused keeps the reason visible.
    const closesBefore = closes.of('sales').length
    await server.fault({ phone: phones.sales!, kind: 'close' })
    await waitFor(() => closes.of('sales').length > closesBefore, 10_000, 'sales closed')
    await waitFor(async () => {
      const s = await session('sales')
      return s.status === 'online' && /restricted/.test(s.detail ?? '') && s.lastSeen
    }, 20_000, 'sales back online with the pause reason still shown')
    // Other sessions keep sending.
    const other = await enqueueMessage(t.db, { session: 'default', phone: '96171000465', type: 'text', body: 'default unaffected' })
    await waitFor(async () => (await getMessage(t.db, other.id))?.status === 'sent', 20_000, 'default still sends')
  })

  it('440 connection replaced: offline with a conflict detail and no reconnect loop', async () => {
    const closesBefore = closes.of('default').length
    await server.fault({ phone: phones.default!, kind: 'conflict' })
    await waitFor(async () => /conflict/.test((await session('default')).detail ?? ''), 10_000, 'conflict detail')
    expect((await session('default')).status).toBe('offline')
    // Longer than the largest reconnect backoff (1 s here): a loop would have reconnected by now.
    await new Promise((r) => setTimeout(r, cfg.reconnectMaxMs * 2.5))
    expect(closes.of('default').slice(closesBefore)).toEqual(['replaced'])
    expect(server.devices().filter((d) => d.phone === phones.default && d.connected)).toHaveLength(0)
  })

  it('regenerate-qr after a conflict wipes the auth state and shows a new QR that pairs again', async () => {
    expect(await requestReconnect(t.db, 'default')).toBe('ok')
    const fresh = await waitFor(async () => {
      const s = await session('default')
      return s.qrCode && s.reconnectRequestedAt === null ? s : null
    }, 10_000, 'new QR')
    expect(fresh.status).toBe('connecting')
    phones.default = await pairSession(t.db, server, 'default')
  })

  it('401 logged out: offline with a detail, auth state wiped, no QR until regenerate-qr asks for one', async () => {
    await server.fault({ phone: phones.sales!, kind: 'logout' })
    await waitFor(async () => /logged_out/.test((await session('sales')).detail ?? ''), 10_000, 'logged_out detail')
    const s = await session('sales')
    expect(s.status).toBe('offline')
    expect(s.qrCode).toBeNull()
    expect((await countAuthKeys(t.db, 'sales')).keys).toBe(0)
    expect(await requestReconnect(t.db, 'sales')).toBe('ok')
    await waitFor(async () => (await session('sales')).qrCode, 10_000, 'new QR for sales')
  })

  it('delete logs the number out, wipes its auth state and removes the session', async () => {
    phones.sales = await pairSession(t.db, server, 'sales')
    expect((await countAuthKeys(t.db, 'sales')).keys).toBeGreaterThan(0)
    expect(await requestSessionDelete(t.db, 'sales')).toBe('ok')
    await waitFor(async () => (await getSession(t.db, 'sales')) === null, 10_000, 'sales removed')
    expect((await countAuthKeys(t.db, 'sales')).keys).toBe(0)
    expect(runner.owned()).not.toContain('sales')
    expect(server.devices().filter((d) => d.phone === phones.sales)).toHaveLength(0)
    expect(await requestSessionDelete(t.db, 'default')).not.toBe('ok')
  })
})
