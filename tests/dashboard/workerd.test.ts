/**
 * The dashboard on workerd (Miniflare): the bundle wrangler builds for Workers signs in with Web
 * Crypto cookies, renders hono/jsx pages, refuses a post without the CSRF token and accepts one with it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildWorker, workerAliases } from '../../infra/build-worker.js'
import { textOf } from './support.js'

const KEY = 'workerd-dash-key-0123'
const ORIGIN = 'http://dash.test'
const ROOT = resolve(import.meta.dirname, '..', '..')

describe('dashboard on workerd (Miniflare)', () => {
  let dir: string
  let mf: Miniflare
  let cookie = ''

  const request = async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers)
    if (cookie) headers.set('cookie', cookie)
    const res = await mf.dispatchFetch(`${ORIGIN}${path}`, { ...init, headers, redirect: 'manual' } as never)
    return res as unknown as Response
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wa-dash-workerd-'))
    const config = join(dir, 'wrangler.toml')
    writeFileSync(
      config,
      [
        'name = "wa-dashboard-workerd-test"',
        `main = ${JSON.stringify(join(ROOT, 'tests/dashboard/workerd/worker.ts'))}`,
        'compatibility_date = "2026-04-26"',
        'compatibility_flags = ["nodejs_compat"]',
        // As in infra/wrangler.toml: db/migrate.ts reads import.meta.url at import time.
        '[define]',
        `"import.meta.url" = '"file:///bundle/worker.js"'`,
        // The same stand-ins as the deployed worker (infra/wrangler.toml [alias]).
        '[alias]',
        ...Object.entries(workerAliases()).map(([from, to]) => `${JSON.stringify(from)} = ${JSON.stringify(to)}`),
        '',
      ].join('\n'),
    )
    const built = await buildWorker({ outdir: join(dir, 'out'), config })
    mf = new Miniflare({
      modules: true,
      scriptPath: built.script,
      // Module names are relative to this root; the default (cwd) cannot reach a bundle in /tmp.
      modulesRoot: dirname(built.script),
      compatibilityDate: '2026-04-26',
      compatibilityFlags: ['nodejs_compat'],
      bindings: { API_SECRET: KEY, DASHBOARD_COOKIE_SECRET: 'c'.repeat(40) },
    })
    await mf.ready
  }, 180_000)

  afterAll(async () => {
    await mf?.dispose()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('renders the sign-in page and refuses a wrong key', async () => {
    const page = await request('/dashboard/sign-in')
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('name="api_key"')
    const wrong = await request('/dashboard/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
      body: new URLSearchParams({ api_key: 'nope' }).toString(),
    })
    expect(wrong.status).toBe(401)
  })

  it('signs in and renders pages with the Web Crypto cookie', async () => {
    const res = await request('/dashboard/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
      body: new URLSearchParams({ api_key: KEY }).toString(),
    })
    expect(res.status).toBe(303)
    const setCookie = res.headers.get('set-cookie')!
    expect(setCookie).toMatch(/HttpOnly/)
    expect(setCookie).toMatch(/SameSite=Strict/)
    cookie = setCookie.split(';')[0]!
    const overview = await request('/dashboard')
    expect(overview.status).toBe(200)
    expect(textOf(await overview.text())).toContain('Overview')
    const sessions = await (await request('/dashboard/sessions')).text()
    expect(sessions).toContain('<img src="data:image/png;base64,QUFB"')
    const live = (await (await request('/dashboard/sessions.json')).json()) as { sessions: Array<{ name: string; qr_code: string }> }
    expect(live.sessions[0]).toMatchObject({ name: 'default', qr_code: 'data:image/png;base64,QUFB' })
  })

  it('refuses a post without the CSRF token and accepts one with it', async () => {
    const form = (extra: Record<string, string>) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
      body: new URLSearchParams({ name: 'edge', ...extra }).toString(),
    })
    expect((await request('/dashboard/sessions', form({}))).status).toBe(403)
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await request('/dashboard/sessions')).text())![1]!
    const ok = await request('/dashboard/sessions', form({ _csrf: csrf }))
    expect(ok.status).toBe(303)
    expect(ok.headers.get('location')).toBe('/dashboard/sessions?done=created&name=edge')
    expect(await (await request('/created')).json()).toEqual(['edge'])
  })

  it('signs out: the same cookie no longer opens a page', async () => {
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await request('/dashboard/sessions')).text())![1]!
    const out = await request('/dashboard/sign-out', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
      body: new URLSearchParams({ _csrf: csrf }).toString(),
    })
    expect(out.status).toBe(303)
    expect((await request('/dashboard')).status).toBe(303)
  })
})
