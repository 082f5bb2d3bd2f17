import { expect, it } from 'vitest'
import { findPhoneByLid, getContact, markConsentRequested, recordContactLid } from '../../db/queries/contacts.js'
import { listInboundForPhone } from '../../db/queries/inbound.js'
import { recordInbound, resolveInbound } from '../../db/lifecycle/inbound.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getMessage } from '../../db/queries/messages.js'
import { findPhonesAwaitingConsentRequest } from '../../db/lifecycle/consent.js'
import { matchConsentKeyword } from '../../runner/whatsapp/consent.js'
import { describeEachEngine } from '../support/db.js'

describeEachEngine('inbound messages and consent queries', (ctx) => {
  it('stores each inbound message once and applies STOP / YES / first-message consent', async () => {
    const db = ctx.db
    const phone = '96177000001'
    const base = { session: 'default', phone, senderJid: `${phone}@s.whatsapp.net` }
    const pending = await enqueueMessage(db, { session: 'default', phone, type: 'text', body: 'queued' })
    const first = await recordInbound(db, { ...base, body: 'hi', waMessageId: 'A1', keyword: null, pushName: 'Ann' })
    expect(first).toMatchObject({ kind: 'stored', action: 'opt-in', optIn: 'yes' })
    expect(await recordInbound(db, { ...base, body: 'hi', waMessageId: 'A1', keyword: null })).toEqual({ kind: 'duplicate' })
    const stop = await recordInbound(db, { ...base, body: 'STOP', waMessageId: 'A2', keyword: 'stop' })
    expect(stop).toMatchObject({ kind: 'stored', action: 'stop', optIn: 'no', optedOut: 1 })
    expect((await getMessage(db, pending.id))!.status).toBe('opted_out')
    const c = (await getContact(db, phone))!
    expect(c.optIn).toBe('no')
    expect(c.name).toBe('Ann')
    expect(c.optInAt).not.toBeNull()
    const other = await recordInbound(db, { ...base, body: 'why?', waMessageId: 'A3', keyword: null })
    expect(other).toMatchObject({ action: 'none', optIn: 'no' })
    expect(await recordInbound(db, { ...base, body: 'نعم', waMessageId: 'A4', keyword: 'start' })).toMatchObject({ action: 'start', optIn: 'yes' })
    expect((await listInboundForPhone(db, phone)).map((m) => m.action)).toEqual(['opt-in', 'stop', 'none', 'start'])
    // Same id on another session is another message.
    expect(await recordInbound(db, { ...base, session: 'other', body: 'x', waMessageId: 'A1', keyword: null })).toMatchObject({ kind: 'stored' })
  })

  it('keeps a LID-only STOP unresolved until the mapping arrives, then applies it', async () => {
    const db = ctx.db
    const phone = '96177000002'
    const lid = '123456789012345'
    expect(await findPhoneByLid(db, lid)).toBeNull()
    const r = await recordInbound(db, { session: 'default', phone: null, senderJid: `${lid}@lid`, body: 'stop', waMessageId: 'L1', keyword: 'stop' })
    expect(r).toMatchObject({ kind: 'stored', action: 'unresolved' })
    await recordContactLid(db, phone, lid)
    expect(await findPhoneByLid(db, lid)).toBe(phone)
    const decided = await resolveInbound(db, { session: 'default', senderJid: `${lid}@lid`, phone, keywordOf: matchConsentKeyword })
    expect(decided).toEqual([{ waMessageId: 'L1', action: 'stop' }])
    expect((await getContact(db, phone))!.optIn).toBe('no')
    expect(await resolveInbound(db, { session: 'default', senderJid: `${lid}@lid`, phone, keywordOf: matchConsentKeyword })).toEqual([])
  })

  it('finds phones with held messages that still need the consent request, once', async () => {
    const db = ctx.db
    const phone = '96177000003'
    const m = await enqueueMessage(db, { session: 'default', phone, type: 'text', body: 'held' })
    await db.execute(db.dialect === 'mysql'
      ? "UPDATE messages SET hold = 'consent', error = 'awaiting opt-in' WHERE id = ?"
      : "UPDATE messages SET hold = 'consent', error = 'awaiting opt-in' WHERE id = $1", [m.id])
    expect(await findPhonesAwaitingConsentRequest(db, 'default')).toContain(phone)
    await markConsentRequested(db, phone)
    expect(await findPhonesAwaitingConsentRequest(db, 'default')).not.toContain(phone)
  })
})
