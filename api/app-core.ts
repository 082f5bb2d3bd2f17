import { Hono } from './hono-app.js'
import { type Context } from 'hono'
import type { DashboardAssetSource } from './dashboard/asset-files.js'
import { createDashboard, type DashboardSettings } from './dashboard/create-dashboard.js'
import type { ApiConfig } from './config.js'
import { silentLogger, type AppEnv, type Logger } from './env.js'
import { errorBody, notFound, onError } from './errors.js'
import { createApiMetrics, type GatherMetrics, type MetricsSnapshot } from './metrics.js'
import { apiKey } from './middleware/api-key.js'
import type { DatabaseMiddleware } from './middleware/database.js'
import { assignRequestId } from './middleware/request-id.js'
import { noSniff, noStore, pageHeaders } from './middleware/security-headers.js'
import { healthRoutes } from './routes/health.js'
import { messageRoutes } from './routes/messages.js'
import { contactRoutes } from './routes/contacts.js'
import { inboundRoutes } from './routes/inbound.js'
import { sendRoutes, type EnqueueSend } from './routes/send.js'
import { mediaSendRoutes, type MediaRuntime } from './routes/send-media.js'
import { sessionRoutes } from './routes/sessions.js'
import { webhookRoutes } from './routes/webhooks.js'
import { RouteBook, type RouteDeclaration } from './route-book.js'
import { createSchemas } from './schemas.js'
import { createSessionGate, type SessionGate } from './session-gate.js'

type Answer = (c: Context<AppEnv>) => Response | Promise<Response>

/**
 * The API reference's three answers. `api/openapi.ts` generates them from the app's route declarations when the app
 * is built (Node); the Workers entry serves the same files, generated from the same declarations when the worker was
 * built, from its static assets, which keeps the document generator out of the worker's script.
 */
export interface ApiReference {
  /** `GET /api/openapi.json`, behind the key check. */
  document: Answer
  /** `GET /docs`, the readable page. */
  page: Answer
  /** `GET /docs/style.css`, the page's stylesheet. */
  stylesheet: Answer
}

/**
 * Where each answer of the reference is kept and how it is served: the Node app answers from the generated text,
 * the Workers entry from the same file in its static assets (`npm run build:worker` writes them under these names).
 */
export const REFERENCE_PARTS = {
  document: { file: 'openapi.json', headers: { 'Content-Type': 'application/json' } },
  page: { file: 'docs.html', headers: { 'Content-Type': 'text/html; charset=UTF-8' } },
  stylesheet: { file: 'docs.css', headers: { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'public, max-age=300' } },
} as const satisfies Record<keyof ApiReference, { file: string; headers: Record<string, string> }>

/** The reference of the declared routes (every route the app serves under /api, /healthz and /readyz). */
export type ReferenceSource = (routes: readonly RouteDeclaration[]) => ApiReference

export interface AppDeps {
  /**
   * Sets each request's `c.get('db')`: Node shares its pool (`sharedDatabase(db)`), Workers opens a connection per
   * request (api/worker.ts). Mounted after authentication, only where a route reads the database.
   */
  database: DatabaseMiddleware
  config: ApiConfig
  log?: Logger
  /**
   * How `POST /api/send` without an Idempotency-Key writes its row. Default: one INSERT on the request's database
   * (Workers); Node passes its group commit (api/coalescer.ts).
   */
  enqueueSend?: EnqueueSend
  sessionGate?: SessionGate
  /**
   * The dashboard sub-app, mounted at `/dashboard` with its own authentication (cookie); it sees
   * the same `c.get('config')` and `c.get('log')` as the API routes, and its own `database` middleware sets `db`.
   */
  dashboard?: Hono<AppEnv> | false
  /**
   * Collects the request counters of every process serving this port for `GET /metrics` (a Node cluster:
   * api/cluster-metrics.ts). Default: this process's own.
   */
  gatherMetrics?: GatherMetrics
  /**
   * Settings for the default dashboard: `parseDashboardOptions(env)` (cookie secret, origins, lifetime, TRUST_PROXY)
   * plus what the entry's runtime knows (the Node entry's socket address).
   */
  dashboardSettings?: DashboardSettings
  /** What the runtime offers media sends: DNS for URL checks, ffmpeg for voice notes (api/routes/send-media.ts). */
  media?: MediaRuntime
}

export interface CoreAppDeps extends AppDeps {
  reference: ReferenceSource
  /**
   * The default dashboard's stylesheet and scripts: `createApp` serves them from code, the Workers entry from its
   * static assets (as with the reference, the text stays out of the worker's script).
   */
  dashboardAssets: DashboardAssetSource
}

export type App = Hono<AppEnv> & {
  /** This process's request counters, for a cluster's combined `/metrics`. */
  metricsSnapshot(): MetricsSnapshot
}

/**
 * The whole HTTP API as one runtime-agnostic Hono app: the guide's endpoints, the additions
 * (send-batch, messages, OpenAPI, health), JSON errors everywhere; the reference comes from `deps.reference`.
 * `createApp` (api/app.ts) passes the generated one.
 */
export function createCoreApp(deps: CoreAppDeps): App {
  const { database, config } = deps
  const log = deps.log ?? silentLogger
  const schemas = createSchemas(config)
  const gate = deps.sessionGate ?? createSessionGate({ ttlMs: config.sessionCacheMs })
  const book = new RouteBook()
  // Set once every route is declared, below; only requests read it.
  let reference: ApiReference | null = null
  // No route reads more than this, so a larger declared body is refused before anything is read.
  const largestBody = Math.max(config.batchBodyLimit, Math.max(config.imageMaxBytes, config.documentMaxBytes, config.videoMaxBytes) + 64 * 1024, config.jsonBodyLimit)

  const app = new Hono<AppEnv>()
  const metrics = createApiMetrics()
  // Evaluated once: a silent logger (tests) has no level test and drops everything anyway.
  const accessLog = log.isLevelEnabled ? log.isLevelEnabled('debug') : log !== silentLogger
  // Response headers first, so that they are on every answer, the size check's 413 below included.
  app.use(noSniff())
  app.use(noStore())
  // The one middleware every request passes before any route, so it sees every answer, errors included: the request
  // id, the shared dependencies (not the database: `database` sets it later, where a route reads it), the size check,
  // then the counters of GET /metrics (api/metrics.ts) and the access log.
  // A request's bookkeeping in one place, where the counters can see the size check's own 413.
  app.use(async function everyRequest(c, next) {
    const started = performance.now()
    assignRequestId(c)
    c.set('config', config)
    c.set('log', log)
    try {
      const declared = Number(c.req.header('content-length') ?? 0)
      // Answered here rather than thrown, so the counters below see the 413.
      if (declared > largestBody) c.res = c.json(errorBody('body_too_large', `The request body (${declared} bytes) is larger than any route accepts`), 413)
      else await next()
    } finally {
      metrics.observe(c, started)
      // Access log at debug: method, path and status only (never the key or the body).
      if (accessLog) log.debug({ requestId: c.get('requestId'), method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) }, 'request')
    }
  })

  app.route('/', healthRoutes({ database, book }))
  app.route('/', metrics.routes({ keys: config.apiKeys, gather: deps.gatherMetrics, database }))
  app.get('/docs', pageHeaders(), (c) => reference!.page(c))
  app.get('/docs/style.css', pageHeaders(), (c) => reference!.stylesheet(c))

  const requireKey = apiKey({ keys: config.apiKeys })
  app.use('/api/*', requireKey)
  // The bare prefix is an /api route too: it needs the key and answers JSON.
  app.use('/api', requireKey)
  book.serve(app, '', {
    method: 'get', path: '/api/openapi.json', operationId: 'getOpenApiDocument', tag: 'Reference', summary: 'This document', ok: { type: 'object' }, errors: [],
  }, (c) => reference!.document(c))
  // After the key check and the one route that needs no database (Hono runs handlers in registration order).
  app.use('/api/*', database)
  app.route('/api', sessionRoutes({ config, schemas, gate, book }))
  app.route('/api', sendRoutes({ config, schemas, gate, enqueueSend: deps.enqueueSend, book, runtime: deps.media ?? {} }))
  app.route('/api', mediaSendRoutes({ config, schemas, gate, book, runtime: deps.media ?? {} }))
  app.route('/api', messageRoutes({ schemas, book }))
  app.route('/api', inboundRoutes({ schemas, book }))
  app.route('/api', contactRoutes({ book }))
  app.route('/api', webhookRoutes({ schemas, book }))
  reference = deps.reference(book.routes)

  // Dashboard: mounted by default so every entry serves it, sharing this app's schemas and
  // session gate; an entry passes its own to apply DASHBOARD_* settings (api/worker.ts does), `false` omits it.
  const dashboard = deps.dashboard ?? createDashboard({ config, schemas, gate, database, assets: deps.dashboardAssets, media: deps.media, ...deps.dashboardSettings })
  if (dashboard) {
    app.route('/dashboard', dashboard)
    // Someone who opens the bare address (http://localhost:3000) in a browser wants the dashboard, not a 404.
    app.get('/', (c) => c.redirect('/dashboard', 302))
  }

  app.notFound(notFound)
  app.onError(onError)
  return Object.assign(app, { metricsSnapshot: () => metrics.snapshot() })
}
