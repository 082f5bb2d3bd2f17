/**
 * The Cloudflare Workers entry: the same `createApp` as `api/node.ts`, behind a Workers `fetch`
 * handler, plus a `scheduled` handler that runs the maintenance jobs (cron triggers in
 * `infra/wrangler.toml`). The only file of api/ that knows the Workers runtime.
 *
 * The database comes from a Hyperdrive binding (`HYPERDRIVE`); its connection string's scheme picks
 * the driver (`mysql://` → mysql2, `postgres://` → postgres). Without a binding, `DATABASE_URL` (a
 * secret) is used directly. Each request that reads the database gets its own connection from
 * `connectionPerRequest`, the Workers database middleware; single sends are one INSERT each (no group
 * commit: there is no connection to share). Hyperdrive does the pooling in production.
 *
 * What stays out of this bundle: sharp (the runner compresses images), PGlite, pino, Baileys,
 * anything `node:fs`-bound, the parts of mysql2 and its dependencies the edge never runs (stand-ins in
 * infra/wrangler.toml [alias]), and the reference's generator and the dashboard's CSS and scripts (served from the
 * worker's static assets); `npm run build:worker` prints the size against its 150 KiB gzip limit.
 */
import type { Db } from '../db/driver.js'
import { createCoreApp, REFERENCE_PARTS, type App, type ApiReference } from './app-core.js'
import { ConfigError } from '../db/shared/settings.js'
import { parseApiConfig, type ApiConfig } from './config.js'
import { DASHBOARD_ASSETS, type DashboardAssetSource } from './dashboard/asset-files.js'
import { parseDashboardOptions } from './dashboard/create-dashboard.js'
import type { Logger } from './env.js'
import type { DatabaseMiddleware } from './middleware/database.js'
import { runDueJobs, parseMaintenanceConfig } from '../db/maintenance/jobs.js'

/** The subset of a Hyperdrive binding this entry reads. */
export interface HyperdriveBinding {
  connectionString: string
  host: string
  port: number
  user: string
  password: string
  database: string
}

/** The static assets binding: the API reference and the dashboard's stylesheet and scripts, written by `npm run build:worker`. */
export interface AssetsBinding {
  fetch(request: Request | URL | string): Promise<Response>
}

/** Bindings and vars of the worker (`infra/wrangler.toml`; secrets via `wrangler secret put`). */
export interface WorkerEnv {
  HYPERDRIVE?: HyperdriveBinding
  ASSETS?: AssetsBinding
  /** Direct connection when there is no Hyperdrive binding (a secret). */
  DATABASE_URL?: string
  API_SECRET?: string
  LOG_LEVEL?: string
  [name: string]: unknown
}

/** The parts of `ExecutionContext` used here (kept local so no Workers type package is needed). */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void
  passThroughOnException?(): void
}

interface ScheduledEvent {
  cron: string
  scheduledTime: number
}

/** Where this worker's database is, read from the binding or `DATABASE_URL`. */
export type WorkerDbTarget =
  | { engine: 'mysql'; connection: { host: string; port: number; user: string; password: string; database: string } }
  | { engine: 'postgres'; url: string }

/** Picks the driver from the Hyperdrive binding's scheme (or `DATABASE_URL`). Throws a message for the operator. */
export function workerDbTarget(env: WorkerEnv): WorkerDbTarget {
  const hd = env.HYPERDRIVE
  if (hd && typeof hd === 'object') {
    if (/^mysql:/i.test(hd.connectionString)) {
      // Discrete fields, not the string: mysql2 warns about the ssl-mode option Hyperdrive puts in it.
      return {
        engine: 'mysql',
        connection: { host: hd.host, port: Number(hd.port), user: hd.user, password: hd.password, database: hd.database },
      }
    }
    if (/^postgres(ql)?:/i.test(hd.connectionString)) return { engine: 'postgres', url: hd.connectionString }
    throw new ConfigError('the HYPERDRIVE binding has neither a mysql:// nor a postgres:// connection string')
  }
  const url = typeof env.DATABASE_URL === 'string' ? env.DATABASE_URL.trim() : ''
  if (/^mysql:/i.test(url)) {
    const u = new URL(url)
    return {
      engine: 'mysql',
      connection: {
        host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password), database: decodeURIComponent(u.pathname.slice(1)),
      },
    }
  }
  if (/^postgres(ql)?:/i.test(url)) return { engine: 'postgres', url }
  throw new ConfigError(
    'no database: bind a Hyperdrive configuration as HYPERDRIVE in wrangler.toml (or set the DATABASE_URL secret to mysql://… or postgres://…)',
  )
}

/** Opens one connection (a pool of one) for one request or one cron run. */
export async function openWorkerDb(target: WorkerDbTarget): Promise<Db> {
  if (target.engine === 'mysql') {
    const { openMysql } = await import('../db/drivers/mysql.js')
    // workerd forbids code generation, which mysql2's row parsers use unless told not to; the bundle has no binary
    // protocol (infra/wrangler.toml [alias]).
    return openMysql({ url: '', connection: target.connection, connectionLimit: 1, disableEval: true, textProtocolOnly: true })
  }
  const { openPostgres } = await import('../db/drivers/postgres.js')
  return openPostgres({ url: target.url, max: 1, fetchTypes: false })
}

/**
 * The Workers database middleware: each request that reads the database opens its own connection (a pool of one;
 * Hyperdrive pools the real connections in production) and closes it in `waitUntil` once the response is on its
 * way. A connection must not outlive its request: workerd refuses I/O on a socket another request opened ("Cannot
 * perform I/O on behalf of a different request"). The app mounts it after authentication, so a refused request or
 * `/healthz` opens none. `open` is replaceable for tests.
 */
export function connectionPerRequest(target: WorkerDbTarget, open: (target: WorkerDbTarget) => Promise<Db> = openWorkerDb): DatabaseMiddleware {
  return async function connectionPerRequest(c, next) {
    const db = await open(target)
    c.set('db', db)
    try {
      await next()
    } finally {
      // Never throws: it runs after the response.
      c.executionCtx.waitUntil(db.close().catch(() => {}))
    }
  }
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const

/**
 * JSON lines on the console (Workers Logs / `wrangler tail` pick them up), in pino's shape
 * (`level`, `time`, `msg`, bindings). pino itself stays out of the bundle.
 */
export function createWorkerLogger(level = 'info', bindings: Record<string, unknown> = { svc: 'api-worker' }): Logger {
  const min = LEVELS[level as keyof typeof LEVELS] ?? LEVELS.info
  const write = (lvl: keyof typeof LEVELS) => (objOrMsg: unknown, msg?: string) => {
    if (LEVELS[lvl] < min) return
    const fields = typeof objOrMsg === 'object' && objOrMsg !== null ? serialize(objOrMsg as Record<string, unknown>) : {}
    const text = typeof objOrMsg === 'string' ? objOrMsg : msg
    const line = JSON.stringify({ level: LEVELS[lvl], time: Date.now(), ...bindings, ...fields, msg: text })
    if (lvl === 'error') console.error(line)
    else if (lvl === 'warn') console.warn(line)
    else console.log(line)
  }
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => createWorkerLogger(level, { ...bindings, ...more }),
  }
}

function serialize(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) {
    out[k] = v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v
  }
  return out
}

/** Worker vars and secrets are strings; bindings (objects) are left out of the config record. */
function stringVars(env: WorkerEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v
  return out
}

/**
 * An answer from one file of the worker's static assets, with the headers the Node app sends with the same answer.
 * `npm run build:worker` writes the files as the Node app answers them, so what they hold stays out of the script,
 * whose size is budgeted.
 */
function assetFile(assets: AssetsBinding | undefined, file: string, headers: Readonly<Record<string, string>>) {
  return async (c: { req: { url: string } }) => {
    if (!assets) throw new ConfigError('the ASSETS binding is missing: deploy with infra/wrangler.toml after npm run build:worker')
    const found = await assets.fetch(new URL(`/${file}`, c.req.url))
    if (!found.ok) throw new ConfigError(`the file ${file} is missing from the worker's assets: run npm run build:worker before deploying`)
    return new Response(found.body, { status: 200, headers })
  }
}

/**
 * The API reference, generated by `npm run build:worker` from the same route declarations and schemas as the Node app
 * does at start (with infra/wrangler.toml's [vars]): the generator and the JSON Schema conversion stay out of the script.
 */
function assetReference(assets: AssetsBinding | undefined): ApiReference {
  const serve = (part: keyof ApiReference) => assetFile(assets, REFERENCE_PARTS[part].file, REFERENCE_PARTS[part].headers)
  return { document: serve('document'), page: serve('page'), stylesheet: serve('stylesheet') }
}

/** The dashboard's stylesheet and scripts (api/dashboard/assets.ts, about 13 KiB), written by `npm run build:worker`. */
const assetDashboardFiles = (assets: AssetsBinding | undefined): DashboardAssetSource => (asset) =>
  assetFile(assets, DASHBOARD_ASSETS[asset].file, DASHBOARD_ASSETS[asset].headers)

interface Isolate {
  app: App
  config: ApiConfig
  log: Logger
}

// Built on the first request of an isolate; bindings do not change for its lifetime.
let isolate: Isolate | null = null

function setup(env: WorkerEnv): Isolate {
  if (isolate) return isolate
  const vars = stringVars(env)
  const log = createWorkerLogger(vars.LOG_LEVEL?.trim() || 'info')
  const config = parseApiConfig(vars)
  // The default send path (one INSERT per send): each request has its own connection, so there is nothing to share.
  const app = createCoreApp({
    database: connectionPerRequest(workerDbTarget(env)), config, log,
    reference: () => assetReference(env.ASSETS), dashboardAssets: assetDashboardFiles(env.ASSETS),
    // Cloudflare sets CF-Connecting-IP itself on every request that reaches a worker, whatever TRUST_PROXY says.
    dashboardSettings: { ...parseDashboardOptions(vars), trustProxy: { kind: 'cloudflare' } },
  })
  isolate = { app, config, log }
  return isolate
}

function misconfigured(err: unknown): Response {
  // The message names the variable to fix; it carries no secret (parseApiConfig never echoes keys).
  const message = err instanceof Error ? err.message : String(err)
  console.error(JSON.stringify({ level: 50, time: Date.now(), svc: 'api-worker', msg: 'worker misconfigured', error: message }))
  return Response.json({ success: false, code: 'misconfigured', error: `The gateway is misconfigured: ${message}` }, { status: 500 })
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: WorkerContext): Promise<Response> {
    let state: Isolate
    try {
      state = setup(env)
    } catch (err) {
      return misconfigured(err)
    }
    return state.app.fetch(request, env, ctx as never)
  },

  async scheduled(event: ScheduledEvent, env: WorkerEnv, ctx: WorkerContext): Promise<void> {
    const vars = stringVars(env)
    const log = createWorkerLogger(vars.LOG_LEVEL?.trim() || 'info', { svc: 'maintenance-worker', cron: event.cron })
    const config = parseMaintenanceConfig(vars)
    const db = await openWorkerDb(workerDbTarget(env))
    const run = runDueJobs({ db, log, config, runnerId: `worker-${crypto.randomUUID()}` }).finally(() =>
      db.close().catch(() => {}),
    )
    ctx.waitUntil(run)
    await run
  },
}
