/**
 * The dashboard in headless Chromium (Debian's `chromium` through playwright-core) against the real
 * stack: the Node API server (`startApi`) on the embedded database (PGlite), the runner with real
 * Baileys, and the loopback WhatsApp server driven through its HTTP control API.
 *
 * Screenshots of every page (desktop and phone width) go to tests/artifacts/dashboard/.
 */
import { mkdirSync } from 'node:fs'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { each } from '../../db/sql.js'
import { getMessage } from '../../db/queries/messages.js'
import { createSession, getSession } from '../../db/queries/sessions.js'
import { parseApiConfig } from '../../api/config.js'
import { assetsFromCode, createDashboard } from '../../api/dashboard/index.js'
import { silentLogger } from '../../api/env.js'
import { sharedDatabase } from '../../api/middleware/database.js'
import { startApi, type StartedApi } from '../../api/node.js'
import type { Runner } from '../../runner/runner.js'
import { launchBrowser } from '../support/browser.js'
import { skipReason } from '../support/prerequisites.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { loopbackFactory, newKey, startLoopbackServer, startRunner, testConfig, waitFor } from '../runner/helpers.js'

const ARTIFACTS = 'tests/artifacts/dashboard'
const KEY = 'browser-test-key-5d2e91'
const DESKTOP = { width: 1280, height: 900 }
const PHONE = { width: 390, height: 844 }

mkdirSync(ARTIFACTS, { recursive: true })

const noChromium = skipReason('chromium')
/** A describe that is skipped, with the reason in its title, when the machine has no Chromium. */
const describeInChromium = (title: string, body: () => void) =>
  describe.skipIf(Boolean(noChromium))(noChromium ? `${title} [${noChromium}]` : title, body)

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true })
}

async function serveDashboard(db: TestDatabase['db'], extraEnv: Record<string, string> = {}): Promise<StartedApi> {
  const env = { API_SECRET: KEY, PORT: '0', HOST: '127.0.0.1', ...extraEnv }
  const config = parseApiConfig(env)
  return startApi({ env, log: silentLogger, db, deps: { dashboard: createDashboard({ config, database: sharedDatabase(db), assets: assetsFromCode }) } })
}

async function signInWith(page: Page, base: string, key: string): Promise<void> {
  await page.goto(`${base}/dashboard/sign-in`)
  await page.fill('#api_key', key)
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')])
}

/** Reloads `url` until `predicate` holds for the page's text (for pages without live refresh). */
async function reloadUntil(page: Page, url: string, predicate: (text: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(async () => {
    await page.goto(url)
    const text = await page.innerText('main')
    return predicate(text) ? text : null
  }, timeoutMs, what)
}

describeInChromium('dashboard in Chromium against the real API, runner and loopback WhatsApp server', () => {
  let t: TestDatabase
  let loopback: LoopbackServer
  let runner: Runner
  let api: StartedApi
  let browser: Browser
  let ctx: BrowserContext
  let page: Page
  let base: string
  let sentId = 0

  const control = async (path: string, body?: unknown) => {
    const res = await fetch(`${loopback.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    if (!res.ok) throw new Error(`loopback ${path}: ${res.status} ${await res.text()}`)
    return res.json()
  }

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    loopback = await startLoopbackServer()
    // A 463 pauses the session for 9 s here (24 h in production), so a resend can go out within the test.
    runner = await startRunner(t.db, await loopbackFactory(t.db, loopback, newKey()), testConfig({ pauseOn463Hours: 0.0025 }))
    api = await serveDashboard(t.db)
    base = api.server.url.replace('localhost', '127.0.0.1')
    browser = await launchBrowser()
    ctx = await browser.newContext({ viewport: DESKTOP })
    page = await ctx.newPage()
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await runner?.stop()
    await api?.stop()
    await loopback?.stop()
    await t?.drop()
  }, 60_000)

  it('a wrong key cannot sign in', async () => {
    await page.goto(`${base}/dashboard/messages`)
    expect(new URL(page.url()).pathname).toBe('/dashboard/sign-in')
    await shot(page, 'sign-in')
    await signInWith(page, base, 'not-the-key')
    expect(new URL(page.url()).pathname).toBe('/dashboard/sign-in')
    expect(await page.innerText('#api_key-error')).toContain('That is not a valid API key')
    expect(await page.getAttribute('#api_key', 'aria-invalid')).toBe('true')
    expect(await ctx.cookies()).toHaveLength(0)
    await shot(page, 'sign-in-wrong-key')
  })

  it('signs in with the API key (HttpOnly, SameSite=Strict cookie) and shows the overview', async () => {
    await signInWith(page, base, KEY)
    expect(new URL(page.url()).pathname).toBe('/dashboard')
    expect(await page.innerText('h1')).toBe('Overview')
    const [cookie] = await ctx.cookies()
    expect(cookie).toMatchObject({ name: 'wa_dashboard', httpOnly: true, sameSite: 'Strict', path: '/dashboard' })
    expect(cookie!.expires).toBeGreaterThan(Date.now() / 1000 + 11 * 3600)
    // The cookie is invisible to scripts.
    expect(await page.evaluate(() => document.cookie)).toBe('')
    await shot(page, 'overview-start')
  })

  it('a new session shows a QR; scanning it through the loopback control API turns the page online without a reload', async () => {
    await page.goto(`${base}/dashboard/sessions`)
    await page.fill('#name', 'support')
    await Promise.all([page.waitForURL(/done=created/), page.click('text=Add session')])
    expect(await page.innerText('.notice')).toContain('Session “support” created')

    let navigations = 0
    const onNav = (frame: unknown) => {
      if (frame === page.mainFrame()) navigations++
    }
    page.on('framenavigated', onNav)
    await page.evaluate(() => {
      ;(window as unknown as { stillHere: boolean }).stillHere = true
    })
    const card = page.locator('[data-session="support"]')
    const img = card.locator('[data-field="qr"] img')
    await img.waitFor({ state: 'visible', timeout: 20_000 })
    expect(await img.getAttribute('src')).toMatch(/^data:image\/png;base64,/)
    expect(await card.locator('[data-field="status"]').innerText()).toBe('connecting')
    await shot(page, 'sessions-qr')

    // The raw QR text is what a phone reads from the image; the API exposes it as `qr`.
    const status = (await (await fetch(`${base}/api/status?session=support`, { headers: { 'X-API-Key': KEY } })).json()) as { qr: string }
    expect(status.qr).toBeTruthy()
    const { phone } = await control('/control/scan', { qr: status.qr })

    await card.locator('.online-now').waitFor({ state: 'visible', timeout: 30_000 })
    expect(await card.locator('[data-field="status"]').innerText()).toBe('online')
    expect(await card.locator('[data-field="phone"]').innerText()).toBe(`+${phone}`)
    expect(await card.locator('[data-field="qr"] img').count()).toBe(0)
    expect(await page.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere)).toBe(true)
    expect(navigations).toBe(0)
    page.off('framenavigated', onNav)
    await shot(page, 'sessions-online')
  })

  it('sends a text from the form; it appears in the audit log and becomes delivered', async () => {
    const body = 'مرحبا من لوحة التحكم 👋🏽 ✅'
    await page.goto(`${base}/dashboard/send`)
    await page.fill('#phone', '+961 70 123 456')
    await page.selectOption('#session', 'support')
    await page.fill('#message', body)
    await Promise.all([page.waitForURL(/sent=\d+/), page.click('text=Queue message')])
    const link = page.locator('#sent-link')
    sentId = Number(/messages\/(\d+)/.exec((await link.getAttribute('href'))!)![1])
    await shot(page, 'send-queued')
    await Promise.all([page.waitForURL(new RegExp(`/dashboard/messages/${sentId}$`)), link.click()])

    const text = await reloadUntil(page, `${base}/dashboard/messages/${sentId}`, (s) => /Delivered to the phone — \d{4}/.test(s), 'delivered')
    expect(text).toContain(body)
    expect(text).toContain('Sent to WhatsApp —')
    const received = (await control('/control/messages?to=96170123456')) as Array<{ text?: string }>
    expect(received.map((m) => m.text)).toContain(body)
    await reloadUntil(page, `${base}/dashboard/messages/${sentId}`, (s) => /Read — \d{4}/.test(s), 'read receipt', 10_000)
    await shot(page, 'message-detail-read')

    await page.goto(`${base}/dashboard/messages`)
    const row = page.locator(`[data-message-id="${sentId}"]`)
    expect(await row.locator('.badge').last().innerText()).toMatch(/delivered|read/)
    expect(await row.locator('[dir="auto"]').first().innerText()).toBe(body)
    await shot(page, 'messages')
  })

  it('sends to a group picked from the Send form; every other member decrypts it; the audit log shows its subject', async () => {
    const me = (await getSession(t.db, 'support'))!.phone!
    const members = ['96170123470', '96170123471']
    // Made while the session is online: the runner lists it from its notification.
    const { id } = (await control('/control/groups', { subject: 'Kitchen 🍳', participants: [me, ...members] })) as { id: string }
    await waitFor(async () => {
      await page.goto(`${base}/dashboard/send?session=support`)
      return (await page.locator(`#group option[value="${id}"]`).count()) === 1
    }, 20_000, 'the group offered on Send')
    expect(await page.locator(`#group option[value="${id}"]`).innerText()).toBe('Kitchen 🍳 (3 members)')
    await page.selectOption('#group', id)
    await page.fill('#message', 'Orders open at 9 ✅')
    await Promise.all([page.waitForURL(/sent=\d+/), page.click('text=Queue message')])
    const groupSent = Number(/messages\/(\d+)/.exec((await page.locator('#sent-link').getAttribute('href'))!)![1])
    expect((await getMessage(t.db, groupSent))?.phone).toBe(id)
    const received = await waitFor(async () => {
      const r = (await control(`/control/messages?group=${encodeURIComponent(id)}`)) as Array<{ to: string; text?: string }>
      return r.length === 2 ? r : null
    }, 30_000, 'both members decrypting it')
    expect(received.map((m) => [m.to, m.text]).sort()).toEqual(members.map((to) => [to, 'Orders open at 9 ✅']))
    await page.goto(`${base}/dashboard/messages?group=${encodeURIComponent(id)}`)
    const row = page.locator(`[data-message-id="${groupSent}"]`)
    expect(await row.locator('[data-label="To"]').innerText()).toBe('Group “Kitchen 🍳”')
    expect(await page.locator('[data-message-id]').count()).toBe(1)
    await shot(page, 'messages-group')
  })

  it('sends an image with a caption from the form; the contact receives it compressed, the audit entry shows it', async () => {
    const png = await sharp({ create: { width: 1600, height: 900, channels: 3, background: '#2a7a5a' } }).png().toBuffer()
    await page.goto(`${base}/dashboard/send`)
    await page.fill('#phone', '96170123458')
    await page.selectOption('#session', 'support')
    // Only the chosen kind's fields show (CSS :has on the checked radio, no script).
    expect(await page.isVisible('#file')).toBe(false)
    await page.check('#kind-location')
    expect(await page.isVisible('#latitude')).toBe(true)
    expect(await page.isVisible('#message')).toBe(false)
    await page.check('#kind-image')
    expect(await page.isVisible('#latitude')).toBe(false)
    expect(await page.isVisible('#file')).toBe(true)
    expect(await page.innerText('#file-hint')).toMatch(/^JPG, PNG, GIF or WEBP, at most 10 MB\.\s*$/)
    await page.fill('#message', 'صورة الطلب 📷')
    await page.setInputFiles('#file', { name: 'order.png', mimeType: 'image/png', buffer: png })
    await Promise.all([page.waitForURL(/sent=\d+/), page.click('text=Queue message')])
    const id = Number(/messages\/(\d+)/.exec((await page.locator('#sent-link').getAttribute('href'))!)![1])
    const got = await waitFor(
      async () => ((await control('/control/messages?to=96170123458')) as Array<{ type: string; caption?: string; width?: number }>).find((m) => m.type === 'image'),
      30_000,
      'the image at the contact',
    )
    expect(got).toMatchObject({ caption: 'صورة الطلب 📷', width: 1280 })
    await page.goto(`${base}/dashboard/messages/${id}`)
    const thumb = page.locator('img.thumb')
    await thumb.waitFor()
    expect(await thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1600)
    await shot(page, 'message-detail-image')
  })

  it('schedules a send at a time picked in the browser’s own time zone', async () => {
    const zoned = await browser.newContext({ viewport: DESKTOP, timezoneId: 'America/New_York' })
    try {
      const p = await zoned.newPage()
      await signInWith(p, base, KEY)
      await p.goto(`${base}/dashboard/send`)
      // December in New York is UTC−05:00; the page names the zone the picked time is read in.
      expect(await p.innerText('#send_at-zone')).toBe('your time zone (America/New_York, UTC\u221205:00)')
      const day = `${new Date().getUTCFullYear() + 1}-01-15`
      await p.fill('#phone', '+961 70 123 457')
      await p.fill('#message', 'Reminder: your appointment is tomorrow')
      await p.fill('#send_at', `${day}T09:30`)
      await Promise.all([p.waitForURL(/sent=\d+/), p.click('text=Queue message')])
      expect(await p.innerText('[data-field="scheduled"]')).toBe(`${day} 14:30:00 UTC`)
      const id = Number(/sent=(\d+)/.exec(p.url())![1])
      const m = await getMessage(t.db, id)
      expect(m!.sendAt!.toISOString()).toBe(`${day}T14:30:00.000Z`)
      expect(m!.status).toBe('pending')
      await shot(p, 'send-scheduled')
    } finally {
      await zoned.close()
    }
  })

  it('a failed message is resent from its Resend button and then delivered', async () => {
    const recipient = '96170999463'
    await control('/control/fault', { phone: recipient, kind: 'nack463' })
    await page.goto(`${base}/dashboard/send`)
    await page.fill('#phone', recipient)
    await page.selectOption('#session', 'support')
    await page.fill('#message', 'This one is refused first')
    await Promise.all([page.waitForURL(/sent=\d+/), page.click('text=Queue message')])
    const id = Number(/messages\/(\d+)/.exec((await page.locator('#sent-link').getAttribute('href'))!)![1])
    await waitFor(async () => (await getMessage(t.db, id))?.status === 'failed', 20_000, 'failed by 463')

    await page.goto(`${base}/dashboard`)
    expect(await page.innerText('main')).toContain('support is paused until')
    await shot(page, 'overview-failure-and-pause')
    await control('/control/fault', { phone: recipient, kind: 'none' })

    await page.goto(`${base}/dashboard/messages?status=failed`)
    const row = page.locator(`[data-message-id="${id}"]`)
    expect(await row.innerText()).toContain('negative ack 463')
    await shot(page, 'messages-failed')
    await Promise.all([page.waitForURL(/done=resent/), row.locator('button', { hasText: 'Resend' }).click()])
    expect(await page.innerText('.notice')).toContain(`Message #${id} is back in the queue`)
    expect((await getMessage(t.db, id))!.status).not.toBe('failed')

    // Sent once the 9 s pause is over.
    await reloadUntil(page, `${base}/dashboard/messages/${id}`, (s) => /Delivered to the phone — \d{4}/.test(s), 'resent and delivered', 40_000)
    await shot(page, 'message-detail-resent')
  }, 90_000)

  it('a form post without the CSRF token is refused', async () => {
    await page.goto(`${base}/dashboard/sessions`)
    await page.evaluate(() => {
      const form = document.querySelector('form[action="/dashboard/sessions"]') as HTMLFormElement
      form.querySelector('input[name="_csrf"]')!.remove()
      ;(form.querySelector('#name') as HTMLInputElement).value = 'csrf-test'
    })
    const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('text=Add session')])
    expect(response.status()).toBe(403)
    await page.waitForLoadState('load')
    expect(await page.innerText('h1')).toBe('Request refused')
    expect(await getSession(t.db, 'csrf-test')).toBeNull()
    await shot(page, 'csrf-refused')
  })

  it('deletes a session after a confirmation page (the default session offers no delete)', async () => {
    await createSession(t.db, 'old-line')
    await page.goto(`${base}/dashboard/sessions`)
    expect(await page.locator('[data-session="default"] a', { hasText: 'Delete' }).count()).toBe(0)
    await Promise.all([page.waitForURL(/old-line\/delete$/), page.locator('[data-session="old-line"] a', { hasText: 'Delete' }).click()])
    expect(await page.innerText('h1')).toBe('Delete session “old-line”?')
    await shot(page, 'session-delete-confirm')
    await Promise.all([page.waitForURL(/done=deleted/), page.click('button:has-text("Delete old-line")')])
    expect(await page.locator('[data-session="old-line"]').count()).toBe(0)
    await waitFor(async () => (await getSession(t.db, 'old-line')) === null, 15_000, 'the runner removed old-line')
  })

  it('changes a contact’s consent from the Contacts page', async () => {
    await page.goto(`${base}/dashboard/contacts`)
    await page.fill('#set-phone', '+961 70 123 456')
    await page.selectOption('#set-opt-in', 'yes')
    await Promise.all([page.waitForURL(/done=set/), page.click('text=Save state')])
    expect(await page.innerText('.notice')).toContain('+96170123456 is now “yes”.')
    expect(await page.locator('[data-contact="96170123456"] .badge').innerText()).toBe('yes')
    await shot(page, 'contacts')
  })

  it('works at phone width, is keyboard reachable, and every page gets a screenshot', async () => {
    const phoneCtx = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true })
    try {
      const p = await phoneCtx.newPage()
      await signInWith(p, base, KEY)
      for (const [path, name] of [
        ['/dashboard', 'overview'], ['/dashboard/sessions', 'sessions'], ['/dashboard/messages', 'messages'],
        [`/dashboard/messages/${sentId}`, 'message-detail'], ['/dashboard/send', 'send'], ['/dashboard/contacts', 'contacts'],
      ] as const) {
        await p.goto(`${base}${path}`)
        // Nothing overflows sideways at 390 px.
        expect(await p.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(PHONE.width)
        await shot(p, `phone-${name}`)
      }
      // Keyboard: the first Tab lands on the skip link, the next ones walk the navigation.
      await p.goto(`${base}/dashboard/send`)
      await p.keyboard.press('Tab')
      expect(await p.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content')
      await p.keyboard.press('Tab')
      await p.keyboard.press('Tab')
      expect(await p.evaluate(() => document.activeElement?.textContent)).toBe('Overview')
      // The send form can be filled and submitted from the keyboard alone.
      await p.focus('#phone')
      await p.keyboard.type('96170123457')
      // Past the group list and the group id (left empty: the phone is the recipient), then the session, to the message.
      for (let i = 0; i < 4; i++) await p.keyboard.press('Tab')
      expect(await p.evaluate(() => document.activeElement?.id)).toBe('message')
      await p.keyboard.type('typed with the keyboard')
      await p.focus('button[type=submit]:has-text("Queue message")')
      await Promise.all([p.waitForURL(/sent=\d+/), p.keyboard.press('Enter')])
    } finally {
      await phoneCtx.close()
    }
  })

  it('stays readable without JavaScript (the page shows the state as loaded)', async () => {
    const noJs = await browser.newContext({ viewport: DESKTOP, javaScriptEnabled: false })
    try {
      const p = await noJs.newPage()
      await signInWith(p, base, KEY)
      await p.goto(`${base}/dashboard/sessions`)
      expect(await p.locator('[data-session="support"] .online-now').innerText()).toContain('Online')
      await p.goto(`${base}/dashboard/messages/${sentId}`)
      expect(await p.innerText('main')).toContain('Delivered to the phone')
      await shot(p, 'no-js-sessions')
      // Without the script no offset is sent: the page says the time is read as UTC, and it is.
      await p.goto(`${base}/dashboard/send`)
      expect(await p.innerText('#send_at-hint')).toMatch(/^In UTC, up to a year ahead/)
    } finally {
      await noJs.close()
    }
  })
})

const SET_QR = each(
  `UPDATE sessions
   SET status = ?, qr_code = ?, phone = ?, updated_at = NOW(6)
 WHERE name = ?`,
  `UPDATE sessions
   SET status = $1, qr_code = $2, phone = $3, updated_at = now()
 WHERE name = $4`,
)

describeInChromium('live refresh of the Sessions page (no runner: the test writes what a runner would)', () => {
  let t: TestDatabase
  let api: StartedApi
  let browser: Browser
  let base: string

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    api = await serveDashboard(t.db)
    base = api.server.url.replace('localhost', '127.0.0.1')
    browser = await launchBrowser()
  }, 120_000)
  afterAll(async () => {
    await browser?.close()
    await api?.stop()
    await t?.drop()
  })

  it('swaps a rotating QR in place, then shows online, without reloading', async () => {
    const QR_A = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='
    const QR_B = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='
    await createSession(t.db, 'rotating')
    const ctx = await browser.newContext({ viewport: DESKTOP })
    const page = await ctx.newPage()
    await signInWith(page, base, KEY)
    await page.goto(`${base}/dashboard/sessions`)
    const card = page.locator('[data-session="rotating"]')
    expect(await card.locator('[data-field="qr"]').innerText()).toContain('Waiting for a QR code')
    let navigations = 0
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++
    })

    await t.db.execute(SET_QR[t.db.dialect], ['connecting', QR_A, null, 'rotating'])
    await page.waitForFunction((src) => document.querySelector('[data-session="rotating"] [data-field="qr"] img')?.getAttribute('src') === src, QR_A, { timeout: 10_000 })
    await t.db.execute(SET_QR[t.db.dialect], ['connecting', QR_B, null, 'rotating'])
    await page.waitForFunction((src) => document.querySelector('[data-session="rotating"] [data-field="qr"] img')?.getAttribute('src') === src, QR_B, { timeout: 10_000 })
    await t.db.execute(SET_QR[t.db.dialect], ['online', null, '9611234567', 'rotating'])
    await card.locator('.online-now').waitFor({ timeout: 10_000 })
    expect(await card.locator('.online-now').innerText()).toBe('Online — linked as +9611234567')
    expect(await card.locator('[data-field="status"]').innerText()).toBe('online')
    expect(navigations).toBe(0)
    await ctx.close()
  })
})
