import type { App } from '../../api/app.js'
import type { Db } from '../../db/driver.js'
import { each } from '../../db/sql.js'
import { sharedDatabase } from '../../api/middleware/database.js'
import { createNodeApp, type NodeApp } from '../../api/node.js'
import { parseApiConfig } from '../../api/config.js'
import { assetsFromCode, createDashboard, type DashboardOptions } from '../../api/dashboard/index.js'

export const KEY = 'dash-test-key-4f9a2c'
export const OTHER_KEY = 'dash-second-key-77b1'
export const ORIGIN = 'http://gateway.test'

/** The real API app with the dashboard mounted, as `npm start` builds it (minus the server). */
export function dashboardApp(db: Db, options: Partial<DashboardOptions> & { keys?: string[] } = {}): NodeApp {
  const config = parseApiConfig({ API_SECRET: (options.keys ?? [KEY, OTHER_KEY]).join(',') })
  const dashboard = createDashboard({ config, database: sharedDatabase(db), assets: assetsFromCode, signIn: { failureDelayMs: 0 }, ...options })
  return createNodeApp({ db, config, coalescer: false, dashboard })
}

export interface Browserish {
  cookie: string
  csrf: string
  get(path: string, init?: RequestInit): Promise<Response>
  post(path: string, fields: Record<string, string> | FormData, init?: { headers?: Record<string, string>; csrf?: string | null }): Promise<Response>
}

/** The `_csrf` value of the first form on a page. */
export function csrfFrom(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html)
  if (!m) throw new Error('no CSRF field on the page')
  return m[1]!
}

/** The `name=value` of a Set-Cookie header. */
export function cookiePair(setCookie: string | null): string {
  if (!setCookie) throw new Error('no Set-Cookie')
  return setCookie.split(';')[0]!
}

/** Signs in with `key` and returns a client that carries the cookie (and the CSRF token on POSTs). */
export async function signIn(app: App, key = KEY): Promise<Browserish> {
  const res = await app.request(`${ORIGIN}/dashboard/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
    body: new URLSearchParams({ api_key: key }),
  })
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}`)
  const cookie = cookiePair(res.headers.get('set-cookie'))
  const page = await app.request(`${ORIGIN}/dashboard`, { headers: { cookie } })
  const csrf = csrfFrom(await page.text())
  return {
    cookie,
    csrf,
    get: async (path, init = {}) => app.request(`${ORIGIN}${path}`, { ...init, headers: { cookie, ...(init.headers as Record<string, string>) } }),
    post: async (path, fields, init = {}) => {
      const token = init.csrf === undefined ? csrf : init.csrf
      let body: BodyInit
      const headers: Record<string, string> = { cookie, origin: ORIGIN, ...init.headers }
      if (fields instanceof FormData) {
        if (token !== null) fields.set('_csrf', token)
        body = fields
      } else {
        const params = new URLSearchParams(fields)
        if (token !== null) params.set('_csrf', token)
        body = params
        headers['content-type'] = 'application/x-www-form-urlencoded'
      }
      return app.request(`${ORIGIN}${path}`, { method: 'POST', headers, body })
    },
  }
}

const SET_STATUS = each(
  `UPDATE messages
   SET status = ?, error = ?, attempts = ?, sent_at = ?, delivered_at = ?, read_at = ?, updated_at = NOW(6)
 WHERE id = ?`,
  `UPDATE messages
   SET status = $1, error = $2, attempts = $3, sent_at = $4, delivered_at = $5, read_at = $6, updated_at = now()
 WHERE id = $7`,
)

/** Test-only: puts a message in a given state, as the runner would have. */
export async function setMessageState(
  db: Db,
  id: number,
  state: { status: string; error?: string | null; attempts?: number; sentAt?: Date | null; deliveredAt?: Date | null; readAt?: Date | null },
): Promise<void> {
  await db.execute(SET_STATUS[db.dialect], [
    state.status, state.error ?? null, state.attempts ?? 0, state.sentAt ?? null, state.deliveredAt ?? null, state.readAt ?? null, id,
  ])
}

const SET_SESSION = each(
  `UPDATE sessions
   SET status = ?, phone = ?, qr_code = ?, detail = ?, last_seen = ?, paused_until = ?, updated_at = NOW(6)
 WHERE name = ?`,
  `UPDATE sessions
   SET status = $1, phone = $2, qr_code = $3, detail = $4, last_seen = $5, paused_until = $6, updated_at = now()
 WHERE name = $7`,
)

/** Test-only: session state as a runner reports it. */
export async function setSessionState(
  db: Db,
  name: string,
  s: { status: string; phone?: string | null; qrCode?: string | null; detail?: string | null; lastSeen?: Date | null; pausedUntil?: Date | null },
): Promise<void> {
  await db.execute(SET_SESSION[db.dialect], [
    s.status, s.phone ?? null, s.qrCode ?? null, s.detail ?? null, s.lastSeen ?? null, s.pausedUntil ?? null, name,
  ])
}

/** A valid 1×1 PNG. */
export const TINY_PNG = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='),
  (ch) => ch.charCodeAt(0),
)

/** The text of a page with tags removed and whitespace collapsed (for readable assertions). */
export function textOf(html: string): string {
  return html
    .replace(/<script[\s\S]*?<\/script>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, ' ')
    .trim()
}
