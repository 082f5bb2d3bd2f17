import { expect, it } from 'vitest'
import type { Queryable } from '../../db/driver.js'
import { createWebhook } from '../../db/queries/webhook-endpoints.js'
import { listDeliveries } from '../../db/queries/webhook-deliveries.js'
import { ROTATED_API_KEY, createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'
import { getMessage } from '../support/queue-fixtures.js'

/** A phone no other test in this file uses: 9619 + pid + a counter. */
let seq = 0
const phone = () => `9619${String(process.pid % 1000).padStart(3, '0')}${String(++seq).padStart(4, '0')}`

async function count(db: Queryable, table: string): Promise<number> {
  return Number((await db.query(`SELECT COUNT(*) AS n FROM ${table}`))[0]!.n)
}

describeEachEngine('the contacts API', (ctx) => {
  it('sets consent to "no": pending messages opt out in the same change, audited with the key that asked, with contact.opted_out', async () => {
    const t = createTestApp(ctx.db)
    const p = phone()
    await createWebhook(ctx.db, { url: 'https://example.com/h', events: ['contact.opted_out', 'message.opted_out'], session: null, secret: 's'.repeat(20) })
    const ids = [(await (await t.post('/api/send', { phone: p, message: 'a' })).json()).message_id, (await (await t.post('/api/send', { phone: p, message: 'b' })).json()).message_id]
    const res = await t.app.request(`/api/contacts/${p}`, { method: 'PATCH', headers: t.headers({ 'Content-Type': 'application/json', 'X-API-Key': ROTATED_API_KEY }), body: JSON.stringify({ opt_in: 'no', name: '  Rana  ' }) })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ success: true, contact: { phone: p, opt_in: 'no', name: 'Rana' }, opted_out: 2 })
    for (const id of ids) expect((await getMessage(ctx.db, id)).status).toBe('opted_out')
    const events = (await listDeliveries(ctx.db, { limit: 1000 })).filter((d) => d.payload.includes(p))
    expect(events.map((d) => d.type).sort()).toEqual(['contact.opted_out', 'message.opted_out', 'message.opted_out'])
    const shown = await (await t.get(`/api/contacts/${p}`)).json()
    expect(shown).toMatchObject({ phone: p, opt_in: 'no', name: 'Rana', messages: { opted_out: 2 } })
    expect(shown.changes).toEqual([expect.objectContaining({ actor: 'api:key-2', opt_in_before: null, opt_in_after: 'no', name_before: null, name_after: 'Rana' })])
    // Back to yes, by the first key: a second audit row, newest first; a name-only change keeps the consent.
    await t.app.request(`/api/contacts/+${p}`, { method: 'PATCH', headers: t.headers({ 'Content-Type': 'application/json' }), body: JSON.stringify({ opt_in: 'yes' }) })
    await t.app.request(`/api/contacts/${p}`, { method: 'PATCH', headers: t.headers({ 'Content-Type': 'application/json' }), body: JSON.stringify({ name: null }) })
    const after = await (await t.get(`/api/contacts/${p}`)).json()
    expect(after).toMatchObject({ opt_in: 'yes', name: null })
    expect(after.changes.map((c: { actor: string; opt_in_after: string; name_after: string | null }) => [c.actor, c.opt_in_after, c.name_after])).toEqual([
      ['api:key-1', 'yes', null], ['api:key-1', 'yes', 'Rana'], ['api:key-2', 'no', 'Rana'],
    ])
  })

  it('refuses unknown contacts, empty changes and bad values with a clear 4xx, changing nothing', async () => {
    const t = createTestApp(ctx.db)
    const p = phone()
    expect((await t.get(`/api/contacts/${p}`)).status).toBe(404)
    expect((await t.get('/api/contacts/123')).status).toBe(400)
    const patch = (body: unknown, who = p) => t.app.request(`/api/contacts/${who}`, { method: 'PATCH', headers: t.headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body) })
    const before = await count(ctx.db, 'contact_changes')
    expect((await (await patch({})).json()).code).toBe('empty_change')
    const bad = await (await patch({ opt_in: 'maybe', name: 'x'.repeat(201) })).json()
    expect(bad.errors.map((e: { path: string }) => e.path).sort()).toEqual(['name', 'opt_in'])
    expect(await count(ctx.db, 'contact_changes')).toBe(before)
    expect((await t.get(`/api/contacts/${p}`)).status).toBe(404)
  })

  it('lists contacts by consent, by the phone\'s first digits or a part of the name (any case), a page at a time', async () => {
    const t = createTestApp(ctx.db)
    const tag = `Zq${process.pid}${Date.now() % 100000}`
    const phones = Array.from({ length: 5 }, phone)
    const res = await t.post('/api/contacts/import', { contacts: phones.map((p, i) => ({ phone: p, name: `${tag} ${i}`, opt_in: i % 2 ? 'no' : 'yes' })) })
    expect(res.status).toBe(200)
    const byName = await (await t.get(`/api/contacts?q=${tag.toLowerCase()}&limit=2`)).json()
    expect(byName.contacts.map((c: { phone: string }) => c.phone)).toEqual(phones.slice(0, 2))
    const rest = await (await t.get(`/api/contacts?q=${tag.toUpperCase()}&limit=10&cursor=${byName.next}`)).json()
    expect(rest.contacts.map((c: { phone: string }) => c.phone)).toEqual(phones.slice(2))
    expect(rest.next).toBeNull()
    const no = await (await t.get(`/api/contacts?q=${tag}&opt_in=no`)).json()
    expect(no.contacts.map((c: { phone: string }) => c.phone)).toEqual([phones[1], phones[3]])
    const digits = await (await t.get(`/api/contacts?q=${encodeURIComponent(`+${phones[0]}`)}`)).json()
    expect(digits.contacts.map((c: { phone: string }) => c.phone)).toEqual([phones[0]])
    expect((await (await t.get('/api/contacts?q=%25&limit=1')).json()).contacts).toEqual([])
    expect((await t.get('/api/contacts?cursor=abc')).status).toBe(400)
  })

  it('imports JSON or CSV all or nothing: every bad row is named, nothing is written; 10,001 rows are refused', async () => {
    const t = createTestApp(ctx.db)
    const [a, b, c] = [phone(), phone(), phone()]
    const before = [await count(ctx.db, 'contacts'), await count(ctx.db, 'contact_changes')]
    let res = await t.post('/api/contacts/import', { contacts: [{ phone: a }, { phone: '012' }, { phone: b, opt_in: 'perhaps' }] })
    expect(res.status).toBe(400)
    expect((await res.json()).errors.map((e: { path: string }) => e.path)).toEqual(['contacts[1].phone', 'contacts[2].opt_in'])
    const csv = (text: string) => t.app.request('/api/contacts/import', { method: 'POST', headers: t.headers({ 'Content-Type': 'text/csv; charset=utf-8' }), body: text })
    res = await csv(`phone,name,opt_in\r\n${a},"Doe, Jane ""JD""",yes\r\n0123,,\r\n`)
    expect(res.status).toBe(400)
    expect((await res.json()).errors[0].path).toBe('contacts[1].phone')
    expect([await count(ctx.db, 'contacts'), await count(ctx.db, 'contact_changes')]).toEqual(before)
    res = await csv(`\uFEFFPhone,Name,Opt_In\n${a},"Doe, Jane ""JD""",YES\n+${b},Ali,no\n${c},,\n`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ success: true, rows: 3, created: 3, changed: 3, opted_out: 0 })
    expect(await (await t.get(`/api/contacts/${a}`)).json()).toMatchObject({ name: 'Doe, Jane "JD"', opt_in: 'yes' })
    expect(await (await t.get(`/api/contacts/${b}`)).json()).toMatchObject({ name: 'Ali', opt_in: 'no' })
    expect((await csv('name\nx\n')).status).toBe(400)
    expect((await csv(`phone\n"${a}\n`)).status).toBe(400)
    const many = await t.post('/api/contacts/import', { contacts: Array.from({ length: 10_001 }, (_, i) => ({ phone: `96170${String(i).padStart(6, '0')}` })) })
    expect(many.status).toBe(413)
  })

  it("imports 10,000 rows in one transaction", async () => {
    const t = createTestApp(ctx.db)
    const base = 96100000000 + (process.pid % 100) * 100_000
    const rows = Array.from({ length: 10_000 }, (_, i) => ({ phone: String(base + i), name: `Bulk ${i}`, opt_in: 'yes' }))
    const started = performance.now()
    const res = await t.post('/api/contacts/import', { contacts: rows })
    expect(res.status).toBe(200)
    expect((await res.json()).rows).toBe(10_000)
    console.log(`import of 10,000 contacts on ${ctx.db.engine}: ${Math.round(performance.now() - started)} ms`)
    expect(await (await t.get(`/api/contacts/${base + 9_999}`)).json()).toMatchObject({ name: 'Bulk 9999', opt_in: 'yes' })
  }, 180_000)
})
