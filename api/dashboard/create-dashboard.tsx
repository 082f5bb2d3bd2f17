import { Hono } from 'hono'
import { deleteCookie, setCookie } from 'hono/cookie'
import { ContentionError, DatabaseUnavailableError } from '../../db/driver.js'
import { ConfigError } from '../../db/shared/settings.js'
import { countMessagesByStatus, countSentSince, listMessages } from '../../db/queries/messages.js'
import { listSessions } from '../../db/queries/sessions.js'
import type { ApiConfig } from '../config.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { createSchemas, type Schemas } from '../schemas.js'
import { createSessionGate, type SessionGate } from '../session-gate.js'
import { LIVE_JS, SEND_JS, STYLE_CSS } from './assets.js'
import { createDashboardAuth } from './auth.js'
import { field, pageOf, safeReturn, type DashboardContext, type DashboardEnv, type DashboardShared } from './context.js'
import { csrfToken, dashboardHeaders, readForm, requireSignIn, sameOrigin } from './middleware.js'
import { notFoundPage } from './respond.js'
import { contactPages } from './routes/contacts.js'
import { messagePages } from './routes/messages.js'
import { SEND_FORM_OVERHEAD, sendPages } from './routes/send.js'
import { liveSessionsJson, sessionPages } from './routes/sessions.js'
import { webhookPages } from './routes/webhooks.js'
import { clientAddress, createSignInThrottle, type SignInThrottleOptions } from './sign-in-throttle.js'
import { ErrorPage } from './views/error.js'
import { OverviewPage } from './views/overview.js'
import { SignInPage } from './views/sign-in.js'

export interface DashboardOptions {
  /** The API's configuration: its keys sign in, its limits validate the Send form. */
  config: ApiConfig
  /** `DASHBOARD_COOKIE_SECRET`; without it a secret is derived from the API keys (HKDF). */
  cookieSecret?: string
  /** Sign-in lifetime (default 12 h). */
  sessionTtlMs?: number
  /** Where the app mounts the dashboard (default `/dashboard`); links and the cookie Path use it. */
  base?: string
  /** The API's schemas and session gate, shared so both sides validate alike (built here if absent). */
  schemas?: Schemas
  gate?: SessionGate
  /**
   * `DASHBOARD_ORIGIN`: the public origin(s) of the dashboard (`https://wa.example.com`), needed only
   * when a reverse proxy forwards neither the Host header nor X-Forwarded-Host.
   */
  publicOrigins?: string[]
  signIn?: SignInThrottleOptions
  clock?: () => number
}

/** Dashboard settings from the environment record (entries pass `process.env` or Workers bindings). */
export function parseDashboardOptions(
  env: Record<string, string | undefined>,
): Pick<DashboardOptions, 'cookieSecret' | 'sessionTtlMs' | 'publicOrigins'> {
  const secret = env.DASHBOARD_COOKIE_SECRET?.trim()
  if (secret && secret.length < 32) {
    throw new ConfigError('DASHBOARD_COOKIE_SECRET must be at least 32 characters (e.g. $(openssl rand -hex 32)), or leave it unset')
  }
  const hours = env.DASHBOARD_SESSION_HOURS?.trim()
  if (hours && !/^\d{1,4}$/.test(hours)) throw new ConfigError(`DASHBOARD_SESSION_HOURS must be a whole number of hours (got "${hours}")`)
  const origins = (env.DASHBOARD_ORIGIN ?? '').split(',').map((o) => o.trim()).filter(Boolean)
  for (const o of origins) {
    if (!/^https?:\/\/[^/\s]+$/i.test(o)) throw new ConfigError(`DASHBOARD_ORIGIN must list origins such as https://wa.example.com (got "${o}")`)
  }
  return {
    ...(origins.length ? { publicOrigins: origins } : {}),
    ...(secret ? { cookieSecret: secret } : {}),
    ...(hours ? { sessionTtlMs: Math.max(1, Number(hours)) * 3_600_000 } : {}),
  }
}

const FORM_LIMIT = 64 * 1024
const COOKIE_NAME = 'wa_dashboard'

/**
 * The dashboard as a Hono sub-app, mounted by the API with `app.route('/dashboard', createDashboard(…))`.
 * It reads `c.get('db')` (set per request by the API's middleware) and uses web-standard APIs only,
 * so it runs wherever the API runs.
 *
 * Route order matters: Hono runs handlers in registration order, so the public routes (assets,
 * sign-in) are registered before `requireSignIn`, and everything after it needs a session.
 * @example app.route('/dashboard', createDashboard({ config }))
 */
export function createDashboard(options: DashboardOptions): Hono<AppEnv> {
  const base = (options.base ?? '/dashboard').replace(/\/+$/, '')
  const clock = options.clock ?? Date.now
  const shared: DashboardShared = {
    base,
    cookieName: COOKIE_NAME,
    auth: createDashboardAuth({
      apiKeys: options.config.apiKeys,
      cookieSecret: options.cookieSecret,
      sessionTtlMs: options.sessionTtlMs,
      clock,
    }),
    config: options.config,
    schemas: options.schemas ?? createSchemas(options.config),
    gate: options.gate ?? createSessionGate({ ttlMs: options.config.sessionCacheMs }),
    clock,
  }
  const { auth } = shared
  const throttle = createSignInThrottle({ clock, ...options.signIn })
  const signInPath = `${base}/sign-in`

  const app = new Hono<DashboardEnv>()

  const refuse = (c: DashboardContext) =>
    c.html(
      <ErrorPage
        base={base}
        title="Request refused"
        text="This form did not come from a dashboard page of this site (missing or wrong security token, or another site's origin). Go back, reload the page and try again."
      />,
      403,
    )

  app.onError((err, c) => {
    if (err instanceof ApiError) {
      const page = c.var.signedIn ? pageOf(shared, c) : null
      return c.html(<ErrorPage page={page} base={base} title="Request not accepted" text={err.message} />, err.status as 400)
    }
    if (err instanceof DatabaseUnavailableError || err instanceof ContentionError) {
      c.header('Retry-After', '5')
      return c.html(<ErrorPage base={base} title="Database unavailable" text="The database is unavailable right now; nothing was changed. Reload in a few seconds." />, 503)
    }
    c.get('log')?.error({ err, requestId: c.get('requestId'), path: c.req.path }, 'dashboard error')
    return c.html(
      <ErrorPage base={base} title="Something went wrong" text={`Internal error (request id ${c.get('requestId') ?? 'unknown'}); the details are in the server log.`} />,
      500,
    )
  })

  app.use('*', dashboardHeaders())
  app.use('*', sameOrigin({ onRefuse: refuse, extraHosts: (options.publicOrigins ?? []).map((o) => new URL(o).host) }))

  // ---- public: assets and sign-in ----
  const asset = (body: string, type: string) => (c: DashboardContext) =>
    c.body(body, 200, { 'Content-Type': `${type}; charset=utf-8`, 'Cache-Control': 'public, max-age=300' })
  app.get('/assets/style.css', asset(STYLE_CSS, 'text/css'))
  app.get('/assets/live.js', asset(LIVE_JS, 'text/javascript'))
  app.get('/assets/send.js', asset(SEND_JS, 'text/javascript'))

  app.get('/sign-in', async (c) => {
    const next = safeReturn(base, c.req.query('next'), base)
    const signedOut = c.req.query('signed_out') === '1'
    const expired = c.req.query('next') !== undefined && !signedOut
    return c.html(
      <SignInPage
        base={base}
        next={next}
        notice={
          signedOut ? { kind: 'ok', text: 'You are signed out.' } : expired ? { kind: 'warn', text: 'Sign in to continue.' } : null
        }
      />,
    )
  })

  app.post('/sign-in', async (c) => {
    const ip = clientAddress(c.req.raw.headers)
    const locked = throttle.lockedFor(ip)
    if (locked > 0) {
      const seconds = Math.ceil(locked / 1000)
      c.header('Retry-After', String(seconds))
      return c.html(
        <SignInPage base={base} next={base} error={`Too many failed sign-ins from your address. Wait ${seconds} s, then try again.`} />,
        429,
      )
    }
    await throttle.sleep(throttle.globalDelay())
    const form = await readForm(c.req.raw, 8 * 1024)
    const next = safeReturn(base, field(form, 'next'), base)
    const key = await auth.matchKey(field(form, 'api_key') ?? '')
    if (!key) {
      await throttle.sleep(throttle.recordFailure(ip))
      return c.html(
        <SignInPage base={base} next={next} error="That is not a valid API key. Use the value of API_SECRET (any one of them during a rotation)." />,
        401,
      )
    }
    throttle.recordSuccess(ip)
    const { value, expires } = await auth.issue(key)
    const secure = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https'
    setCookie(c, COOKIE_NAME, value, {
      path: base,
      httpOnly: true,
      sameSite: 'Strict',
      secure,
      expires,
      maxAge: Math.floor(auth.sessionTtlMs / 1000),
    })
    return c.redirect(next, 303)
  })

  // ---- everything below needs a signed-in session; POSTs also need the CSRF token ----
  app.use('*', requireSignIn({ auth, cookieName: COOKIE_NAME, signInPath }))
  app.use(
    '*',
    csrfToken({
      auth,
      limitFor: (path) => (path === `${base}/send` ? shared.config.imageMaxBytes + SEND_FORM_OVERHEAD : FORM_LIMIT),
      onRefuse: refuse,
    }),
  )

  app.post('/sign-out', (c) => {
    deleteCookie(c, COOKIE_NAME, { path: base, httpOnly: true, sameSite: 'Strict' })
    return c.redirect(`${signInPath}?signed_out=1`, 303)
  })

  app.get('/', async (c) => {
    const db = c.get('db')
    const [sessions, counts, sentLast24h, recentFailures] = [
      await listSessions(db),
      await countMessagesByStatus(db),
      await countSentSince(db, 86_400),
      await listMessages(db, { status: 'failed', limit: 5 }),
    ]
    return c.html(<OverviewPage page={pageOf(shared, c)} data={{ sessions, counts, sentLast24h, recentFailures }} />)
  })

  app.get('/sessions.json', liveSessionsJson(shared))
  app.route('/sessions', sessionPages(shared))
  app.route('/', messagePages(shared))
  app.route('/send', sendPages(shared))
  app.route('/contacts', contactPages(shared))
  app.route('/webhooks', webhookPages(shared))

  app.all('*', (c) => notFoundPage(shared, c, `There is no dashboard page at ${c.req.path}.`))

  // The extra variables (signedIn, form) are set by this app's own middleware before any handler
  // reads them, so to the API it is an ordinary Hono<AppEnv> sub-app.
  return app as unknown as Hono<AppEnv>
}
