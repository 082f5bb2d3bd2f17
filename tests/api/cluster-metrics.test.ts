/**
 * The cluster's combined `/metrics` (api/cluster-metrics.ts): a primary and its workers in one process, wired
 * with asynchronous lines as the cluster's IPC channel is, so every path of the protocol runs here: sums over
 * every worker, a worker that does not answer, a primary that does not answer. The real cluster is checked in
 * node-cluster.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { createMetricsCollector, joinClusterMetrics, type WorkerLine } from '../../api/cluster-metrics.js'
import { createApiMetrics, mergeSnapshots, type MetricsSnapshot } from '../../api/metrics.js'

/** IPC delivers later, never in the same turn. */
const later = (fn: () => void) => setImmediate(fn)

interface FakeWorker {
  id: number
  /** Answers collect requests only while true (a worker stuck in a long task does not). */
  responsive: boolean
  counters: ReturnType<typeof createApiMetrics>
  gather: (own: MetricsSnapshot) => Promise<MetricsSnapshot[]>
}

function cluster(count: number, options: { primaryAnswers?: boolean; workerTimeoutMs?: number; primaryTimeoutMs?: number } = {}) {
  const workers: FakeWorker[] = []
  const listeners = new Map<number, (m: unknown) => void>()
  const lineTo = (w: FakeWorker): WorkerLine => ({ id: w.id, send: (m) => later(() => w.responsive && listeners.get(w.id)?.(structuredClone(m))) })
  const primary = createMetricsCollector({ workers: () => workers.map(lineTo), timeoutMs: options.primaryTimeoutMs ?? 200 })
  for (let id = 1; id <= count; id++) {
    const counters = createApiMetrics()
    const worker = { id, responsive: true, counters } as FakeWorker
    const joined = joinClusterMetrics(
      {
        send: (m) => later(() => options.primaryAnswers !== false && primary.onMessage(lineTo(worker), structuredClone(m))),
        onMessage: (l) => listeners.set(id, l),
      },
      { timeoutMs: options.workerTimeoutMs ?? 1000 },
    )
    joined.provide(counters.snapshot)
    worker.gather = joined.gather
    workers.push(worker)
  }
  return workers
}

/** Runs `n` requests through a worker's counters, as the app's first middleware does. */
async function count(w: FakeWorker, n: number, status = 200) {
  const { Hono } = await import('hono')
  const app = new Hono()
  app.use(async (c, next) => {
    const started = performance.now()
    await next()
    w.counters.observe(c, started)
  })
  app.post('/api/send', (c) => c.json({}, status as 200))
  for (let i = 0; i < n; i++) await app.request('/api/send', { method: 'POST' })
}

const sendCount = (text: string, status = 200) =>
  Number(new RegExp(`^wa_gateway_http_requests_total\\{method="POST",route="/api/send",status="${status}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN)
const processes = (text: string) => Number(/^wa_gateway_api_processes (\d+)$/m.exec(text)?.[1] ?? NaN)

async function scrape(w: FakeWorker): Promise<string> {
  return w.counters.render(undefined, await w.gather(w.counters.snapshot()))
}

describe('cluster /metrics', () => {
  it('whichever worker answers, the totals are the sum over every worker', async () => {
    const ws = cluster(3)
    await count(ws[0]!, 5)
    await count(ws[1]!, 7)
    await count(ws[2]!, 11)
    await count(ws[2]!, 2, 422)
    for (const w of ws) {
      const text = await scrape(w)
      expect(sendCount(text)).toBe(23)
      expect(sendCount(text, 422)).toBe(2)
      expect(text).toMatch(/^wa_gateway_http_request_duration_seconds_count\{method="POST",route="\/api\/send"\} 25$/m)
      expect(text).toMatch(/^wa_gateway_http_request_duration_seconds_bucket\{method="POST",route="\/api\/send",le="\+Inf"\} 25$/m)
      expect(processes(text)).toBe(3)
    }
  })

  it('a worker that does not answer is left out after the timeout, and the answer says how many are summed', async () => {
    const ws = cluster(3, { primaryTimeoutMs: 100 })
    await count(ws[0]!, 1)
    await count(ws[1]!, 10)
    await count(ws[2]!, 100)
    ws[1]!.responsive = false
    const started = Date.now()
    const text = await scrape(ws[0]!)
    expect(Date.now() - started).toBeGreaterThanOrEqual(90)
    expect(sendCount(text)).toBe(101)
    expect(processes(text)).toBe(2)
  })

  it('when the primary does not answer, a worker serves its own counters', async () => {
    const ws = cluster(2, { primaryAnswers: false, workerTimeoutMs: 50 })
    await count(ws[0]!, 4)
    await count(ws[1]!, 9)
    const text = await scrape(ws[1]!)
    expect(sendCount(text)).toBe(9)
    expect(processes(text)).toBe(1)
  })

  it('concurrent scrapes on different workers each get their own complete answer', async () => {
    const ws = cluster(4)
    for (const [i, w] of ws.entries()) await count(w, i + 1)
    const texts = await Promise.all([...ws, ...ws].map(scrape))
    for (const text of texts) {
      expect(sendCount(text)).toBe(10)
      expect(processes(text)).toBe(4)
    }
  })
})

describe('mergeSnapshots', () => {
  it('adds series with the same labels and keeps the others apart', () => {
    const a: MetricsSnapshot = {
      requests: [{ labels: { method: 'GET', route: '/a', status: '200' }, value: 2 }],
      durations: [{ labels: { method: 'GET', route: '/a' }, counts: [1, 2], sum: 0.5, count: 2 }],
    }
    const b: MetricsSnapshot = {
      requests: [
        { labels: { method: 'GET', route: '/a', status: '200' }, value: 3 },
        { labels: { method: 'GET', route: '/a', status: '404' }, value: 1 },
      ],
      durations: [{ labels: { method: 'GET', route: '/a' }, counts: [0, 3], sum: 0.25, count: 3 }],
    }
    const merged = mergeSnapshots([a, b])
    expect(merged.requests).toEqual([
      { labels: { method: 'GET', route: '/a', status: '200' }, value: 5 },
      { labels: { method: 'GET', route: '/a', status: '404' }, value: 1 },
    ])
    expect(merged.durations).toEqual([{ labels: { method: 'GET', route: '/a' }, counts: [1, 5], sum: 0.75, count: 5 }])
    // The inputs are not changed (a worker's live counters are never summed into).
    expect(a.requests[0]!.value).toBe(2)
    expect(a.durations[0]!.counts).toEqual([1, 2])
  })
})
