import { Hono } from '../hono-app.js'
import { type Context } from 'hono'
import { DatabaseUnavailableError, type Db } from '../../db/driver.js'
import { currentSchemaVersion } from '../../db/schema-version.js'
import { LATEST_MIGRATION } from '../../db/migrations/versions.js'
import { getSession } from '../../db/queries/sessions.js'
import type { AppEnv } from '../env.js'
import type { DatabaseMiddleware } from '../middleware/database.js'
import type { RouteBook } from '../route-book.js'

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

type Readiness = { status: 200 | 503; body: Record<string, unknown> }

/** Reads the database's state: reachable, and its schema at the version this code needs. */
async function checkReadiness(db: Db, timeoutMs: number): Promise<Readiness> {
  let probeError: Error | null = null
  try {
    // A real read of a real table: proves the connection and that the schema exists.
    await withTimeout(getSession(db, 'default'), timeoutMs)
  } catch (err) {
    probeError = err as Error
    if (err instanceof DatabaseUnavailableError || /no answer within/.test(probeError.message)) {
      return { status: 503, body: { success: false, status: 'unavailable', code: 'database_unavailable', error: `database unreachable: ${probeError.message}` } }
    }
  }
  const version = await withTimeout(currentSchemaVersion(db), timeoutMs).catch(() => 0)
  if (version < LATEST_MIGRATION) {
    return {
      status: 503,
      body: {
        success: false, status: 'unavailable', code: 'migrations_pending',
        error: `database schema is at version ${version}, this code needs ${LATEST_MIGRATION}; run npm run migrate`,
        schema_version: version, expected_schema_version: LATEST_MIGRATION,
      },
    }
  }
  if (probeError) {
    return { status: 503, body: { success: false, status: 'unavailable', code: 'database_error', error: `database check failed: ${probeError.message}` } }
  }
  return { status: 200, body: { success: true, status: 'ready', engine: db.engine, schema_version: version, expected_schema_version: LATEST_MIGRATION } }
}

export interface HealthRoutesOptions {
  /** How long one probe of the database may take. */
  timeoutMs?: number
  /**
   * How long a `/readyz` answer is reused: the route needs no key, so without this every anonymous call would cost
   * the database two queries. Calls during a probe wait for it rather than starting their own.
   */
  readyCacheMs?: number
  clock?: () => number
}

/** `GET /healthz` (the process answers) and `GET /readyz` (database reachable, schema current). No API key. */
export function healthRoutes({ database, book, timeoutMs = 3000, readyCacheMs = 1000, clock = Date.now }: HealthRoutesOptions & { database: DatabaseMiddleware; book: RouteBook }) {
  const app = new Hono<AppEnv>()
  let last: { at: number; answer: Promise<Readiness> } | null = null

  book.serve(app, '', {
    method: 'get', path: '/healthz', operationId: 'checkLiveness', tag: 'Health', summary: 'Liveness: the process answers', auth: false,
    ok: { type: 'object' }, okExample: { success: true, status: 'ok' }, errors: [413],
  }, (c) => c.json({ success: true, status: 'ok' }))

  // A fresh answer is served before the database middleware, so a cached call opens no connection either.
  const cached = () => (last && clock() - last.at < readyCacheMs ? last.answer : null)
  const reply = async (c: Context<AppEnv>, readiness: Promise<Readiness>) => {
    const { status, body } = await readiness
    return c.json(body, status)
  }
  book.serve(app, '', {
    method: 'get', path: '/readyz', operationId: 'checkReadiness', tag: 'Health', summary: 'Readiness: database reachable and migrations current', auth: false,
    ok: { type: 'object' }, okExample: { success: true, status: 'ready', engine: 'mysql', schema_version: 1, expected_schema_version: 1 }, errors: [413, 503],
  }, (c) => {
    last = { at: clock(), answer: cached() ?? checkReadiness(c.get('db'), timeoutMs) }
    return reply(c, last.answer)
  }, async (c, next) => {
    const answer = cached()
    if (answer) return reply(c, answer)
    await next()
  }, database)

  return app
}
