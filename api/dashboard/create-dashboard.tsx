import { Hono } from '../hono-app.js'
import type { MiddlewareHandler } from 'hono'
import { deleteCookie, getCookie, setSignedCookie } from 'hono/cookie'
import { ContentionError, DatabaseUnavailableError } from '../../db/driver.js'
import { ConfigError } from '../../db/shared/settings.js'
import { countMessagesByStatus, countSentSince, listMessages } from '../../db/queries/messages.js'
import { listSessions } from '../../db/queries/sessions.js'
import type { ApiConfig } from '../config.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import type { DatabaseMiddleware } from '../middleware/database.js'
import { singleQuery } from '../query.js'
import { createSchemas, type Schemas } from '../schemas.js'
import { mediaKindRules, type MediaRuntime } from '../routes/send-media.js'
import { createSessionGate, type SessionGate } from '../session-gate.js'
import { DASHBOARD_ASSETS, type DashboardAsset, type DashboardAssetSource } from './asset-files.js'
import { createDashboardAuth } from './auth.js'
import { field, pageOf, safeReturn, type DashboardContext, type DashboardEnv, type DashboardShared } from './context.js'
import { csrfToken, dashboardHeaders, readForm, requireSignIn, sameOrigin } from './middleware.js'
import { notFoundPage } from './respond.js'
import { contactPages } from './routes/contacts.js'
import { messagePages } from './routes/messages.js'
import { SEND_FORM_OVERHEAD, sendPages } from './routes/send.js'
import { liveSessionsJson, sessionPages } from './routes/sessions.js'
import { webhookPages } from './routes/webhooks.js'
import { clientAddressResolver, parseTrustProxy, type SocketAddress, type TrustProxy } from './client-address.js'
import { createSignInThrottle, type SignInThrottleOptions } from './sign-in-throttle.js'
import { ErrorPage } from './views/error.js'
import { OverviewPage } from './views/overview.js'
import { SignInPage } from './views/sign-in.js'

export interface DashboardOptions {
  /** The API's configuration: its keys sign in, its limits validate the Send form. */
  config: ApiConfig
  /** Sets `c.get('db')` for the signed-in pages (the entry's own: api/middleware/database.ts, api/worker.ts). */
  database: DatabaseMiddleware
  /** How the stylesheet and scripts are answered: `assetsFromCode` (Node), or the worker's static assets (api/worker.ts). */
  assets: DashboardAssetSource
  /** `DASHBOARD_COOKIE_SECRET`; without it a random secret is generated once and kept in the database. */
  cookieSecret?: string
  /** Sign-in lifetime (default 12 h). */
  sessionTtlMs?: number
  /** Where the app mounts the dashboard (default `/dashboard`); links and the cookie Path use it. */
  base?: string
  /** The API's schemas and session gate, shared so both sides validate alike (built here if absent). */
  schemas?: Schemas
  gate?: SessionGate
  /** What the runtime offers media sends (ffmpeg for voice notes), the same the API's routes get. */
  media?: MediaRuntime
  /**
   * `DASHBOARD_ORIGIN`: the public origin(s) of the dashboard (`https://wa.example.com`), needed only
   * when a reverse proxy forwards neither the Host header nor X-Forwarded-Host.
   */
  publicOrigins?: string[]
  signIn?: SignInThrottleOptions
  /** `TRUST_PROXY`: which header, if any, names the client of a sign-in (default: none, the peer address). */
  trustProxy?: TrustProxy
  /** The peer's address (the Node entry passes the socket's); without it, and without a trusted header, all clients share one throttle bucket. */
  socketAddress?: SocketAddress
  clock?: () => number
}

/** What an entry passes to the dashboard: settings read from the environment, and what only the runtime knows. */
export type DashboardSettings = Pick<DashboardOptions, 'cookieSecret' | 'sessionTtlMs' | 'publicOrigins' | 'trustProxy' | 'socketAddress'>

/** Dashboard settings from the environment record (entries pass `process.env` or Workers bindings). */
export function parseDashboardOptions(
  env: Record<string, string | undefined>,
): DashboardSettings {
  const secret = env.DASHBOARD_COOKIE_SECRET?.trim()
  if (secret && secret.length < 32) {
    throw new ConfigError('DASHBOARD_COOKIE_SECRET must be at least 32 characters (e.g. $(openssl rand -hex 32)), or leave it unset')
  }
  const hours = env.DASHBOARD_SESSION_HOURS?.trim()
  // Browsers cap a cookie's lifetime at 400 days (9600 h), and Hono refuses to write a longer one.
  if (hours && (!/^\d{1,4}$/.test(hours) || Number(hours) > 9600)) {
    throw new ConfigError(`DASHBOARD_SESSION_HOURS must be a whole number of hours from 1 to 9600 (got "${hours}")`)
  }
  const origins = (env.DASHBOARD_ORIGIN ?? '').split(',').map((o) => o.trim()).filter(Boolean)
  for (const o of origins) {
    if (!/^https?:\/\/[^/\s]+$/i.test(o)) throw new ConfigError(`DASHBOARD_ORIGIN must list origins such as https://wa.example.com (got "${o}")`)
  }
  const trustProxy = parseTrustProxy(env.TRUST_PROXY)
  return {
    ...(origins.length ? { publicOrigins: origins } : {}),
    ...(trustProxy.kind !== 'none' ? { trustProxy } : {}),
    ...(secret ? { cookieSecret: secret } : {}),
    ...(hours ? { sessionTtlMs: Math.max(1, Number(hours)) * 3_600_000 } : {}),
  }
}

const FORM_LIMIT = 64 * 1024
const COOKIE_NAME = 'wa_dashboard'

/**
 * The dashboard as a Hono sub-app, mounted by the API with `app.route('/dashboard', createDashboard(…))`.
 * It reads `c.get('db')` (set by its `database` middleware, after sign-in) and uses web-standard APIs only,
 * so it runs wherever the API runs.
 *
 * Route order matters: Hono runs handlers in registration order, so the public routes (assets,
 * sign-in) are registered before `requireSignIn`, and everything after it needs a session.
 * @example app.route('/dashboard', createDashboard({ config, database: sharedDatabase(db), assets: assetsFromCode }))
 */
export function createDashboard(options: DashboardOptions): Hono<AppEnv> {
  const base = (options.base ?? '/dashboard').replace(/\/+$/, '')
  const clock = options.clock ?? Date.now
  const schemas = options.schemas ?? createSchemas(options.config)
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
    schemas,
    gate: options.gate ?? createSessionGate({ ttlMs: options.config.sessionCacheMs }),
    kinds: mediaKindRules(options.config, schemas, options.media ?? {}),
    media: options.media ?? {},
    clock,
  }
  const { auth } = shared
  const throttle = createSignInThrottle({ clock, ...options.signIn })
  const addressOf = clientAddressResolver({ trustProxy: options.trustProxy ?? { kind: 'none' }, socketAddress: options.socketAddress })
  const signInPath = `${base}/sign-in`
  // The Send form carries one file of any kind: its limit is the largest kind's.
  const sendFormLimit = Math.max(...Object.values(shared.kinds).map((k) => k.maxBytes)) + SEND_FORM_OVERHEAD

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

  app.use('*', ...dashboardHeaders())
  app.use('*', sameOrigin({ onRefuse: refuse, extraHosts: (options.publicOrigins ?? []).map((o) => new URL(o).host) }))

  // ---- public: assets and sign-in ----
  for (const [asset, { path }] of Object.entries(DASHBOARD_ASSETS)) app.get(path, options.assets(asset as DashboardAsset))

  app.get('/sign-in', async (c) => {
    const query = singleQuery(c)
    const next = safeReturn(base, query.next, base)
    const signedOut = query.signed_out === '1'
    const expired = query.next !== undefined && !signedOut
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

  // Signing in reads the dashboard secret and writes a session row: it needs the database (the page itself does not).
  app.post('/sign-in', options.database, async (c) => {
    // Reserved before anything is awaited, so concurrent guesses cannot all pass the lock check.
    const attempt = throttle.attempt(addressOf(c))
    if ('retryAfterMs' in attempt) {
      const seconds = Math.ceil(attempt.retryAfterMs / 1000)
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
      await throttle.sleep(attempt.failed())
      return c.html(
        <SignInPage base={base} next={next} error="That is not a valid API key. Use the value of API_SECRET (any one of them during a rotation)." />,
        401,
      )
    }
    attempt.succeeded()
    const db = c.get('db')
    const session = await auth.openSession(db, key)
    const secure = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https'
    await setSignedCookie(c, COOKIE_NAME, session.id, (await auth.cookieKey(db, { create: true }))!, {
      path: base,
      httpOnly: true,
      sameSite: 'Strict',
      secure,
      expires: session.expiresAt,
      maxAge: Math.floor(auth.sessionTtlMs / 1000),
    })
    return c.redirect(next, 303)
  })

  // ---- everything below needs a signed-in session; POSTs also need the CSRF token ----
  // A request with a session cookie costs a database connection (on Workers, one of its own): the session is a row.
  // One without is sent to the sign-in page before any is opened.
  // (The database middleware only sets `db`, which the dashboard's context has too.)
  const database = options.database as unknown as MiddlewareHandler<DashboardEnv>
  const sessionDatabase: MiddlewareHandler<DashboardEnv> = async (c, next) => (getCookie(c, COOKIE_NAME) ? database(c, next) : next())
  app.use('*', sessionDatabase)
  app.use('*', requireSignIn({ auth, cookieName: COOKIE_NAME, signInPath }))
  app.use(
    '*',
    csrfToken({
      auth,
      limitFor: (path) => (path === `${base}/send` ? sendFormLimit : FORM_LIMIT),
      onRefuse: refuse,
    }),
  )

  app.post('/sign-out', async (c) => {
    await auth.endSession(c.get('db'), c.var.signedIn.session)
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
