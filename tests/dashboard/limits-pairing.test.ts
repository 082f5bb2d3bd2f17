/**
 * On the dashboard: the Sessions page offers "link with phone number" (pairing code) beside the QR and shows
 * the code, edits the sending limits (blank = the runner default), and the audit log says "scheduled for".
 */
import { beforeAll, expect, it } from 'vitest'
import { sharedDatabase } from '../../api/middleware/database.js'
import { createNodeApp } from '../../api/node.js'
import { parseApiConfig } from '../../api/config.js'
import { assetsFromCode, createDashboard } from '../../api/dashboard/index.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { answerPairingRequest } from '../../db/queries/pairing.js'
import { getSession } from '../../db/queries/sessions.js'
import { describeEachEngine } from '../support/db.js'
import { ownedSession } from '../support/queue-fixtures.js'
import { KEY, signIn, textOf, type Browserish } from './support.js'
import { findSessionRequests } from '../../db/queries/session-reports.js'

describeEachEngine('dashboard: pairing code, sending limits, scheduled sends', (ctx) => {
  let b: Browserish
  beforeAll(async () => {
    const config = parseApiConfig({ API_SECRET: KEY, PAIRING_CODE_WAIT_MS: '2000' })
    const dashboard = createDashboard({ config, database: sharedDatabase(ctx.db), assets: assetsFromCode, signIn: { failureDelayMs: 0 } })
    const app = createNodeApp({ db: ctx.db, config, coalescer: false, dashboard })
    b = await signIn(app)
  })

  it('offers a pairing code beside the QR; a code from the runner shows on the card and in sessions.json', async () => {
    const f = await ownedSession(ctx.db, 'runner-dash')
    const page = await (await b.get('/dashboard/sessions')).text()
    expect(page).toContain(`action="/dashboard/sessions/${f.name}/pairing-code"`)
    expect(textOf(page)).toContain('Link with phone number instead')
    // The field's label reads as one phrase (it once ran two labels together).
    const label = new RegExp(`<label for="pc-${f.name}">([\\s\\S]*?)</label>`).exec(page)?.[1]
    expect(textOf(label ?? '').replace(/\s+/g, ' ').trim()).toBe('Phone number to link (with country code)')
    let stop = false
    const runner = (async () => {
      while (!stop) {
        for (const r of (await findSessionRequests(ctx.db, 'runner-dash')).pairing) {
          await answerPairingRequest(ctx.db, { name: r.name, owner: 'runner-dash', epoch: r.leaseEpoch }, r.phone, { code: 'WXYZ-2345' })
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    try {
      const res = await b.post(`/dashboard/sessions/${f.name}/pairing-code`, { phone: '+961 70 123 456' })
      expect(res.status).toBe(303)
      expect(res.headers.get('location')).toBe(`/dashboard/sessions?done=pairing&name=${f.name}`)
    } finally {
      stop = true
      await runner
    }
    const after = textOf(await (await b.get(`/dashboard/sessions?done=pairing&name=${f.name}`)).text())
    expect(after).toContain('Pairing code ready')
    expect(after).toContain('WXYZ-2345 for +96170123456')
    const live = await (await b.get('/dashboard/sessions.json')).json()
    expect(live.sessions.find((s: { name: string }) => s.name === f.name).pairing_code).toBe('WXYZ-2345')
  })

  it('says so when no runner answers in time, and refuses a malformed phone', async () => {
    const res = await b.post('/dashboard/sessions/default/pairing-code', { phone: '96170123456' })
    expect(res.status).toBe(504)
    expect(textOf(await res.text())).toContain('No runner produced a pairing code for session "default"')
    const bad = await b.post('/dashboard/sessions/default/pairing-code', { phone: '12' })
    expect(bad.status).toBe(422)
  })

  it('saves the sending limits (blank = default) and refuses bad ones inline', async () => {
    const ok = await b.post('/dashboard/sessions/default/settings', {
      daily_cap: '150', warmup_start: '', warmup_days: '10', first_contact_daily_cap: '0', circuit_breaker_failures: '4',
      quiet_hours: '21:30-07:00', time_zone: 'Asia/Beirut', presence: 'off',
    })
    expect(ok.status).toBe(303)
    expect(ok.headers.get('location')).toBe('/dashboard/sessions?done=settings&name=default')
    expect((await getSession(ctx.db, 'default'))!.settings).toEqual({
      dailyCap: 150, warmupStart: null, warmupDays: 10, firstContactCap: 0, breakerFailures: 4, quietHours: '21:30-07:00', timeZone: 'Asia/Beirut', presence: 'off',
    })
    const page = await (await b.get('/dashboard/sessions')).text()
    expect(page).toContain('name="daily_cap" type="number" value="150"')
    expect(page).toContain('value="21:30-07:00"')
    expect(page).toContain('name="presence" type="text" value="off"')
    const bad = await b.post('/dashboard/sessions/default/settings', { quiet_hours: 'nights' })
    expect(bad.status).toBe(422)
    expect(textOf(await bad.text())).toContain('quiet hours must look like "22:00-08:00"')
    expect((await getSession(ctx.db, 'default'))!.settings.quietHours).toBe('21:30-07:00')
    // Several refused limits: each beside its own field, with what was typed kept.
    const two = await b.post('/dashboard/sessions/default/settings', { daily_cap: '-5', quiet_hours: 'nights', time_zone: 'Mars/Base', presence: 'loud' })
    expect(two.status).toBe(422)
    const html = await two.text()
    const beside = (id: string) => textOf(new RegExp(`<p class="error" id="${id}">([^<]*)</p>`).exec(html)?.[1] ?? '')
    expect(beside('daily_cap-default-error')).toMatch(/^must be/)
    expect(beside('quiet_hours-default-error')).toContain('quiet hours must look like "22:00-08:00"')
    expect(beside('time_zone-default-error')).toContain('must be an IANA time zone')
    expect(beside('presence-default-error')).toContain('must be "on", "off" or null')
    expect(html).toContain('value="Mars/Base"')
    expect((await getSession(ctx.db, 'default'))!.settings.dailyCap).toBe(150)
  })

  it('the audit log shows a scheduled send as "scheduled for", in the list and on its page', async () => {
    const at = new Date(Date.now() + 5 * 3_600_000)
    const r = await enqueueMessage(ctx.db, { session: 'default', phone: '96170123457', type: 'text', body: 'later', sendAt: at })
    const stamp = `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`
    const list = textOf(await (await b.get('/dashboard/messages')).text())
    expect(list).toContain(`scheduled for ${stamp}`)
    const detail = textOf(await (await b.get(`/dashboard/messages/${r.id}`)).text())
    expect(detail).toContain('Scheduled for')
    expect(detail).toContain(stamp)
  })
})
