import type { Db } from '../../db/driver.js'
import { createNodeApp, type NodeApp, type NodeAppOptions } from '../../api/node.js'
import { parseApiConfig, type ApiConfig } from '../../api/config.js'

export const TEST_API_KEY = 'test-key-0123456789abcdef'
export const ROTATED_API_KEY = 'old-key-fedcba9876543210'

export interface TestApp {
  app: NodeApp
  config: ApiConfig
  /** Headers with the API key (and JSON content type when `json`). */
  headers(extra?: Record<string, string>): Record<string, string>
  /** `app.request()` shortcuts that send the key. */
  get(path: string, headers?: Record<string, string>): Promise<Response>
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>
  del(path: string, headers?: Record<string, string>): Promise<Response>
}

/**
 * `createApp` on a test database with two accepted keys (a rotation) and no session cache.
 * @example const t = createTestApp(ctx.db); const res = await t.post('/api/send', { phone, message })
 */
export function createTestApp(db: Db, options: { env?: Record<string, string>; deps?: Partial<NodeAppOptions> } = {}): TestApp {
  const config = parseApiConfig({ API_SECRET: `${TEST_API_KEY},${ROTATED_API_KEY}`, SESSION_CACHE_MS: '0', ...options.env })
  const app = createNodeApp({ db, config, ...options.deps })
  const headers = (extra: Record<string, string> = {}) => ({ 'X-API-Key': TEST_API_KEY, ...extra })
  return {
    app,
    config,
    headers,
    get: (path, h) => Promise.resolve(app.request(path, { headers: headers(h) })),
    post: (path, body, h) =>
      Promise.resolve(
        app.request(path, {
          method: 'POST',
          headers: headers(body === undefined ? h : { 'Content-Type': 'application/json', ...h }),
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        }),
      ),
    del: (path, h) => Promise.resolve(app.request(path, { method: 'DELETE', headers: headers(h) })),
  }
}
