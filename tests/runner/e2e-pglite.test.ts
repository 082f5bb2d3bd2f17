import sharp from 'sharp'
import { DatabaseUnavailableError, type Db } from '../../db/driver.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getContact } from '../../db/queries/contacts.js'
import { insertMedia } from '../../db/queries/media.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getMessage } from '../../db/queries/messages.js'
import { getSession } from '../../db/queries/sessions.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import type { Runner } from '../../runner/runner.js'
import { loopbackFactory, newKey, pairSession, startLoopbackServer, startRunner, testConfig, waitFor } from './helpers.js'

describe('runner end to end on PGlite with real Baileys against the loopback server', () => {
  let t: TestDatabase
  let server: LoopbackServer
  let runner: Runner
  const key = newKey()
  let phone: string

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    server = await startLoopbackServer()
    runner = await startRunner(t.db, await loopbackFactory(t.db, server, key))
  })
  afterAll(async () => {
    await runner?.stop()
    await server?.stop()
    await t?.drop()
  })

  it('pairs default by QR: the session shows a PNG QR, then goes online with its phone and no QR', async () => {
    const qrRow = await waitFor(async () => {
      const s = await getSession(t.db, 'default')
      return s?.qrCode ? s : null
    })
    expect(qrRow.qrCode).toMatch(/^data:image\/png;base64,/)
    expect(qrRow.status).toBe('connecting')
    phone = await pairSession(t.db, server, 'default')
    const s = (await getSession(t.db, 'default'))!
    expect(s.status).toBe('online')
    expect(s.phone).toBe(phone)
    expect(s.qrCode).toBeNull()
    expect(s.lastSeen).not.toBeNull()
  })

  it('delivers a text with Arabic and emoji byte-exact, and records ack, delivery and read', async () => {
    const body = 'مرحبا بك 👋🏽 — café ✅ 𝒳 "quotes" \\ end'
    const r = await enqueueMessage(t.db, { session: 'default', phone: '96170000001', type: 'text', body })
    const got = await waitFor(() => server.messages('96170000001').find((m) => m.text === body), 20_000, 'the text at the contact')
    expect(Buffer.from(got.text!, 'utf8').equals(Buffer.from(body, 'utf8'))).toBe(true)
    const row = await waitFor(async () => {
      const m = await getMessage(t.db, r.id)
      return m?.status === 'sent' && m.readAt ? m : null
    }, 20_000, 'sent with read receipt')
    expect(got.id).toBe(row.waMessageId)
    expect(row.deliveredAt).not.toBeNull()
    const [acked] = await t.db.query<{ acked_at: Date | null }>('SELECT acked_at FROM messages WHERE id = $1', [r.id])
    expect(acked?.acked_at).toBeInstanceOf(Date)
  })

  it('compresses an image to a JPEG no larger than 1280 px and sends it with its caption', async () => {
    const png = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#3366aa' } }).png().toBuffer()
    const mediaId = await insertMedia(t.db, { bytes: png, mime: 'image/png', width: 3000, height: 2000, sha256: 'x'.repeat(64) })
    await enqueueMessage(t.db, { session: 'default', phone: '96170000002', type: 'image', body: 'صورة 📷', mediaId })
    const got = await waitFor(() => server.messages('96170000002').find((m) => m.type === 'image'), 30_000, 'the image')
    expect(got.mimetype).toBe('image/jpeg')
    expect(got.caption).toBe('صورة 📷')
    expect(Math.max(got.width ?? 0, got.height ?? 0)).toBeLessThanOrEqual(1280)
    expect(got.width).toBe(1280)
  })

  it('keeps start-to-start gaps of one session within [min, max]', async () => {
    const cfg = testConfig()
    const to = '96170000003'
    const ids: number[] = []
    for (let i = 0; i < 6; i++) ids.push((await enqueueMessage(t.db, { session: 'default', phone: to, type: 'text', body: `gap ${i}` })).id)
    await waitFor(() => server.messages(to).length >= 6, 30_000, 'six messages')
    // Start of each send = its claim, stamped by the database clock (db/README.md, Tables).
    const rows = await Promise.all(ids.map((id) => getMessage(t.db, id)))
    const starts = rows.map((m) => m!.claimedAt!.getTime()).sort((a, b) => a - b)
    for (let i = 1; i < starts.length; i++) {
      const gap = starts[i]! - starts[i - 1]!
      expect(gap).toBeGreaterThanOrEqual(cfg.throttleMinMs)
      // The drawn gap is at most max; the loop wakes a few ms after the slot opens (more on a loaded machine).
      expect(gap).toBeLessThanOrEqual(cfg.throttleMaxMs + 500)
    }
    // The contact received them in order, one per claim, under the stored ids.
    expect(server.messages(to).map((m) => m.id)).toEqual(rows.map((m) => m!.waMessageId))
  })

  it('STOP opts the contact out with a confirmation; YES opts in again and a resend succeeds', async () => {
    const to = '96170000004'
    await server.inbound({ from: to, to: phone, text: ' Stop! ' })
    await waitFor(async () => (await getContact(t.db, to))?.optIn === 'no', 20_000, 'opt_in=no')
    await waitFor(() => server.messages(to).some((m) => /unsubscribed/i.test(m.text ?? '')), 20_000, 'stop confirmation')
    const r = await enqueueMessage(t.db, { session: 'default', phone: to, type: 'text', body: 'not for you' })
    const opted = await waitFor(async () => {
      const m = await getMessage(t.db, r.id)
      return m?.status === 'opted_out' ? m : null
    }, 20_000, 'opted_out')
    expect(opted.sentAt).toBeNull()
    await server.inbound({ from: to, to: phone, text: 'نعم' })
    await waitFor(async () => (await getContact(t.db, to))?.optIn === 'yes', 20_000, 'opt_in=yes')
    const { resendMessage } = await import('../../db/lifecycle/resend.js')
    expect(await resendMessage(t.db, r.id)).toBe('ok')
    await waitFor(() => server.messages(to).some((m) => m.text === 'not for you'), 20_000, 'resend delivered')
    expect(server.messages(to).some((m) => /subscribed/i.test(m.text ?? ''))).toBe(true)
  })

  it('processes an inbound message delivered from the offline backlog once, after a restart without a QR', async () => {
    const from = '96170000005'
    await runner.stop()
    await server.inbound({ from, to: phone, text: 'STOP' })
    runner = await startRunner(t.db, await loopbackFactory(t.db, server, key))
    await waitFor(async () => (await getContact(t.db, from))?.optIn === 'no', 60_000, 'offline STOP applied')
    await waitFor(() => server.messages(from).some((m) => /unsubscribed/i.test(m.text ?? '')), 45_000, 'confirmation')
    const rows = await t.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM inbound_messages WHERE phone = $1', [from])
    expect(rows[0]!.n).toBe(1)
    expect((await getSession(t.db, 'default'))!.qrCode).toBeNull()
  })

  it('a failed auth-state write closes the socket and reconnects from the stored state, then delivers', async () => {
    await runner.stop()
    let failing = false
    const flaky: Db = {
      ...t.db,
      query: t.db.query.bind(t.db),
      execute: t.db.execute.bind(t.db),
      close: t.db.close.bind(t.db),
      transaction: (fn, o) => (failing ? Promise.reject(new DatabaseUnavailableError('injected outage')) : t.db.transaction(fn, o)),
    }
    runner = await startRunner(t.db, await loopbackFactory(flaky, server, key))
    await waitFor(async () => (await getSession(t.db, 'default'))?.status === 'online', 20_000, 'online')
    failing = true
    const r = await enqueueMessage(t.db, { session: 'default', phone: '96170000077', type: 'text', body: 'after a storage error' })
    await waitFor(async () => /storage_error/.test((await getSession(t.db, 'default'))?.detail ?? ''), 20_000, 'storage_error reported')
    failing = false
    await waitFor(async () => (await getSession(t.db, 'default'))?.status === 'online', 20_000, 'online again')
    await t.db.execute("UPDATE messages SET available_at = now() WHERE id = $1 AND status = 'pending'", [r.id])
    await waitFor(async () => (await getMessage(t.db, r.id))?.status === 'sent', 20_000, 'delivered after the reconnect')
    await waitFor(() => server.messages('96170000077').some((m) => m.text === 'after a storage error'), 10_000, 'decrypted by the contact')
  })
})
