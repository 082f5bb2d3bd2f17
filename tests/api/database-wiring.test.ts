/**
 * How each runtime hands a request its database and its send path, through the app's dependencies: Node shares
 * its pool and passes group commit; Workers opens a real connection per request (api/worker.ts
 * `connectionPerRequest`), closed in `waitUntil`, only for requests that read the database.
 */
import { expect, it } from 'vitest'
import { createApp } from '../../api/app.js'
import { parseApiConfig } from '../../api/config.js'
import { sharedDatabase } from '../../api/middleware/database.js'
import { createNodeApp } from '../../api/node.js'
import type { EnqueueSend } from '../../api/routes/send.js'
import { connectionPerRequest, openWorkerDb, type WorkerDbTarget } from '../../api/worker.js'
import type { Db, Queryable } from '../../db/driver.js'
import { getMessage } from '../../db/queries/messages.js'
import { describeEachEngine } from '../support/db.js'

const KEY = 'wiring-test-key-0123456789'
const config = parseApiConfig({ API_SECRET: KEY, SESSION_CACHE_MS: '0' })
const json = { 'X-API-Key': KEY, 'Content-Type': 'application/json' }

/** Workers' ExecutionContext, keeping what was handed to waitUntil. */
function executionContext() {
  const waiting: Promise<unknown>[] = []
  return { waiting, ctx: { waitUntil: (p: Promise<unknown>) => void waiting.push(p), passThroughOnException() {}, props: {} } }
}

function targetFor(engine: 'mysql' | 'postgres', url: string): WorkerDbTarget {
  if (engine === 'postgres') return { engine, url }
  const u = new URL(url)
  return {
    engine,
    connection: { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) },
  }
}

describeEachEngine('Workers: a connection per request (connectionPerRequest)', (ctx) => {
  /** The Workers app on this engine, recording every connection it opens and whether it was closed. */
  function workerApp() {
    const opened: Array<{ db: Db; closed: boolean }> = []
    const open = async (target: WorkerDbTarget) => {
      const db = await openWorkerDb(target)
      const entry = { db, closed: false }
      opened.push(entry)
      const close = db.close.bind(db)
      return Object.assign(Object.create(db) as Db, { close: async () => ((entry.closed = true), close()) })
    }
    const app = createApp({ database: connectionPerRequest(targetFor(ctx.engine as 'mysql' | 'postgres', ctx.t.url!), open), config })
    const request = async (path: string, init: RequestInit = {}) => {
      const { waiting, ctx: executionCtx } = executionContext()
      const res = await app.request(path, init, {}, executionCtx)
      const body = await res.text()
      // The connection is still open when the response is ready; waitUntil closes it after.
      await Promise.all(waiting)
      return { status: res.status, body, closesQueued: waiting.length }
    }
    return { opened, request }
  }

  it('opens none for a request that reads no database or is refused before it would', async () => {
    const { opened, request } = workerApp()
    expect((await request('/healthz')).status).toBe(200)
    expect((await request('/api/status')).status).toBe(401)
    expect((await request('/metrics')).status).toBe(401)
    expect((await request('/api/openapi.json', { headers: json })).status).toBe(200)
    expect((await request('/dashboard/sign-in')).status).toBe(200)
    expect((await request('/dashboard', { redirect: 'manual' })).status).toBe(303)
    expect(opened).toHaveLength(0)
  })

  it('gives each request its own real connection and closes it in waitUntil after the response', async () => {
    const { opened, request } = workerApp()
    const status = await request('/api/status', { headers: json })
    expect(status.status).toBe(200)
    expect(status.closesQueued).toBe(1)
    expect(opened).toHaveLength(1)
    expect(opened[0]!.closed).toBe(true)
    // A real Db of the engine (its version read at open), not a stand-in forwarding to somewhere else.
    expect(opened[0]!.db.engine).toBe(ctx.engine)
    expect(opened[0]!.db.serverVersion).toBe(ctx.db.serverVersion)

    const sends = await Promise.all(
      Array.from({ length: 5 }, (_, i) => request('/api/send', { method: 'POST', headers: json, body: JSON.stringify({ phone: '9611234567', message: `edge ${i}` }) })),
    )
    expect(sends.map((s) => s.status)).toEqual([200, 200, 200, 200, 200])
    expect(new Set(opened.map((o) => o.db)).size).toBe(6)
    expect(opened.every((o) => o.closed)).toBe(true)
    // The default send path: one INSERT each, on the request's own connection.
    for (const [i, s] of sends.entries()) expect(await getMessage(ctx.db, JSON.parse(s.body).message_id)).toMatchObject({ body: `edge ${i}` })

    expect((await request('/readyz')).status).toBe(200)
    expect((await request('/metrics', { headers: json })).status).toBe(200)
    expect(opened).toHaveLength(8)
    expect(opened.every((o) => o.closed)).toBe(true)
  })

  it('answers 503 database_unavailable when the connection cannot be opened', async () => {
    const app = createApp({ database: connectionPerRequest({ engine: 'postgres', url: 'postgres://postgres:x@127.0.0.1:1/none' }), config })
    const { ctx: executionCtx } = executionContext()
    const res = await app.request('/api/status', { headers: json }, {}, executionCtx)
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ success: false, code: 'database_unavailable' })
  })
}, { engines: ['mysql', 'postgres'] })

describeEachEngine('the send path is a dependency of the app', (ctx) => {
  it("POST /api/send without a key goes through the given enqueueSend, with the request's database", async () => {
    const calls: Array<{ phone: string; db: Queryable }> = []
    const enqueueSend: EnqueueSend = async (input, db) => {
      calls.push({ phone: input.phone, db })
      return 4242
    }
    const app = createApp({ database: sharedDatabase(ctx.db), config, enqueueSend })
    const res = await app.request('/api/send', { method: 'POST', headers: json, body: JSON.stringify({ phone: '9611234567', message: 'x' }) })
    expect(await res.json()).toEqual({ success: true, message_id: 4242 })
    expect(calls).toEqual([{ phone: '9611234567', db: ctx.db }])
    // With an Idempotency-Key the send is written (and checked) on its own, never through the shared path.
    const keyed = await app.request('/api/send', {
      method: 'POST', headers: { ...json, 'Idempotency-Key': `k-${crypto.randomUUID()}` }, body: JSON.stringify({ phone: '9611234567', message: 'y' }),
    })
    expect(keyed.status).toBe(200)
    expect(calls).toHaveLength(1)
  })

  it('Node passes its group commit: concurrent sends share INSERTs; with coalescer: false each has its own', async () => {
    const send = (app: ReturnType<typeof createNodeApp>, i: number) =>
      app.request('/api/send', { method: 'POST', headers: json, body: JSON.stringify({ phone: '9611234567', message: `n${i}` }) })
    const grouped = createNodeApp({ db: ctx.db, config })
    await Promise.all(Array.from({ length: 20 }, (_, i) => send(grouped, i)))
    expect(grouped.coalescer!.stats.rows).toBe(20)
    expect(grouped.coalescer!.stats.batches).toBeLessThan(20)
    const single = createNodeApp({ db: ctx.db, config, coalescer: false })
    expect(single.coalescer).toBeNull()
    expect((await send(single, 99)).status).toBe(200)
  })
}, { engines: ['pglite'] })
