import { stdSerializers } from 'pino'
import { expect, it } from 'vitest'
import * as lifecycle from '../../db/lifecycle/index.js'
import * as contacts from '../../db/queries/contacts.js'
import * as media from '../../db/queries/media.js'
import * as messages from '../../db/queries/messages.js'
import * as sessions from '../../db/queries/sessions.js'
import { describeEachEngine } from '../support/db.js'

describeEachEngine('session queries', (ctx) => {
  it('has the default session from the first migration', async () => {
    const all = await sessions.listSessions(ctx.db)
    expect(all[0]?.name).toBe('default')
    expect(all[0]?.status).toBe('offline')
  })

  it('creates a session once and reports a repeat as existing', async () => {
    expect(await sessions.createSession(ctx.db, 'support')).toBe('created')
    expect(await sessions.createSession(ctx.db, 'support')).toBe('exists')
    const s = await sessions.getSession(ctx.db, 'support')
    expect(s?.status).toBe('connecting')
  })

  it('lists default first, then by name', async () => {
    await sessions.createSession(ctx.db, 'alpha')
    await sessions.createSession(ctx.db, 'Zulu')
    const names = (await sessions.listSessions(ctx.db)).map((s) => s.name)
    expect(names[0]).toBe('default')
    expect(names.slice(1)).toEqual([...names.slice(1)].sort())
  })

  it('marks a session for deletion once, hides it, and never deletes default', async () => {
    await sessions.createSession(ctx.db, 'tmp_del')
    expect(await sessions.requestSessionDelete(ctx.db, 'tmp_del')).toBe('ok')
    expect(await sessions.requestSessionDelete(ctx.db, 'tmp_del')).toBe('deleting')
    expect(await sessions.createSession(ctx.db, 'tmp_del')).toBe('deleting')
    expect((await sessions.listSessions(ctx.db)).map((s) => s.name)).not.toContain('tmp_del')
    expect(await sessions.requestSessionDelete(ctx.db, 'nope')).toBe('not_found')
    expect(await sessions.requestSessionDelete(ctx.db, 'default')).toBe('deleting')
    expect((await sessions.getSession(ctx.db, 'default'))?.deleteRequestedAt).toBeNull()
  })

  it('records a reconnect request, and refuses one for an unknown session', async () => {
    expect(await sessions.requestReconnect(ctx.db, 'default')).toBe('ok')
    expect((await sessions.getSession(ctx.db, 'default'))?.reconnectRequestedAt).toBeInstanceOf(Date)
    expect(await sessions.requestReconnect(ctx.db, 'ghost')).toBe('not_found')
  })
})

describeEachEngine('message queries', (ctx) => {
  it('enqueues a pending text message with a pre-drawn WhatsApp id', async () => {
    const r = await lifecycle.enqueueMessage(ctx.db, { session: 'default', phone: '9611234567', type: 'text', body: 'Hello 👋 مرحبا' })
    expect(r.kind).toBe('created')
    const m = await messages.getMessage(ctx.db, r.id)
    expect(m).toMatchObject({ id: r.id, status: 'pending', attempts: 0, body: 'Hello 👋 مرحبا', phone: '9611234567' })
    expect(m?.waMessageId).toMatch(/^3EB0[0-9A-F]{18}$/)
    expect(Number.isSafeInteger(m?.id)).toBe(true)
  })

  it('returns the same id for a repeated idempotency key and flags a different body as a conflict', async () => {
    const input = { session: 'default', phone: '9611234567', type: 'text' as const, body: 'x', idempotencyKey: 'k-1', requestHash: 'h1' }
    const a = await lifecycle.enqueueMessage(ctx.db, input)
    const b = await lifecycle.enqueueMessage(ctx.db, input)
    const c = await lifecycle.enqueueMessage(ctx.db, { ...input, requestHash: 'h2' })
    expect(a.kind).toBe('created')
    expect(b).toEqual({ kind: 'repeat', id: a.id })
    expect(c).toEqual({ kind: 'conflict', id: a.id })
  })

  it('inserts many messages in one statement and returns their ids in order', async () => {
    const inputs = Array.from({ length: 50 }, (_, i) => ({ session: 'default', phone: `96170${String(i).padStart(5, '0')}`, type: 'text' as const, body: `n${i}` }))
    const ids = await lifecycle.enqueueMessages(ctx.db, inputs)
    expect(new Set(ids).size).toBe(50)
    for (const [i, id] of ids.entries()) expect((await messages.getMessage(ctx.db, id))?.body).toBe(`n${i}`)
    expect(await lifecycle.enqueueMessages(ctx.db, [])).toEqual([])
  })

  it('delays a scheduled message by the requested milliseconds', async () => {
    const r = await lifecycle.enqueueMessage(ctx.db, { session: 'default', phone: '9611234567', type: 'text', body: 'later', delayMs: 3_600_000 })
    const m = (await messages.getMessage(ctx.db, r.id))!
    expect(m.availableAt.getTime() - m.createdAt.getTime()).toBeGreaterThanOrEqual(3_599_000)
  })

  it('pages the audit log newest first with a keyset cursor and filters', async () => {
    const ids = await lifecycle.enqueueMessages(ctx.db, Array.from({ length: 7 }, (_, i) => ({ session: 'default', phone: '9619999999', type: 'text' as const, body: `p${i}` })))
    const page1 = await messages.listMessages(ctx.db, { phone: '9619999999', limit: 3 })
    const page2 = await messages.listMessages(ctx.db, { phone: '9619999999', limit: 3, beforeId: page1.at(-1)!.id })
    const page3 = await messages.listMessages(ctx.db, { phone: '9619999999', limit: 3, beforeId: page2.at(-1)!.id })
    expect([...page1, ...page2, ...page3].map((m) => m.id)).toEqual([...ids].reverse())
    expect(await messages.listMessages(ctx.db, { phone: '9619999999', status: 'sent', limit: 10 })).toEqual([])
    const future = new Date(Date.now() + 86_400_000)
    expect(await messages.listMessages(ctx.db, { since: future, limit: 10 })).toEqual([])
    expect((await messages.listMessages(ctx.db, { until: future, session: 'default', limit: 500 })).length).toBeGreaterThanOrEqual(7)
  })

  it('resends only failed or opted_out messages and tells not-found from wrong status', async () => {
    const r = await lifecycle.enqueueMessage(ctx.db, { session: 'default', phone: '9611111111', type: 'text', body: 'r' })
    expect(await lifecycle.resendMessage(ctx.db, r.id)).toBe('wrong_status')
    expect(await lifecycle.resendMessage(ctx.db, 99_999_999)).toBe('not_found')
    await lifecycle.setContactOptIn(ctx.db, '9611111111', 'no')
    expect((await messages.getMessage(ctx.db, r.id))?.status).toBe('opted_out')
    expect(await lifecycle.resendMessage(ctx.db, r.id)).toBe('ok')
    const m = await messages.getMessage(ctx.db, r.id)
    expect(m).toMatchObject({ status: 'pending', attempts: 0, error: null })
  })

  it('counts messages by status with zeros for empty states', async () => {
    const counts = await messages.countMessagesByStatus(ctx.db)
    expect(Object.keys(counts).sort()).toEqual(['cancelled', 'failed', 'opted_out', 'pending', 'sending', 'sent'])
    expect(counts.pending).toBeGreaterThan(0)
    expect(counts.sending).toBe(0)
    expect(await messages.countSentSince(ctx.db, 86_400)).toBe(0)
  })
})

describeEachEngine('contact and media queries', (ctx) => {
  it('sets and resets consent, stamping opt_in_at except for pending', async () => {
    await lifecycle.setContactOptIn(ctx.db, '9612222222', 'yes')
    expect((await contacts.getContact(ctx.db, '9612222222'))?.optInAt).toBeInstanceOf(Date)
    await lifecycle.setContactOptIn(ctx.db, '9612222222', 'pending')
    const c = await contacts.getContact(ctx.db, '9612222222')
    expect(c).toMatchObject({ optIn: 'pending', optInAt: null })
    expect(await contacts.getContact(ctx.db, '9610000000')).toBeNull()
  })

  it('searches contacts by phone prefix and state', async () => {
    await lifecycle.setContactOptIn(ctx.db, '9613000001', 'no')
    await lifecycle.setContactOptIn(ctx.db, '9613000002', 'yes')
    await lifecycle.setContactOptIn(ctx.db, '9714000003', 'yes')
    expect((await contacts.searchContacts(ctx.db, { phonePrefix: '9613', limit: 10 })).map((c) => c.phone)).toEqual(['9613000001', '9613000002'])
    expect((await contacts.searchContacts(ctx.db, { optIn: 'yes', phonePrefix: '9', limit: 10 })).map((c) => c.phone)).toContain('9714000003')
    expect((await contacts.searchContacts(ctx.db, { phonePrefix: '9613', afterPhone: '9613000001', limit: 10 })).map((c) => c.phone)).toEqual(['9613000002'])
  })

  it('stores media bytes exactly and finds a recent identical upload', async () => {
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 31) % 256)
    const id = await media.insertMedia(ctx.db, { bytes, mime: 'image/png', width: 10, height: 20, sha256: 'ab'.repeat(32) })
    const m = await media.getMedia(ctx.db, id)
    expect(Buffer.from(m!.bytes).equals(Buffer.from(bytes))).toBe(true)
    expect(m).toMatchObject({ mime: 'image/png', size: 70_000, width: 10, height: 20 })
    expect(await media.findReusableMedia(ctx.db, 'ab'.repeat(32), 'image/png', 3600)).toBe(id)
    expect(await media.findReusableMedia(ctx.db, 'cd'.repeat(32), 'image/png', 3600)).toBeNull()
    expect(await media.getMedia(ctx.db, id + 1000)).toBeNull()
  })

  it('stores a 10 MB original intact (binary protocol on MySQL, under the default 16 MiB packet limit)', async () => {
    const bytes = new Uint8Array(10 * 1024 * 1024).map((_, i) => (i * 7 + 3) % 256)
    const id = await media.insertMedia(ctx.db, { bytes, mime: 'image/jpeg', width: 4000, height: 3000, sha256: 'ef'.repeat(32) })
    const m = await media.getMedia(ctx.db, id)
    expect(m!.size).toBe(bytes.byteLength)
    expect(Buffer.from(m!.bytes).equals(Buffer.from(bytes))).toBe(true)
  })

  it('keeps bound values out of driver errors, which end up in logs', async () => {
    const secret = 'do-not-log-this-body'
    const err = await ctx.db
      .execute(ctx.db.dialect === 'mysql' ? 'INSERT INTO no_such_table (x) VALUES (?)' : 'INSERT INTO no_such_table (x) VALUES ($1)', [secret])
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    // Exactly what a pino logger writes for { err }.
    const seen = JSON.stringify(stdSerializers.err(err as Error))
    expect(seen).not.toContain(secret)
  })
})
