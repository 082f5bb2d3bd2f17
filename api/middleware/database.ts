import type { MiddlewareHandler } from 'hono'
import type { Db } from '../../db/driver.js'
import type { AppEnv } from '../env.js'

/**
 * How a runtime gives a request its database: sets `c.get('db')`, then runs the rest of the request. Each entry
 * passes its own to `createApp` (Node: `sharedDatabase(pool)`; Workers: a connection per request, api/worker.ts).
 * The app mounts it only in front of the routes that read the database, after their authentication, so a refused
 * request or a `/healthz` costs no connection.
 */
export type DatabaseMiddleware = MiddlewareHandler<AppEnv>

/**
 * Every request on the one `Db` of the process (a pool, or PGlite), which its entry opens and closes.
 * @example createApp({ database: sharedDatabase(db), config })
 */
export function sharedDatabase(db: Db): DatabaseMiddleware {
  return function sharedDatabase(c, next) {
    c.set('db', db)
    return next()
  }
}
