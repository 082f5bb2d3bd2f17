/**
 * A Workers module for the dashboard's workerd test: the real `createApp` with the dashboard mounted,
 * on an in-memory stand-in for the database (workerd has no PGlite; the point here is the runtime:
 * hono/jsx rendering, Web Crypto HKDF/HMAC and Hono's signed cookies, form parsing, no `node:` APIs in api/dashboard).
 */
import { POSTGRES_CAPABILITIES, type Db, type Queryable, type Row } from '../../../db/driver.js'
import { createApp } from '../../../api/app.js'
import { parseApiConfig } from '../../../api/config.js'
import { assetsFromCode, createDashboard } from '../../../api/dashboard/index.js'
import { sharedDatabase } from '../../../api/middleware/database.js'

const epoch = new Date(0)
const sessions: Row[] = [
  {
    name: 'default', status: 'connecting', phone: null, last_seen: null, qr_code: 'data:image/png;base64,QUFB', qr: '2@x',
    detail: null, owner: null, lease_epoch: 0, lease_until: epoch, next_send_at: epoch, paused_until: null,
    reconnect_requested_at: null, delete_requested_at: null, created_at: epoch, updated_at: epoch,
  },
]
const created: string[] = []
// The dashboard's own tables (migration 0007): its stored secret and its sessions.
const secrets = new Map<string, string>()
const dashboardSessions = new Map<string, Row>()

const db: Db = {
  dialect: 'postgres',
  engine: 'postgres',
  capabilities: POSTGRES_CAPABILITIES,
  serverVersion: 'in-memory',
  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    if (/FROM gateway_secrets/.test(sql)) return (secrets.has(String(params[0])) ? [{ value: secrets.get(String(params[0])) }] : []) as unknown as T[]
    if (/FROM dashboard_sessions/.test(sql)) return (dashboardSessions.has(String(params[0])) ? [dashboardSessions.get(String(params[0]))] : []) as unknown as T[]
    if (/FROM sessions/.test(sql)) return sessions.filter((s) => !/WHERE name =/.test(sql) || s.name === params[0]) as T[]
    return []
  },
  async execute(sql: string, params: readonly unknown[] = []) {
    if (/INSERT INTO sessions/.test(sql)) created.push(String(params[0]))
    if (/INSERT INTO gateway_secrets/.test(sql) && !secrets.has(String(params[0]))) secrets.set(String(params[0]), String(params[1]))
    if (/INSERT INTO dashboard_sessions/.test(sql)) {
      const [id, fp, createdAt, expiresAt] = params
      dashboardSessions.set(String(id), { id, key_fingerprint: fp, created_at: createdAt, expires_at: expiresAt })
    }
    if (/DELETE FROM dashboard_sessions WHERE id/.test(sql)) dashboardSessions.delete(String(params[0]))
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
      const database = sharedDatabase(db)
      app = createApp({ database, config, dashboard: createDashboard({ config, database, assets: assetsFromCode, cookieSecret: env.DASHBOARD_COOKIE_SECRET }) })
    }
    return app.fetch(request, env)
  },
}
