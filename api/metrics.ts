/**
 * `GET /metrics` of the API in Prometheus text format (version 0.0.4):
 *
 * - `wa_gateway_http_requests_total{method,route,status}` and `wa_gateway_http_request_duration_seconds{method,route}`
 *   counted by `metrics.observe` (called by `createApp`'s per-request middleware, which runs first and so sees
 *   every answer, errors included), with `route` the matched pattern
 *   (`/api/messages/:id`, never the raw path, so cardinality stays bounded; `unmatched` for 404s);
 * - `wa_gateway_messages{status}`: queue depth by status, read from the database at scrape time;
 * - `wa_gateway_api_processes`: how many processes' counters the answer sums.
 *
 * Scraping needs an API key, in `X-API-Key` or as `Authorization: Bearer <key>` (Prometheus' `authorization`
 * setting). Counters live in each process. Under `API_WORKERS` the answering worker gathers every worker's
 * counters (`gather`, wired in api/node.ts through api/cluster-metrics.ts) and answers their sum, so a scrape
 * sees the same totals whichever worker the connection landed on. On Workers they are per isolate (use Workers
 * Analytics for fleet-wide request counts; the queue depth is global because it comes from the database).
 *
 * Web-standard only, so it runs on Node and Workers. The runner has its own registry (`runner/metrics.ts`);
 * both write label sets with db/shared/prometheus-text.ts, since api/ and runner/ never import each other.
 */
import { Hono } from './hono-app.js'
import { type Context, type MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import { countMessagesByStatus } from '../db/queries/messages.js'
import { labelSet, type Labels } from '../db/shared/prometheus-text.js'
import type { AppEnv } from './env.js'
import { errorBody } from './errors.js'
import { matchesPreparedKey, prepareKeys } from './middleware/api-key.js'
import type { DatabaseMiddleware } from './middleware/database.js'


/** Histogram buckets for request durations, in seconds. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

interface Series {
  labels: Labels
  value: number
}

interface HistogramSeries {
  labels: Labels
  counts: number[]
  sum: number
  count: number
}

/** One process's counters as plain data (structured-clone and JSON safe), to be summed with other processes'. */
export interface MetricsSnapshot {
  requests: Series[]
  durations: HistogramSeries[]
}

/** Every process's counters for one answer; `own` is the answering process's. */
export type GatherMetrics = (own: MetricsSnapshot) => Promise<MetricsSnapshot[]>

const seriesKey = (labels: Labels) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join('\u0000')

/**
 * Sums snapshots series by series (same labels = same series). Counters of a process that has exited are gone
 * from the sum, which Prometheus reads as a counter reset, as it does for any restart.
 */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const requests = new Map<string, Series>()
  const durations = new Map<string, HistogramSeries>()
  for (const snap of snapshots) {
    for (const s of snap.requests) {
      const k = seriesKey(s.labels)
      const into = requests.get(k)
      if (into) into.value += s.value
      else requests.set(k, { labels: { ...s.labels }, value: s.value })
    }
    for (const h of snap.durations) {
      const k = seriesKey(h.labels)
      const into = durations.get(k)
      if (!into) durations.set(k, { labels: { ...h.labels }, counts: [...h.counts], sum: h.sum, count: h.count })
      else {
        h.counts.forEach((n, i) => (into.counts[i] = (into.counts[i] ?? 0) + n))
        into.sum += h.sum
        into.count += h.count
      }
    }
  }
  return { requests: [...requests.values()], durations: [...durations.values()] }
}

export interface ApiMetrics {
  /**
   * Counts one answered request by method, matched route and status, timed from `started` (`performance.now()`).
   * Called once the response is final: after `next()` in the app's first middleware, which also answers requests
   * itself (a body larger than any route accepts) and so must count them in the same place.
   */
  observe(c: Context, started: number): void
  /**
   * `GET /metrics` (needs an API key). `gather` collects the counters of every process serving the port
   * (a Node cluster); without it the answer is this process's own. `database` sets `c.get('db')` for the queue
   * depth, after the key check.
   */
  routes(options: { keys: readonly string[]; gather?: GatherMetrics; database: DatabaseMiddleware }): Hono<AppEnv>
  /** This process's counters as plain data. */
  snapshot(): MetricsSnapshot
  /**
   * The exposition text of `snapshots` summed (default: this process's own); `queue` adds the queue depth
   * (tests, and the route).
   */
  render(queue?: Record<string, number>, snapshots?: readonly MetricsSnapshot[]): string
}

/** The route label: the pattern of the last handler that matched (not a middleware), or `unmatched`. */
function routeOf(c: Context): string {
  const routes = matchedRoutes(c)
  for (let i = routes.length - 1; i >= 0; i--) if (routes[i]!.method !== 'ALL') return routes[i]!.path
  return 'unmatched'
}

/**
 * A fresh set of API counters (one per `createApp`; no import-time singleton).
 * @example const metrics = createApiMetrics(); app.use(async (c, next) => { const t = performance.now(); try { await next() } finally { metrics.observe(c, t) } })
 */
export function createApiMetrics(): ApiMetrics {
  const requests = new Map<string, Series>()
  const durations = new Map<string, HistogramSeries>()

  const observe = (c: Context, started: number): void => {
    const route = routeOf(c)
    const method = c.req.method
    const status = c.res.status
    // Plain string keys: this runs on every request, and JSON-encoding label objects was a visible share of it.
    const k = `${method} ${route} ${status}`
    let s = requests.get(k)
    if (!s) requests.set(k, (s = { labels: { method, route, status: String(status) }, value: 0 }))
    s.value++
    const seconds = (performance.now() - started) / 1000
    const hk = `${method} ${route}`
    let h = durations.get(hk)
    if (!h) durations.set(hk, (h = { labels: { method, route }, counts: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 }))
    for (let i = DURATION_BUCKETS.length - 1; i >= 0 && seconds <= DURATION_BUCKETS[i]!; i--) h.counts[i]!++
    h.sum += seconds
    h.count++
  }

  const snapshot = (): MetricsSnapshot => ({
    requests: [...requests.values()].map((s) => ({ labels: s.labels, value: s.value })),
    durations: [...durations.values()].map((h) => ({ labels: h.labels, counts: [...h.counts], sum: h.sum, count: h.count })),
  })

  const render = (queue?: Record<string, number>, snapshots: readonly MetricsSnapshot[] = [snapshot()]): string => {
    const merged = snapshots.length === 1 ? snapshots[0]! : mergeSnapshots(snapshots)
    const out: string[] = []
    out.push('# HELP wa_gateway_http_requests_total HTTP requests answered, by method, matched route and status.')
    out.push('# TYPE wa_gateway_http_requests_total counter')
    for (const s of merged.requests) out.push(`wa_gateway_http_requests_total${labelSet(s.labels)} ${s.value}`)
    out.push('# HELP wa_gateway_http_request_duration_seconds Time to answer, by method and matched route.')
    out.push('# TYPE wa_gateway_http_request_duration_seconds histogram')
    for (const h of merged.durations) {
      DURATION_BUCKETS.forEach((le, i) => out.push(`wa_gateway_http_request_duration_seconds_bucket${labelSet({ ...h.labels, le: String(le) })} ${h.counts[i]}`))
      out.push(`wa_gateway_http_request_duration_seconds_bucket${labelSet({ ...h.labels, le: '+Inf' })} ${h.count}`)
      out.push(`wa_gateway_http_request_duration_seconds_sum${labelSet(h.labels)} ${h.sum}`)
      out.push(`wa_gateway_http_request_duration_seconds_count${labelSet(h.labels)} ${h.count}`)
    }
    if (queue) {
      out.push('# HELP wa_gateway_messages Messages in the database by status (queue depth: pending and sending).')
      out.push('# TYPE wa_gateway_messages gauge')
      for (const [status, n] of Object.entries(queue)) out.push(`wa_gateway_messages${labelSet({ status })} ${n}`)
    }
    out.push('# HELP wa_gateway_api_processes API processes whose counters this answer sums (API_WORKERS; fewer than configured while one restarts or does not answer).')
    out.push('# TYPE wa_gateway_api_processes gauge')
    out.push(`wa_gateway_api_processes ${snapshots.length}`)
    return `${out.join('\n')}\n`
  }

  const routes: ApiMetrics['routes'] = ({ keys, gather, database }) => {
    const prepared = prepareKeys(keys)
    const app = new Hono<AppEnv>()
    // The key first, then the database: a refused scrape costs no connection.
    const requireKey: MiddlewareHandler<AppEnv> = async (c, next) => {
      const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('Authorization') ?? '')?.[1]
      const given = c.req.header('X-API-Key') ?? bearer
      if (!given || !matchesPreparedKey(given.trim(), prepared)) {
        c.header('WWW-Authenticate', 'Bearer realm="metrics"')
        return c.json(errorBody('unauthorized', 'Unauthorized'), 401)
      }
      await next()
    }
    app.get('/metrics', requireKey, database, async (c) => {
      const [queue, snapshots] = await Promise.all([countMessagesByStatus(c.get('db')), gather ? gather(snapshot()) : [snapshot()]])
      return c.body(render(queue, snapshots), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' })
    })
    return app
  }

  return { observe, routes, snapshot, render }
}
