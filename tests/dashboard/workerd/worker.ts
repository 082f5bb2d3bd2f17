/**
 * A Workers module for the dashboard's workerd test: the real `createApp` with the dashboard mounted,
 * on an in-memory stand-in for the database (workerd has no PGlite; the point here is the runtime:
 * hono/jsx rendering, Web Crypto HKDF/HMAC cookies, form parsing, no `node:` APIs in api/dashboard).
 */
import { POSTGRES_CAPABILITIES, type Db, type Queryable, type Row } from '../../../db/driver.js'
import { createApp } from '../../../api/app.js'
import { parseApiConfig } from '../../../api/config.js'
import { createDashboard } from '../../../api/dashboard/index.js'

const epoch = new Date(0)
const sessions: Row[] = [
  {
    name: 'default', status: 'connecting', phone: null, last_seen: null, qr_code: 'data:image/png;base64,QUFB', qr: '2@x',
    detail: null, owner: null, lease_epoch: 0, lease_until: epoch, next_send_at: epoch, paused_until: null,
    reconnect_requested_at: null, delete_requested_at: null, created_at: epoch, updated_at: epoch,
  },
]
const created: string[] = []

const db: Db = {
  dialect: 'postgres',
  engine: 'postgres',
  capabilities: POSTGRES_CAPABILITIES,
  serverVersion: 'in-memory',
  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    if (/FROM sessions/.test(sql)) return sessions.filter((s) => !/WHERE name =/.test(sql) || s.name === params[0]) as T[]
    return []
  },
  async execute(sql: string, params: readonly unknown[] = []) {
    if (/INSERT INTO sessions/.test(sql)) created.push(String(params[0]))
    return { affectedRows: 1 }
  },
  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return fn(db)
  },
  async close() {},
}

let app: ReturnType<typeof createApp> | undefined

export default {
  async fetch(request: Request, env: Record<string, string>): Promise<Response> {
    if (new URL(request.url).pathname === '/created') return Response.json(created)
    if (!app) {
      const config = parseApiConfig(env)
      app = createApp({ db, config, coalescer: false, dashboard: createDashboard({ config, cookieSecret: env.DASHBOARD_COOKIE_SECRET }) })
    }
    return app.fetch(request, env)
  },
}
