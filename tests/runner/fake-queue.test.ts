import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initAuthCreds } from '@whiskeysockets/baileys'
import { getContact } from '../../db/queries/contacts.js'
import { insertMedia } from '../../db/queries/media.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getMessage } from '../../db/queries/messages.js'
import { createSession } from '../../db/queries/sessions.js'
import type { Db } from '../../db/driver.js'
import { countAuthKeys, getAuthValue, type AuthFence } from '../../db/queries/auth-state.js'
import { LeaseLostError } from '../../db/queries/leases.js'
import { getSession } from '../../db/queries/sessions.js'
import { createRunner, type Runner } from '../../runner/runner.js'
import { createAuthCipher, createKeyCache, loadAuthState } from '../../runner/whatsapp/auth-state.js'
import { createBaileysFactory, type WhatsAppClientFactory } from '../../runner/whatsapp/client.js'
import { createTestDatabase, describeEachEngine, type TestDatabase } from '../support/db.js'
import { FakeWhatsApp } from '../support/fake-whatsapp.js'
import { expireLease, insertSession, insertSessions, leaseOnly, uniqueName } from '../support/queue-fixtures.js'
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
      'app-state-sync-key': { AAAA: { keyData: new Uint8Array([5, 6]), timestamp: 1 } },
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

describeEachEngine('auth state writes fenced by the session lease (runner side)', (ctx) => {
  const cipher = createAuthCipher(new Uint8Array(32).fill(5))
  const ratchet = (n: number) => new Uint8Array([n, n, n])

  /** A session leased to runner-a, with the auth state loaded under that lease, and a counter of transactions. */
  async function fencedState() {
    const session = uniqueName('auth')
    await insertSession(ctx.db, session)
    const owner = uniqueName('runner-a')
    const fence: AuthFence = { owner, epoch: await leaseOnly(ctx.db, session, owner) }
    const db = ctx.db
    const counter = { transactions: 0, encrypted: 0 }
    const counted: Db = {
      ...db,
      query: db.query.bind(db),
      execute: db.execute.bind(db),
      close: db.close.bind(db),
      transaction: (fn, o) => {
        counter.transactions++
        return db.transaction(fn, o)
      },
    }
    const errors: unknown[] = []
    const counting = { ...cipher, encrypt: (plain: Uint8Array, aad: string) => (counter.encrypted++, cipher.encrypt(plain, aad)) }
    const load = () => loadAuthState({ db: counted, session, cipher: counting, cache: createKeyCache(), fence, onStorageError: (e) => errors.push(e) })
    return { session, fence, counter, errors, load }
  }

  async function takeOver(session: string): Promise<void> {
    await expireLease(ctx.db, session)
    await leaseOnly(ctx.db, session, uniqueName('runner-b'))
  }

  it('a fenced-out key write throws LeaseLostError, leaves the rows and the cache as they were, and is reported once, never retried', async () => {
    const { session, counter, errors, load } = await fencedState()
    const st = await load()
    await st.keys.set({ session: { '96170000001.0': ratchet(1) }, 'pre-key': { '1': { public: ratchet(7), private: ratchet(8) } } })
    expect(Buffer.from((await st.keys.get('session', ['96170000001.0']))['96170000001.0']!)).toEqual(Buffer.from(ratchet(1)))
    await takeOver(session)
    const stored = await getAuthValue(ctx.db, session, 'session', '96170000001.0')

    await expect(st.keys.set({ session: { '96170000001.0': ratchet(2) }, 'pre-key': { '1': null } })).rejects.toBeInstanceOf(LeaseLostError)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(LeaseLostError)
    expect(Buffer.from((await getAuthValue(ctx.db, session, 'session', '96170000001.0'))!)).toEqual(Buffer.from(stored!))
    expect(await countAuthKeys(ctx.db, session)).toMatchObject({ keys: 2 })
    // Neither the refused value nor the refused deletion reached the cache.
    expect(Buffer.from((await st.keys.get('session', ['96170000001.0']))['96170000001.0']!)).toEqual(Buffer.from(ratchet(1)))
    expect(Object.keys(await st.keys.get('pre-key', ['1']))).toEqual(['1'])

    // Baileys retries a failed commit: the refusal is final, without another database write or report, and without
    // encrypting the refused values (a pre-key upload is hundreds of them).
    const before = { ...counter }
    const preKeys = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [String(100 + i), { public: ratchet(i), private: ratchet(i) }]))
    await expect(st.keys.set({ session: { '96170000001.0': ratchet(3) }, 'pre-key': preKeys })).rejects.toBeInstanceOf(LeaseLostError)
    await expect(st.saveCreds()).rejects.toBeInstanceOf(LeaseLostError)
    await expect(st.wipe()).rejects.toBeInstanceOf(LeaseLostError)
    expect(counter).toEqual(before)
    expect(errors).toHaveLength(1)
    expect(await countAuthKeys(ctx.db, session)).toMatchObject({ keys: 2 })
  })

  it('a fenced-out creds save throws LeaseLostError, keeps the stored creds and is reported', async () => {
    const { session, errors, load } = await fencedState()
    const st = await load()
    st.creds.accountSyncCounter = 1
    await st.saveCreds()
    await takeOver(session)
    st.creds.accountSyncCounter = 2
    await expect(st.saveCreds()).rejects.toBeInstanceOf(LeaseLostError)
    expect(errors.map((e) => (e as Error).name)).toEqual(['LeaseLostError'])
    const stored = await loadAuthState({ db: ctx.db, session, cipher, cache: createKeyCache() })
    expect(stored.creds.registrationId).toBe(st.creds.registrationId)
    expect(stored.creds.accountSyncCounter).toBe(1)
  })

  it('a fenced-out wipe throws LeaseLostError and deletes nothing; the holder\'s own wipe works', async () => {
    const { session, fence, errors, load } = await fencedState()
    const st = await load()
    await st.saveCreds()
    await st.keys.set({ session: { '96170000001.0': ratchet(1) } })
    await takeOver(session)
    await expect(st.wipe()).rejects.toBeInstanceOf(LeaseLostError)
    expect(errors).toHaveLength(1)
    expect(await countAuthKeys(ctx.db, session)).toMatchObject({ keys: 2 })
    // Under the current lease the same calls go through.
    const [row] = await ctx.db.query<{ owner: string; lease_epoch: number }>(
      `SELECT owner, lease_epoch FROM sessions WHERE name = ${ctx.db.dialect === 'mysql' ? '?' : '$1'}`, [session],
    )
    expect(Number(row!.lease_epoch)).toBe(fence.epoch + 1)
    const holder = await loadAuthState({ db: ctx.db, session, cipher, cache: createKeyCache(), fence: { owner: row!.owner, epoch: Number(row!.lease_epoch) } })
    await holder.keys.set({ session: { '96170000001.0': ratchet(2) } })
    await holder.wipe()
    expect(await countAuthKeys(ctx.db, session)).toMatchObject({ keys: 0 })
  })
})

describeEachEngine('Baileys client auth state under a lease', (ctx) => {
  it('the client writes its auth state under the lease it was created with', async () => {
    const cipher = createAuthCipher(new Uint8Array(32).fill(6))
    const factory = createBaileysFactory({ db: ctx.db, cipher, endpoint: {} })
    const session = uniqueName('client')
    await insertSession(ctx.db, session)
    const owner = uniqueName('runner-a')
    const epoch = await leaseOnly(ctx.db, session, owner)
    await ctx.db.execute(
      `INSERT INTO auth_keys (session, type, key_id, value) VALUES (${ctx.db.dialect === 'mysql' ? '?, ?, ?, ?' : '$1, $2, $3, $4'})`,
      [session, 'pre-key', '1', Buffer.from([1])],
    )
    const stale = await factory.create(session, testLog, { owner, epoch })
    await expireLease(ctx.db, session)
    const next = await leaseOnly(ctx.db, session, uniqueName('runner-b'))
    // No socket needed: wipe() loads the state and deletes through it.
    await expect(stale.wipe()).rejects.toBeInstanceOf(LeaseLostError)
    expect((await countAuthKeys(ctx.db, session)).keys).toBe(1)
    const [row] = await ctx.db.query<{ owner: string }>(`SELECT owner FROM sessions WHERE name = ${ctx.db.dialect === 'mysql' ? '?' : '$1'}`, [session])
    const holder = await factory.create(session, testLog, { owner: row!.owner, epoch: next })
    await holder.wipe()
    expect((await countAuthKeys(ctx.db, session)).keys).toBe(0)
  })
})

describe('a runner whose auth write is fenced out (PGlite, fake WhatsApp)', () => {
  it('creates each client under its lease, and on LeaseLostError fences the session instead of reconnecting it', async () => {
    const t = await createTestDatabase('pglite')
    const fake = new FakeWhatsApp()
    const created: { session: string; fence: AuthFence | undefined }[] = []
    const factory: WhatsAppClientFactory = {
      create: (session, log, fence) => {
        created.push({ session, fence })
        return fake.create(session, log)
      },
    }
    const runner = createRunner({ db: t.db, config: testConfig(), log: testLog, whatsapp: factory })
    const ofDefault = () => created.filter((c) => c.session === 'default')
    try {
      await runner.start()
      await waitFor(() => runner.owned().includes('default') && fake.clients.get('default')?.open, 10_000, 'default online')
      const row = (await getSession(t.db, 'default'))!
      expect(ofDefault().map((c) => c.fence)).toEqual([{ owner: row.owner, epoch: row.leaseEpoch }])
      const first = fake.clients.get('default')!
      first.handlers!.onStorageError(new LeaseLostError('default', row.owner!, row.leaseEpoch, 'auth key write'))
      await waitFor(() => !first.open, 5_000, 'socket closed')
      // Fenced, not reconnected: the old client stays closed, and the session comes back only through a new acquire
      // (the runner releases the lease it no longer runs), as a new client under the next epoch.
      await waitFor(() => ofDefault().length === 2, 15_000, 'default acquired again')
      expect(first.open).toBe(false)
      expect(ofDefault()[1]!.fence).toEqual({ owner: row.owner, epoch: row.leaseEpoch + 1 })
    } finally {
      await runner.stop()
      await t.drop()
    }
  })
})

describeEachEngine('acquiring free sessions in batches', (ctx) => {
  it('takes 50 at a time, the next batch as soon as the last has started (no poll between), up to its capacity', async () => {
    // 120 free sessions and the migration's `default`: the takeover of a dead runner's sessions, in miniature.
    await insertSessions(ctx.db, Array.from({ length: 120 }, (_, i) => `batch_${String(i).padStart(3, '0')}`))
    const fake = new FakeWhatsApp()
    // runOnce() starts no poll timer: every batch after the first comes from the back-to-back acquire alone.
    // One runner at a time: on PGlite a runner that registers expires every lease on record (one process per database).
    const small = createRunner({ db: ctx.db, config: testConfig({ capacity: 70 }), log: testLog, whatsapp: fake })
    try {
      await small.runOnce()
      expect(small.owned()).toHaveLength(50)
      await waitFor(() => small.owned().length === 70, 20_000, 'the second batch, up to the capacity')
      // The capacity ends the chain.
      await new Promise((r) => setTimeout(r, 300))
      expect(small.owned()).toHaveLength(70)
      const [held] = await ctx.db.query<{ n: unknown }>('SELECT COUNT(*) AS n FROM sessions WHERE owner IS NOT NULL')
      expect(Number(held!.n)).toBe(70)
    } finally {
      await small.stop()
    }
    const large = createRunner({ db: ctx.db, config: testConfig({ capacity: 200 }), log: testLog, whatsapp: fake })
    try {
      await large.runOnce()
      expect(large.owned()).toHaveLength(50)
      // 50 + 50 + 21: the third batch is not full, and ends the chain with every session taken.
      await waitFor(() => large.owned().length === 121, 20_000, 'every session')
    } finally {
      await large.stop()
    }
  })
})
