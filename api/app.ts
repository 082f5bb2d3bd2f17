import { Hono } from 'hono'
import type { Db } from '../db/driver.js'
import { createSendCoalescer, type SendCoalescer } from './coalescer.js'
import { createDashboard, parseDashboardOptions } from './dashboard/index.js'
import type { ApiConfig } from './config.js'
import { silentLogger, type AppEnv, type Logger } from './env.js'
import { errorBody, notFound, onError } from './errors.js'
import { createApiMetrics, type GatherMetrics, type MetricsSnapshot } from './metrics.js'
import { apiKey } from './middleware/api-key.js'
import { assignRequestId } from './middleware/request-id.js'
import { buildOpenApi, renderReference } from './openapi.js'
import { healthRoutes } from './routes/health.js'
import { messageRoutes } from './routes/messages.js'
import { sendRoutes } from './routes/send.js'
import { sessionRoutes } from './routes/sessions.js'
import { webhookRoutes } from './routes/webhooks.js'
import { createSchemas } from './schemas.js'
import { createSessionGate, type SessionGate } from './session-gate.js'

export interface AppDeps {
  /** The database every request uses (Node: one pool for the process). */
  db: Db
  config: ApiConfig
  log?: Logger
  /**
   * Group commit for `POST /api/send`. Default: one created for `db` from the config;
   * `false` writes one row per request (Workers, where each request has its own connection).
   */
  coalescer?: SendCoalescer | false
  sessionGate?: SessionGate
  /**
   * The dashboard sub-app, mounted at `/dashboard` with its own authentication (cookie); it sees
   * the same `c.get('db')`, `c.get('config')` and `c.get('log')` as the API routes.
   */
  dashboard?: Hono<AppEnv> | false
  /**
   * Collects the request counters of every process serving this port for `GET /metrics` (a Node cluster:
   * api/cluster-metrics.ts). Default: this process's own.
   */
  gatherMetrics?: GatherMetrics
  /** Settings for the default dashboard (`parseDashboardOptions(env)`: cookie secret, origins, lifetime). */
  dashboardSettings?: ReturnType<typeof parseDashboardOptions>
}

export type App = Hono<AppEnv> & {
  readonly coalescer: SendCoalescer | null
  /** This process's request counters, for a cluster's combined `/metrics`. */
  metricsSnapshot(): MetricsSnapshot
}

/**
 * The whole HTTP API as one runtime-agnostic Hono app: the guide's endpoints, the additions
 * (send-batch, messages, OpenAPI, health), JSON errors everywhere.
 * @example const app = createApp({ db, config: parseApiConfig(process.env), log })
 */
export function createApp(deps: AppDeps): App {
  const { db, config } = deps
  const log = deps.log ?? silentLogger
  const schemas = createSchemas(config)
  const gate = deps.sessionGate ?? createSessionGate({ ttlMs: config.sessionCacheMs })
  const coalescer =
    deps.coalescer === false ? null
    : deps.coalescer ?? createSendCoalescer({ db, delayMs: config.coalesceMs, maxBatch: config.coalesceMax, maxInFlight: config.coalesceInFlight, log })
  const openapi = buildOpenApi(schemas, config)
  const reference = renderReference(schemas, config)
  // No route reads more than this, so a larger declared body is refused before anything is read.
  const largestBody = Math.max(config.batchBodyLimit, config.imageMaxBytes + 64 * 1024, config.jsonBodyLimit)

  const app = new Hono<AppEnv>()
  const metrics = createApiMetrics()
  // Evaluated once: a silent logger (tests) has no level test and drops everything anyway.
  const accessLog = log.isLevelEnabled ? log.isLevelEnabled('debug') : log !== silentLogger
  // The one middleware every request passes, first, so it sees every answer, errors included: the request id, the
  // shared dependencies, the size check, then the counters of GET /metrics (api/metrics.ts) and the access log.
  // A request's bookkeeping in one place, where the counters can see the size check's own 413.
  app.use(async function everyRequest(c, next) {
    const started = performance.now()
    assignRequestId(c)
    c.set('db', db)
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

  app.route('/', healthRoutes())
  app.route('/', metrics.routes({ keys: config.apiKeys, gather: deps.gatherMetrics }))
  app.get('/docs', (c) => c.html(reference))

  const requireKey = apiKey({ keys: config.apiKeys })
  app.use('/api/*', requireKey)
  // The bare prefix is an /api route too: it needs the key and answers JSON.
  app.use('/api', requireKey)
  app.get('/api/openapi.json', (c) => c.json(openapi))
  app.route('/api', sessionRoutes({ config, schemas, gate }))
  app.route('/api', sendRoutes({ config, schemas, gate, coalescer: coalescer ?? undefined }))
  app.route('/api', messageRoutes({ schemas }))
  app.route('/api', webhookRoutes({ config, schemas }))

  // Dashboard (issue 6): mounted by default so every entry serves it, sharing this app's schemas and
  // session gate; an entry passes its own to apply DASHBOARD_* settings (api/worker.ts does), `false` omits it.
  const dashboard = deps.dashboard ?? createDashboard({ config, schemas, gate, ...deps.dashboardSettings })
  if (dashboard) {
    app.route('/dashboard', dashboard)
    // Someone who opens the bare address (http://localhost:3000) in a browser wants the dashboard, not a 404.
    app.get('/', (c) => c.redirect('/dashboard', 302))
  }

  app.notFound(notFound)
  app.onError(onError)
  return Object.assign(app, { coalescer, metricsSnapshot: metrics.snapshot })
}
