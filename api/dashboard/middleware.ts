import type { MiddlewareHandler } from 'hono'
import { getCookie, getSignedCookie } from 'hono/cookie'
import { csrf } from 'hono/csrf'
import { HTTPException } from 'hono/http-exception'
import { FORM_MAX_PARTS, mediaType, readBytes, readMultipart } from '../body.js'
import { ApiError } from '../errors.js'
import { noStore, pageHeaders } from '../middleware/security-headers.js'
import type { DashboardAuth } from './auth.js'
import type { DashboardEnv } from './context.js'

/**
 * Security headers for every dashboard answer: the pages' Content-Security-Policy (no inline code: the stylesheet
 * and the live-refresh script are served from `/dashboard/assets/`, QR images are `data:` URLs), no framing, and
 * no caching unless a handler says otherwise (the assets, the media).
 * @example app.use('*', ...dashboardHeaders())
 */
export const dashboardHeaders = (): MiddlewareHandler<DashboardEnv>[] => [pageHeaders(), noStore()]

function hostOf(url: string): string | null {
  try {
    return new URL(url).host.toLowerCase()
  } catch {
    return null
  }
}

export interface SameOriginOptions {
  onRefuse: (c: Parameters<MiddlewareHandler<DashboardEnv>>[0]) => Response | Promise<Response>
  /** Public hosts (`wa.example.com`) for proxies that pass neither Host nor X-Forwarded-Host. */
  extraHosts?: readonly string[]
}

/**
 * Hono's `csrf()`: refuses a form POST unless `Sec-Fetch-Site` says same-origin or `Origin` is this site. Only the
 * host of the Origin is compared, not the scheme, because behind a TLS-terminating proxy the app sees `http://`
 * while the browser says `https://`; `X-Forwarded-Host` is accepted too, since a cross-site form cannot set it.
 * Its refusal (an HTTPException) is turned into the dashboard's own 403 page.
 * @example app.use('*', sameOrigin({ onRefuse: (c) => c.text('refused', 403) }))
 */
export const sameOrigin = ({ onRefuse, extraHosts = [] }: SameOriginOptions): MiddlewareHandler<DashboardEnv> => {
  const check = csrf({
    origin: (origin, c) => {
      const from = hostOf(origin)
      const own = [
        hostOf(c.req.url), c.req.header('host')?.toLowerCase(), c.req.header('x-forwarded-host')?.split(',')[0]?.trim().toLowerCase(),
        ...extraHosts.map((h) => h.toLowerCase()),
      ]
      return from !== null && own.includes(from)
    },
  })
  return async function sameOrigin(c, next) {
    try {
      await check(c, async () => {})
    } catch (err) {
      if (err instanceof HTTPException && err.status === 403) return onRefuse(c)
      throw err
    }
    return next()
  }
}

/**
 * Reads a form body (urlencoded or multipart) with a byte limit and at most `FORM_MAX_PARTS` fields (every page's
 * form has a handful), using the API's limited readers.
 * @example const form = await readForm(c.req.raw, 64 * 1024)
 */
export async function readForm(req: Request, limit: number): Promise<FormData> {
  const type = mediaType(req)
  if (type === 'multipart/form-data') return readMultipart(req, limit)
  if (type === 'application/x-www-form-urlencoded') {
    const text = new TextDecoder().decode(await readBytes(req, limit, 'The form'))
    let fields = 1
    for (let at = text.indexOf('&'); at !== -1; at = text.indexOf('&', at + 1)) fields++
    if (fields > FORM_MAX_PARTS) throw new ApiError(413, 'too_many_parts', `The form has more than ${FORM_MAX_PARTS} fields; submit it from the dashboard page`)
    const form = new FormData()
    for (const [k, v] of new URLSearchParams(text)) form.append(k, v)
    return form
  }
  throw new ApiError(415, 'unsupported_media_type', 'Submit this form from the dashboard page')
}

export interface RequireSignInOptions {
  auth: DashboardAuth
  cookieName: string
  signInPath: string
}

/**
 * Lets a request through only with a signed cookie naming a live server-side session; otherwise pages redirect
 * to sign-in (remembering where to come back to) and JSON endpoints answer 401.
 * @example app.use('*', requireSignIn({ auth, cookieName: 'wa_dashboard', signInPath: '/dashboard/sign-in' }))
 */
export const requireSignIn = ({ auth, cookieName, signInPath }: RequireSignInOptions): MiddlewareHandler<DashboardEnv> =>
  async function requireSignIn(c, next) {
    const db = c.get('db')
    const key = getCookie(c, cookieName) ? await auth.cookieKey(db) : null
    const id = key ? await getSignedCookie(c, key, cookieName) : undefined
    const session = typeof id === 'string' ? await auth.findSession(db, id) : null
    if (!session) {
      if (c.req.path.endsWith('.json') || (c.req.header('accept') ?? '').startsWith('application/json')) {
        return c.json({ success: false, error: 'Sign in to the dashboard first', code: 'unauthorized' }, 401)
      }
      const url = new URL(c.req.url)
      const next = c.req.method === 'GET' ? `${url.pathname}${url.search}` : ''
      return c.redirect(next ? `${signInPath}?next=${encodeURIComponent(next)}` : signInPath, 303)
    }
    c.set('signedIn', { session: session.id, csrf: await auth.csrfToken(db, session.id) })
    return next()
  }

export interface CsrfTokenOptions {
  auth: DashboardAuth
  /** Body limit for a path (the Send form takes an image, other forms a few fields). */
  limitFor: (path: string) => number
  onRefuse: SameOriginOptions['onRefuse']
}

/**
 * On every POST of a signed-in request: reads the form once and checks its `_csrf` field (or an
 * `X-CSRF-Token` header) against the HMAC of the session id. Must run after `requireSignIn`.
 * @example app.use('*', csrfToken({ auth, limitFor: () => 65536, onRefuse }))
 */
export const csrfToken = ({ auth, limitFor, onRefuse }: CsrfTokenOptions): MiddlewareHandler<DashboardEnv> =>
  async function csrfToken(c, next) {
    if (c.req.method !== 'POST') return next()
    const form = await readForm(c.req.raw, limitFor(c.req.path))
    const given = c.req.header('x-csrf-token') ?? (typeof form.get('_csrf') === 'string' ? (form.get('_csrf') as string) : undefined)
    if (!(await auth.checkCsrf(c.get('db'), c.var.signedIn.session, given))) return onRefuse(c)
    c.set('form', form)
    return next()
  }
