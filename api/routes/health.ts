import { Hono } from 'hono'
import { DatabaseUnavailableError } from '../../db/driver.js'
import { currentSchemaVersion } from '../../db/schema-version.js'
import { LATEST_MIGRATION } from '../../db/migrations/versions.js'
import { getSession } from '../../db/queries/sessions.js'
import type { AppEnv } from '../env.js'
import type { DatabaseMiddleware } from '../middleware/database.js'

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** `GET /healthz` (the process answers) and `GET /readyz` (database reachable, schema current). No API key. */
export function healthRoutes({ database, timeoutMs = 3000 }: { database: DatabaseMiddleware; timeoutMs?: number }) {
  const app = new Hono<AppEnv>()

  app.get('/healthz', (c) => c.json({ success: true, status: 'ok' }))

  // Only /readyz reads the database: /healthz answers without a connection.
  app.get('/readyz', database, async (c) => {
    const db = c.get('db')
    let probeError: Error | null = null
    try {
      // A real read of a real table: proves the connection and that the schema exists.
      await withTimeout(getSession(db, 'default'), timeoutMs)
    } catch (err) {
      probeError = err as Error
      if (err instanceof DatabaseUnavailableError || /no answer within/.test(probeError.message)) {
        return c.json(
          { success: false, status: 'unavailable', code: 'database_unavailable', error: `database unreachable: ${probeError.message}` },
          503,
        )
      }
    }
    const version = await withTimeout(currentSchemaVersion(db), timeoutMs).catch(() => 0)
    if (version < LATEST_MIGRATION) {
      return c.json(
        {
          success: false, status: 'unavailable', code: 'migrations_pending',
          error: `database schema is at version ${version}, this code needs ${LATEST_MIGRATION}; run npm run migrate`,
          schema_version: version, expected_schema_version: LATEST_MIGRATION,
        },
        503,
      )
    }
    if (probeError) {
      return c.json({ success: false, status: 'unavailable', code: 'database_error', error: `database check failed: ${probeError.message}` }, 503)
    }
    return c.json({ success: true, status: 'ready', engine: db.engine, schema_version: version, expected_schema_version: LATEST_MIGRATION })
  })

  return app
}
