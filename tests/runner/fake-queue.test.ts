import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initAuthCreds } from '@whiskeysockets/baileys'
import { getContact } from '../../db/queries/contacts.js'
import { insertMedia } from '../../db/queries/media.js'
import { enqueueMessage, getMessage } from '../../db/queries/messages.js'
import { createSession } from '../../db/queries/sessions.js'
import { countAuthKeys, getAuthValue } from '../../db/queries/auth-state.js'
import { createRunner, type Runner } from '../../runner/runner.js'
import { createAuthCipher, createKeyCache, loadAuthState } from '../../runner/whatsapp/auth-state.js'
import { createTestDatabase, describeEachEngine, type TestDatabase } from '../support/db.js'
import { FakeWhatsApp } from '../support/fake-whatsapp.js'
import { testConfig, testLog, waitFor } from './helpers.js'

describe('send loop with a fake WhatsApp (PGlite)', () => {
  let t: TestDatabase
  let fake: FakeWhatsApp
  let runner: Runner
  const claimSeconds: number[] = []
  const status = async (id: number) => (await getMessage(t.db, id))!

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    await createSession(t.db, 'other')
    fake = new FakeWhatsApp()
    runner = createRunner({
      db: t.db, config: testConfig({ maxAttempts: 2 }), log: testLog, whatsapp: fake, onClaim: (s) => claimSeconds.push(s),
    })
    await runner.start()
    await waitFor(() => runner.owned().length === 2, 10_000, 'both sessions owned')
  })

  it('reports how long each claim transaction took (the claim-latency metric)', async () => {
    const before = claimSeconds.length
    const r = await enqueueMessage(t.db, { session: 'default', phone: '96175000009', type: 'text', body: 'timed' })
    await waitFor(async () => ((await status(r.id)).status === 'sent' ? true : null))
    const timed = claimSeconds.slice(before)
    expect(timed.length).toBeGreaterThan(0)
    for (const s of timed) expect(s).toBeGreaterThan(0)
    expect(Math.max(...timed)).toBeLessThan(10)
  })
  afterAll(async () => {
    await runner?.stop()
    await t?.drop()
  })

  it('fails a number that is not on WhatsApp at once, without sending', async () => {
    fake.unregistered.add('96175000001')
    const r = await enqueueMessage(t.db, { session: 'default', phone: '96175000001', type: 'text', body: 'hi' })
    const m = await waitFor(async () => ((await status(r.id)).status === 'failed' ? status(r.id) : null))
    expect(m.error).toBe('phone number is not on WhatsApp')
    expect(m.attempts).toBe(1)
    expect(fake.sends.some((s) => s.to === '96175000001')).toBe(false)
  })

  it('requeues a transient error with backoff under the same id, then fails after MAX_ATTEMPTS with the last error', async () => {
    fake.failNext.push(new Error('Media upload failed on all hosts'))
    const r = await enqueueMessage(t.db, { session: 'default', phone: '96175000002', type: 'text', body: 'x' })
    const m = await waitFor(async () => {
      const row = await status(r.id)
      return row.status === 'pending' && row.attempts === 1 ? row : null
    })
    expect(m.error).toMatch(/Media upload failed/)
    expect(m.availableAt.getTime() - Date.now()).toBeGreaterThan(20_000) // 30 s ± 20 %
    // Make it due now and fail it again: attempts = MAX_ATTEMPTS (2 here) → failed with the last error.
    await t.db.execute("UPDATE messages SET available_at = now() WHERE id = $1", [r.id])
    fake.failNext.push(new Error('timed out'))
    const failed = await waitFor(async () => ((await status(r.id)).status === 'failed' ? status(r.id) : null))
    expect(failed.error).toMatch(/timed out.*2 attempts/)
    expect(failed.waMessageId).toBe(m.waMessageId)
  })

  it('an image that cannot be decoded fails at once with a clear error', async () => {
    const mediaId = await insertMedia(t.db, { bytes: Buffer.from('GIF89a but not really'), mime: 'image/gif', width: 1, height: 1, sha256: 'c'.repeat(64) })
    const r = await enqueueMessage(t.db, { session: 'default', phone: '96175000009', type: 'image', body: 'cap', mediaId })
    const m = await waitFor(async () => ((await status(r.id)).status === 'failed' ? status(r.id) : null))
    expect(m.error).toMatch(/image cannot be decoded/)
    expect(m.attempts).toBe(1)
  })

  it('a negative ack other than 463 fails the message without pausing the session', async () => {
    fake.nack.set('96175000003', '479')
    const r = await enqueueMessage(t.db, { session: 'other', phone: '96175000003', type: 'text', body: 'x' })
    const m = await waitFor(async () => ((await status(r.id)).status === 'failed' ? status(r.id) : null))
    expect(m.error).toMatch(/479/)
    const [s] = await t.db.query<{ paused_until: Date | null }>("SELECT paused_until FROM sessions WHERE name = 'other'")
    expect(s?.paused_until).toBeNull()
  })

  it('sessions never wait on each other: a slow send on one does not delay the other', async () => {
    const slow = fake.clients.get('default')!
    const original = slow.send.bind(slow)
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    slow.send = async (...args) => {
      await gate
      return original(...args)
    }
    try {
      const a = await enqueueMessage(t.db, { session: 'default', phone: '96175000004', type: 'text', body: 'slow' })
      await waitFor(async () => (await status(a.id)).status === 'sending', 10_000, 'the slow send started')
      const b = await enqueueMessage(t.db, { session: 'other', phone: '96175000005', type: 'text', body: 'fast' })
      await waitFor(async () => (await status(b.id)).status === 'sent', 10_000, 'other session sent')
      expect((await status(a.id)).status).toBe('sending')
      release()
      await waitFor(async () => (await status(a.id)).status === 'sent', 10_000, 'slow one sent')
    } finally {
      release()
      slow.send = original
    }
  })

  it('an inbound message from a pending contact opts it in; STOP opts out and confirms; receipts are recorded', async () => {
    await fake.inbound('default', { phone: '96175000006', text: 'hello there' })
    expect((await getContact(t.db, '96175000006'))?.optIn).toBe('yes')
    await fake.inbound('default', { phone: '96175000006', text: 'STOP', id: 'DUP1' })
    await fake.inbound('default', { phone: '96175000006', text: 'STOP', id: 'DUP1' }) // offline redelivery: once
    const c = (await getContact(t.db, '96175000006'))!
    expect(c.optIn).toBe('no')
    const [{ n }] = (await t.db.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM inbound_messages WHERE phone = '96175000006'")) as [{ n: number }]
    expect(n).toBe(2)
    await waitFor(() => fake.sends.filter((s) => s.to === '96175000006').length === 1, 10_000, 'one confirmation')
  })
})

describe('OPT_IN_MODE=confirm (PGlite, fake WhatsApp)', () => {
  it('sends the consent request first, holds the rest until YES, then delivers them', async () => {
    const t = await createTestDatabase('pglite')
    const fake = new FakeWhatsApp()
    const runner = createRunner({ db: t.db, config: testConfig({ optInMode: 'confirm', consentRequest: 'May we? Reply YES' }), log: testLog, whatsapp: fake })
    try {
      await runner.start()
      const ids = [
        (await enqueueMessage(t.db, { session: 'default', phone: '96176000001', type: 'text', body: 'one' })).id,
        (await enqueueMessage(t.db, { session: 'default', phone: '96176000001', type: 'text', body: 'two' })).id,
      ]
      await waitFor(() => fake.sends.some((s) => s.content.kind === 'text' && s.content.text === 'May we? Reply YES'), 10_000, 'consent request')
      await new Promise((r) => setTimeout(r, 1500))
      expect(fake.sends.filter((s) => s.to === '96176000001')).toHaveLength(1)
      for (const id of ids) expect((await getMessage(t.db, id))!.status).toBe('pending')
      await fake.inbound('default', { phone: '96176000001', text: 'yes' })
      await waitFor(async () => (await Promise.all(ids.map((id) => getMessage(t.db, id)))).every((m) => m?.status === 'sent'), 15_000, 'released and sent')
      const texts = fake.sends.filter((s) => s.to === '96176000001').map((s) => (s.content.kind === 'text' ? s.content.text : ''))
      expect(texts[0]).toBe('May we? Reply YES')
      expect(texts).toContain('one')
      expect(texts).toContain('two')
    } finally {
      await runner.stop()
      await t.drop()
    }
  })
})

describeEachEngine('encrypted auth state store', (ctx) => {
  const engine = ctx.engine
  it('writes several key types in one set(), reads them back decrypted, caches, and wipes', async () => {
    const db = ctx.db
    const cipher = createAuthCipher(new Uint8Array(32).fill(3))
    const cache = createKeyCache({ max: 1000 })
    const st = await loadAuthState({ db, session: `s_${engine}`, cipher, cache })
    const preKeys = Object.fromEntries(Array.from({ length: 812 }, (_, i) => [String(i + 1), { public: new Uint8Array(32).fill(i % 256), private: new Uint8Array(32) }]))
    await st.keys.set({
      'pre-key': preKeys,
      session: { '98765_1.0': new Uint8Array([1, 2, 3]) },
      'identity-key': { '98765_1.0': new Uint8Array([9]) },
      'lid-mapping': { '9611234567': '98765' },
      'app-state-sync-key': { AAAA: { keyData: new Uint8Array([5, 6]), timestamp: 1 } as never },
    })
    expect((await countAuthKeys(db, `s_${engine}`)).keys).toBe(812 + 4)
    await st.saveCreds()
    const fresh = await loadAuthState({ db, session: `s_${engine}`, cipher, cache: createKeyCache() })
    expect(fresh.creds.registrationId).toBe(st.creds.registrationId)
    const got = await fresh.keys.get('pre-key', ['1', '812', '9999'])
    expect(Object.keys(got).sort()).toEqual(['1', '812'])
    expect(Buffer.from(got['812']!.public)).toEqual(Buffer.from(new Uint8Array(32).fill(811 % 256)))
    const ask = await fresh.keys.get('app-state-sync-key', ['AAAA'])
    expect(Buffer.from(ask.AAAA!.keyData!)).toEqual(Buffer.from([5, 6]))
    expect((await fresh.keys.get('lid-mapping', ['9611234567']))['9611234567']).toBe('98765')
    await fresh.keys.set({ 'pre-key': { '1': null } })
    expect(Object.keys(await fresh.keys.get('pre-key', ['1']))).toEqual([])
    const raw = await getAuthValue(db, `s_${engine}`, 'creds', 'creds')
    expect(Buffer.from(raw!).toString('latin1')).not.toContain('registrationId')
    await expect(loadAuthState({ db, session: `s_${engine}`, cipher: createAuthCipher(new Uint8Array(32).fill(4)), cache: createKeyCache() })).rejects.toThrow(/AUTH_STATE_KEY/)
    await fresh.wipe()
    expect((await countAuthKeys(db, `s_${engine}`)).keys).toBe(0)
    expect(initAuthCreds().registrationId).toBeTypeOf('number')
  })
})
