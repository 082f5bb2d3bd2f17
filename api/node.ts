/**
 * The Node entry (`npm run api`): the only file of api/ that knows its runtime. It reads
 * `process.env`, opens the database, applies migrations, serves `createApp` with
 * @hono/node-server and shuts down gracefully on SIGTERM/SIGINT. Its helpers are exported for
 * `api/embedded.ts` (`npm start`) and the tests.
 */
import cluster, { type Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { keepNewFilesPrivate, makePrivateDir } from '../db/data-dir.js'
import type { AddressInfo } from 'node:net'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { serve, type Http2Bindings, type HttpBindings, type ServerType } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import type { Context } from 'hono'
import pino from 'pino'
import type { Db } from '../db/driver.js'
import { describeDbConfig, openDb, parseDbConfig } from '../db/index.js'
import { currentSchemaVersion, migrate } from '../db/migrate.js'
import { LATEST_MIGRATION } from '../db/migrations/versions.js'
import { createApp, type App, type AppDeps } from './app.js'
import { createSendCoalescer, type SendCoalescer } from './coalescer.js'
import { createMetricsCollector, joinClusterMetrics, type WorkerLine } from './cluster-metrics.js'
import { parseDashboardOptions } from './dashboard/index.js'
import { ConfigError } from '../db/shared/settings.js'
import { parseApiConfig, type ApiConfig } from './config.js'
import { sharedDatabase } from './middleware/database.js'
import { nodeMediaRuntime } from './node-media.js'
import { CHOSEN_REQUEST_ID, chooseRequestId, type RequestIdEnv } from './middleware/request-id.js'
import type { Logger } from './env.js'

/** True when `moduleUrl` is the script Node was started with (tsx included). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1]
  return !!entry && moduleUrl === pathToFileURL(resolve(entry)).href
}

export function createLogger(env: Record<string, string | undefined> = process.env): Logger {
  return pino({ level: env.LOG_LEVEL?.trim() || 'info', base: { svc: 'api' } })
}

export interface NodeAppOptions extends Omit<AppDeps, 'database' | 'enqueueSend'> {
  /** The process's database (a pool, or PGlite), shared by every request; the caller opens and closes it. */
  db: Db
  /**
   * Group commit for `POST /api/send`: concurrent single sends share one multi-row INSERT on the pool. Default: one
   * built from the config (COALESCE_*); `false` writes one INSERT per send.
   */
  coalescer?: SendCoalescer | false
}

export type NodeApp = App & {
  /** The send path's group commit, drained on shutdown; null without one. */
  readonly coalescer: SendCoalescer | null
}

/**
 * The app as Node serves it: every request on the one pool (`sharedDatabase`), and single sends through group
 * commit, which is worth it here because many requests share that pool.
 * @example const app = createNodeApp({ db, config: parseApiConfig(process.env), log })
 */
export function createNodeApp({ db, coalescer: given, ...deps }: NodeAppOptions): NodeApp {
  const { config } = deps
  const coalescer =
    given === false ? null
    : given ?? createSendCoalescer({ db, delayMs: config.coalesceMs, maxBatch: config.coalesceMax, maxInFlight: config.coalesceInFlight, log: deps.log })
  const app = createApp({
    ...deps,
    media: deps.media ?? nodeMediaRuntime(),
    database: sharedDatabase(db),
    ...(coalescer ? { enqueueSend: (input) => coalescer.enqueue(input) } : {}),
  })
  return Object.assign(app, { coalescer })
}

export interface RunningServer {
  server: ServerType
  /** e.g. http://localhost:3000 */
  url: string
  port: number
  /** Stops accepting, lets in-flight requests finish (at most `graceMs`), then closes the rest. */
  close(graceMs?: number): Promise<void>
}

/**
 * The adapter's call into the app, with `X-Request-Id` set on Node's own response object: a plain header there
 * costs the adapter nothing, where one set through Hono makes it convert a `Headers` object on every response
 * (api/middleware/request-id.ts). The app reads the id from `env[CHOSEN_REQUEST_ID]`.
 */
export function fetchWithRequestId(app: App) {
  return (request: Request, env: HttpBindings | Http2Bindings) => {
    const given = env.incoming.headers['x-request-id']
    const requestId = chooseRequestId(typeof given === 'string' ? given : undefined)
    env.outgoing.setHeader('X-Request-Id', requestId)
    const withId = { incoming: env.incoming, outgoing: env.outgoing, [CHOSEN_REQUEST_ID]: requestId } as RequestIdEnv & HttpBindings
    return app.fetch(request, withId)
  }
}

/** The TCP peer's address, for the dashboard's sign-in throttle (undefined for a request that came through no socket). */
export function socketAddress(c: Context): string | undefined {
  return (c.env as { incoming?: unknown } | undefined)?.incoming ? getConnInfo(c).remote.address : undefined
}

/** Serves `app` on `port` (0 = any free port) and resolves once listening. */
export function serveApp(app: App, { port, host }: { port: number; host?: string }): Promise<RunningServer> {
  return new Promise((resolveServer, reject) => {
    const server = serve({ fetch: fetchWithRequestId(app), port, hostname: host }, (info: AddressInfo) => {
      const shown = !host || host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
      resolveServer({
        server,
        port: info.port,
        url: `http://${shown}:${info.port}`,
        close: (graceMs = 10_000) =>
          new Promise<void>((done) => {
            const http = server as import('node:http').Server
            const force = setTimeout(() => http.closeAllConnections?.(), graceMs)
            http.close(() => {
              clearTimeout(force)
              done()
            })
            http.closeIdleConnections?.()
          }),
      })
    })
    server.once('error', reject)
  })
}

/**
 * The embedded mode's API key: `<dataDir>/api-key`, created with 24 random bytes (hex) on first
 * start and readable by its owner only.
 */
export function loadOrCreateApiKey(dataDir: string): { key: string; path: string; created: boolean } {
  const path = join(dataDir, 'api-key')
  try {
    const key = readFileSync(path, 'utf8').trim()
    if (key) return { key, path, created: false }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  makePrivateDir(dataDir)
  const key = randomBytes(24).toString('hex')
  writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'w' })
  chmodSync(path, 0o600)
  return { key, path, created: true }
}

/**
 * Runs `stop` once on the first SIGTERM/SIGINT; a second signal exits at once. Returns a function that starts the
 * same shutdown for another reason (a cluster primary's request); it is a no-op once one has begun.
 */
export function onShutdown(stop: (signal: string) => Promise<void>, log: Logger): (reason: string) => boolean {
  let stopping = false
  const begin = (reason: string): boolean => {
    if (stopping) return false
    stopping = true
    log.info({ reason }, 'shutting down')
    stop(reason).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
    return true
  }
  const handler = (signal: NodeJS.Signals) => {
    if (begin(signal)) return
    log.warn({ signal }, 'second signal: exiting now')
    process.exit(1)
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
  return begin
}

/** `API_WORKERS`: processes that serve the API on one port (Node only). Unset = 1; `auto` = one per CPU core. */
export function parseWorkerCount(value: string | undefined, cores = availableParallelism()): number {
  const v = value?.trim()
  if (!v) return 1
  if (v === 'auto') return Math.max(1, cores)
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 64) {
    throw new ConfigError(`API_WORKERS must be a whole number from 1 to 64, or "auto" (one per CPU core); got "${v}"`)
  }
  return Number(v)
}

/** The message a cluster primary sends its workers to stop them gracefully. */
const SHUTDOWN = 'wa-gateway:shutdown'

/**
 * The primary of `API_WORKERS` > 1: migrates once, forks the workers (each runs `startApi` on the shared port,
 * with its own pool and group commit), replaces a worker that dies (backing off while they keep dying young),
 * and on SIGTERM/SIGINT asks every worker to drain, then exits when they have.
 */
async function runPrimary(env: Record<string, string | undefined>, log: Logger, count: number): Promise<void> {
  // A bad setting fails here once, not in every worker.
  parseApiConfig(env)
  parseDashboardOptions(env)
  const dbConfig = parseDbConfig(env)
  if (dbConfig.engine === 'pglite') {
    throw new ConfigError('API_WORKERS above 1 needs MySQL/MariaDB or PostgreSQL (DATABASE_URL): the embedded database belongs to one process')
  }
  const db = await openDb(dbConfig)
  try {
    await migrate(db, { log: (msg) => log.info(msg) })
  } finally {
    await db.close()
  }
  let stopping = false
  let delayMs = 500
  const started = new Map<Worker, number>()
  // A send to a worker whose channel just closed reports to the callback instead of crashing the primary.
  const lineTo = (w: Worker): WorkerLine => ({ id: w.id, send: (m) => w.isConnected() && w.send(m as object, () => {}) })
  const metrics = createMetricsCollector({ workers: () => [...started.keys()].filter((w) => w.isConnected()).map(lineTo) })
  cluster.on('message', (worker, message) => metrics.onMessage(lineTo(worker), message))
  const fork = () => started.set(cluster.fork(), Date.now())
  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (started.get(worker) ?? 0)
    started.delete(worker)
    if (stopping) return
    // A worker that ran for a minute had a fault of its own; one that dies at once would only die again at once.
    delayMs = lived > 60_000 ? 1000 : Math.min(30_000, delayMs * 2)
    log.error({ pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'API worker exited; starting another')
    setTimeout(() => {
      if (!stopping) fork()
    }, delayMs)
  })
  for (let i = 0; i < count; i++) fork()
  log.info({ workers: count, pid: process.pid }, 'API workers starting')
  onShutdown(async () => {
    stopping = true
    const workers = [...started.keys()]
    const exited = Promise.all(workers.map((w) => (w.isDead() ? Promise.resolve() : new Promise((r) => w.once('exit', r)))))
    for (const w of workers) if (w.isConnected()) w.send(SHUTDOWN)
    // Each worker allows in-flight requests 10 s (RunningServer.close), then drains its group commits.
    const force = setTimeout(() => workers.forEach((w) => w.process.kill('SIGKILL')), 15_000)
    await exited
    clearTimeout(force)
  }, log)
}

export interface StartedApi {
  app: NodeApp
  db: Db
  config: ApiConfig
  server: RunningServer
  /** Graceful stop: close the server, flush pending group commits, close the database. */
  stop(): Promise<void>
}

/** Opens the database from `env`, migrates it and serves the API. */
export async function startApi(options: {
  env: Record<string, string | undefined>
  log: Logger
  /** Use this database instead of opening one (embedded mode shares it with the runner). */
  db?: Db
  deps?: Partial<Omit<NodeAppOptions, 'db' | 'config'>>
}): Promise<StartedApi> {
  const { env, log } = options
  // Every setting is checked before the database is opened, so a bad one is reported alone and at once.
  const config = parseApiConfig(env)
  const dashboardSettings = parseDashboardOptions(env)
  let db = options.db
  if (!db) {
    const dbConfig = parseDbConfig(env)
    log.info({ database: describeDbConfig(dbConfig) }, 'opening database')
    db = await openDb(dbConfig, { log })
  }
  try {
    // A schema already current needs no migration transaction (a lock, reading the files, a commit): one read first.
    if ((await currentSchemaVersion(db)) < LATEST_MIGRATION) await migrate(db, { log: (msg) => log.info(msg) })
    const app = createNodeApp({ db, config, log, dashboardSettings: { ...dashboardSettings, socketAddress }, ...options.deps })
    const server = await serveApp(app, { port: config.port, host: config.host })
    const ownDb = !options.db
    return {
      app, db, config, server,
      async stop() {
        await server.close()
        await app.coalescer?.drain()
        if (ownDb) await db.close()
      },
    }
  } catch (err) {
    if (!options.db) await db.close().catch(() => {})
    throw err
  }
}

async function main(): Promise<void> {
  keepNewFilesPrivate()
  const log = createLogger()
  let api: StartedApi
  try {
    const workers = parseWorkerCount(process.env.API_WORKERS)
    if (workers > 1 && cluster.isPrimary) return await runPrimary(process.env, log, workers)
    // A worker's /metrics answers the sum over the cluster (api/cluster-metrics.ts).
    const clusterMetrics = cluster.isWorker
      ? joinClusterMetrics({ send: (m) => process.send?.(m, undefined, {}, () => {}), onMessage: (l) => process.on('message', l) }, { log })
      : null
    api = await startApi({ env: process.env, log, deps: clusterMetrics ? { gatherMetrics: (own) => clusterMetrics.gather(own) } : {} })
    const { app } = api
    clusterMetrics?.provide(() => app.metricsSnapshot())
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`wa-gateway api: ${err.message}`)
      process.exit(1)
    }
    throw err
  }
  log.info({ url: api.server.url, engine: api.db.engine, keys: api.config.apiKeys.length, pid: process.pid }, 'API listening')
  const shutdown = onShutdown(() => api.stop(), log)
  if (cluster.isWorker) process.on('message', (m) => m === SHUTDOWN && shutdown('asked by the primary'))
}

if (isMain(import.meta.url)) await main()
