/**
 * The runner's metrics: a tiny Prometheus registry (no dependency) and the private-port server for
 * `/healthz` and `/metrics` (`RUNNER_METRICS_PORT`, bound to 127.0.0.1 unless told otherwise).
 *
 * NOTE FOR THE RUNNER CODE (how to feed it): `runner/compose.ts` creates one `const metrics = createRunnerMetrics()`,
 * passes it down, and starts `startMetricsServer({ port, metrics, health })` when `config.metricsPort` is set.
 * Then, where things happen:
 *   metrics.sessions.set({ status: 'online' }, n)   session counts by status (or `metrics.registry.onCollect(fn)`
 *                                                     to set them from the supervisors at scrape time)
 *   metrics.reconnects.inc({ reason })              every reconnect attempt (`reason` from our disconnect type)
 *   metrics.sends.inc({ outcome })                  `acked` | `error_ack` | `failed`
 *   metrics.sendLatency.observe(seconds)            WhatsApp send call until the server ack
 *   metrics.claimLatency.observe(seconds)           one `claimNextMessage` transaction
 *   metrics.restricted463.inc()                     a 463 negative ack (session paused)
 *   maintenance schedule: pass `metrics.maintenance` as `JobContext.metrics` (stuck messages, job runs)
 * Every method is synchronous and cheap; none throws.
 *
 * Until the runner feeds them itself, `instrumentWhatsApp(factory, metrics)` (wired in runner/compose.ts) fills
 * reconnects, sends, send latency and the 463 count from the WhatsApp seam; `observeRunnerSessions` fills the
 * sessions gauge at scrape time. Only `claimLatency` needs a call inside the claim loop.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JobName, MaintenanceMetrics } from '../db/maintenance/jobs.js'
import { labelSet, type Labels } from '../db/shared/prometheus-text.js'
import type { WhatsAppClient, WhatsAppClientFactory, WhatsAppHandlers } from './whatsapp/client.js'

const keyOf = (labels: Labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

interface Metric {
  readonly name: string
  render(out: string[]): void
}

export interface Counter {
  inc(labels?: Labels, by?: number): void
  inc(by?: number): void
  /** Current value (tests). */
  get(labels?: Labels): number
}

export interface Gauge {
  set(labels: Labels, value: number): void
  set(value: number): void
  inc(labels?: Labels, by?: number): void
  get(labels?: Labels): number
  /** Drops every series (before re-setting all of them at collect time). */
  reset(): void
}

export interface Histogram {
  observe(labels: Labels, seconds: number): void
  observe(seconds: number): void
  /** Starts a timer; calling the result observes the elapsed seconds. */
  startTimer(labels?: Labels): () => number
  count(labels?: Labels): number
}

/** Default latency buckets, in seconds. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const

function splitArgs(a: Labels | number | undefined, b: number | undefined, fallback: number): [Labels, number] {
  return typeof a === 'number' ? [{}, a] : [a ?? {}, b ?? fallback]
}

/** A set of metrics rendered together. */
export class Registry {
  private readonly metrics: Metric[] = []
  private readonly collectors: Array<() => void> = []

  private add<M extends Metric>(metric: M): M {
    if (!NAME.test(metric.name)) throw new Error(`invalid metric name ${metric.name}`)
    if (this.metrics.some((m) => m.name === metric.name)) throw new Error(`metric ${metric.name} registered twice`)
    this.metrics.push(metric)
    return metric
  }

  /** Runs `fn` before every render (gauges computed from live state). */
  onCollect(fn: () => void): void {
    this.collectors.push(fn)
  }

  counter(name: string, help: string): Counter {
    const series = new Map<string, { labels: Labels; value: number }>()
    const metric = {
      name,
      inc(a?: Labels | number, b?: number) {
        const [labels, by] = splitArgs(a, b, 1)
        if (!(by >= 0)) return
        const k = keyOf(labels)
        const s = series.get(k)
        if (s) s.value += by
        else series.set(k, { labels, value: by })
      },
      get: (labels: Labels = {}) => series.get(keyOf(labels))?.value ?? 0,
      render(out: string[]) {
        out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`)
        if (series.size === 0) out.push(`${name} 0`)
        for (const s of series.values()) out.push(`${name}${labelSet(s.labels)} ${s.value}`)
      },
    }
    return this.add(metric)
  }

  gauge(name: string, help: string): Gauge {
    const series = new Map<string, { labels: Labels; value: number }>()
    const metric = {
      name,
      set(a: Labels | number, b?: number) {
        const [labels, value] = splitArgs(a, b, 0)
        series.set(keyOf(labels), { labels, value })
      },
      inc(a?: Labels | number, b?: number) {
        const [labels, by] = splitArgs(a, b, 1)
        const k = keyOf(labels)
        const s = series.get(k)
        if (s) s.value += by
        else series.set(k, { labels, value: by })
      },
      get: (labels: Labels = {}) => series.get(keyOf(labels))?.value ?? 0,
      reset: () => series.clear(),
      render(out: string[]) {
        out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`)
        for (const s of series.values()) out.push(`${name}${labelSet(s.labels)} ${s.value}`)
      },
    }
    return this.add(metric)
  }

  histogram(name: string, help: string, buckets: readonly number[] = LATENCY_BUCKETS): Histogram {
    const sorted = [...buckets].sort((x, y) => x - y)
    const series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>()
    const observe = (a: Labels | number, b?: number) => {
      const [labels, seconds] = splitArgs(a, b, 0)
      if (!Number.isFinite(seconds)) return
      const k = keyOf(labels)
      let s = series.get(k)
      if (!s) series.set(k, (s = { labels, counts: sorted.map(() => 0), sum: 0, count: 0 }))
      for (let i = 0; i < sorted.length; i++) if (seconds <= sorted[i]!) s.counts[i]!++
      s.sum += seconds
      s.count++
    }
    const metric = {
      name,
      observe,
      startTimer(labels: Labels = {}) {
        const started = performance.now()
        return () => {
          const seconds = (performance.now() - started) / 1000
          observe(labels, seconds)
          return seconds
        }
      },
      count: (labels: Labels = {}) => series.get(keyOf(labels))?.count ?? 0,
      render(out: string[]) {
        out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`)
        for (const s of series.values()) {
          sorted.forEach((le, i) => out.push(`${name}_bucket${labelSet({ ...s.labels, le: String(le) })} ${s.counts[i]}`))
          out.push(`${name}_bucket${labelSet({ ...s.labels, le: '+Inf' })} ${s.count}`)
          out.push(`${name}_sum${labelSet(s.labels)} ${s.sum}`, `${name}_count${labelSet(s.labels)} ${s.count}`)
        }
      },
    }
    return this.add(metric)
  }

  /** The Prometheus text exposition (format 0.0.4). Collectors that throw are skipped. */
  render(): string {
    for (const collect of this.collectors) {
      try {
        collect()
      } catch {
        // A broken collector must not take the whole scrape down.
      }
    }
    const out: string[] = []
    for (const m of this.metrics) m.render(out)
    return `${out.join('\n')}\n`
  }
}

export interface RunnerMetrics {
  registry: Registry
  /** `wa_gateway_runner_sessions{status}`: sessions this runner holds, by status. */
  sessions: Gauge
  /** `wa_gateway_runner_reconnects_total{reason}`. */
  reconnects: Counter
  /** `wa_gateway_runner_sends_total{outcome}`: acked | error_ack | failed (see `instrumentWhatsApp`). */
  sends: Counter
  /** `wa_gateway_runner_send_latency_seconds`: send call until the server ack. */
  sendLatency: Histogram
  /** `wa_gateway_runner_claim_latency_seconds`: one claim transaction. */
  claimLatency: Histogram
  /** `wa_gateway_runner_restricted_463_total`: 463 negative acks (the session pauses). */
  restricted463: Counter
  /** `wa_gateway_stuck_messages_flagged_total` and `wa_gateway_stuck_messages` (last check). */
  stuckFlagged: Counter
  stuckNow: Gauge
  /** Feeds `JobContext.metrics` of the maintenance jobs. */
  maintenance: MaintenanceMetrics
  /** `wa_gateway_webhook_deliveries_total{outcome}`: delivered | retry | dead | lost (runner/webhooks/deliverer.ts). */
  webhookDeliveries: Counter
  /** `wa_gateway_webhook_call_seconds`: one webhook call, connect to answer (or failure). */
  webhookLatency: Histogram
}

/**
 * The runner's instruments on a fresh registry (one per process; no import-time singleton), plus the usual
 * `process_*` gauges.
 */
export function createRunnerMetrics(): RunnerMetrics {
  const registry = new Registry()
  const sessions = registry.gauge('wa_gateway_runner_sessions', 'Sessions held by this runner, by status.')
  const reconnects = registry.counter('wa_gateway_runner_reconnects_total', 'WhatsApp reconnect attempts, by reason.')
  const sends = registry.counter('wa_gateway_runner_sends_total', 'WhatsApp sends by outcome: acked (server ack), error_ack (negative ack), failed (the send call threw).')
  const sendLatency = registry.histogram('wa_gateway_runner_send_latency_seconds', 'WhatsApp send call until the server ack.')
  const claimLatency = registry.histogram('wa_gateway_runner_claim_latency_seconds', 'Duration of one claim transaction.')
  const restricted463 = registry.counter('wa_gateway_runner_restricted_463_total', 'Error 463 (account restricted) negative acks.')
  const stuckFlagged = registry.counter('wa_gateway_stuck_messages_flagged_total', 'Messages found "sending" for more than 2 minutes, summed over maintenance runs.')
  const stuckNow = registry.gauge('wa_gateway_stuck_messages', 'Messages "sending" for more than 2 minutes at the last check this process ran.')
  const jobRuns = registry.counter('wa_gateway_maintenance_runs_total', 'Maintenance job runs by job and outcome (ran, skipped, failed).')
  const jobSeconds = registry.histogram('wa_gateway_maintenance_duration_seconds', 'Maintenance job duration, by job.', [0.01, 0.1, 1, 10, 60, 300])
  const webhookDeliveries = registry.counter('wa_gateway_webhook_deliveries_total', 'Webhook call attempts by outcome: delivered (2xx), retry (failed, retried later), dead (gave up), lost (the claim expired meanwhile).')
  const webhookLatency = registry.histogram('wa_gateway_webhook_call_seconds', 'One webhook call, until the answer or the failure.')
  const memory = registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.')
  const heap = registry.gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.')
  const startTime = registry.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.')
  startTime.set(Math.round(Date.now() / 1000 - process.uptime()))
  registry.onCollect(() => {
    const m = process.memoryUsage()
    memory.set(m.rss)
    heap.set(m.heapUsed)
  })
  const maintenance: MaintenanceMetrics = {
    jobRun(job: JobName, outcome, seconds) {
      jobRuns.inc({ job, outcome })
      if (outcome !== 'skipped') jobSeconds.observe({ job }, seconds)
    },
    stuckFlagged(count) {
      stuckFlagged.inc(count)
      stuckNow.set(count)
    },
  }
  return { registry, sessions, reconnects, sends, sendLatency, claimLatency, restricted463, stuckFlagged, stuckNow, maintenance, webhookDeliveries, webhookLatency }
}

export interface HealthReport {
  ok: boolean
  [detail: string]: unknown
}

export interface MetricsServerOptions {
  port: number
  /** Private by default: only this machine (or an SSH tunnel / Prometheus on the host) can scrape. */
  host?: string
  metrics: RunnerMetrics
  /** `/healthz`: 200 when `ok`, else 503; the report is the JSON body. */
  health?: () => HealthReport | Promise<HealthReport>
}

export interface MetricsServer {
  url: string
  port: number
  close(): Promise<void>
}

/**
 * Serves `GET /healthz` and `GET /metrics` on a private port.
 * @example const server = await startMetricsServer({ port: config.metricsPort, metrics, health: () => ({ ok: runner.id !== null }) })
 */
export function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1'
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end()
      return
    }
    if (path === '/metrics') {
      const body = options.metrics.registry.render()
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : body)
      return
    }
    if (path === '/healthz') {
      Promise.resolve()
        .then(() => (options.health ? options.health() : { ok: true }))
        .then(
          (report) => res.writeHead(report.ok ? 200 : 503, { 'Content-Type': 'application/json' }).end(JSON.stringify(report)),
          (err) =>
            res.writeHead(503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ok: false, error: (err as Error).message })),
        )
      return
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /healthz or /metrics\n')
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      const { port } = server.address() as AddressInfo
      const shown = host.includes(':') ? `[${host}]` : host
      resolve({
        url: `http://${shown}:${port}`,
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections?.()
          }),
      })
    })
  })
}

/**
 * Fills `wa_gateway_runner_sessions{status}` from the runner's own view at every scrape (no runner code change
 * needed): one series per supervisor phase (online, connecting, waiting, …).
 */
export function observeRunnerSessions(metrics: RunnerMetrics, runner: { stats(): { sessions: ReadonlyArray<{ phase: string }> } }): void {
  metrics.registry.onCollect(() => {
    metrics.sessions.reset()
    for (const status of ['online', 'connecting', 'waiting']) metrics.sessions.set({ status }, 0)
    for (const s of runner.stats().sessions) metrics.sessions.inc({ status: s.phase })
  })
}

/** Bound on sends awaiting their server ack (latency bookkeeping only; the oldest are dropped past it). */
const MAX_PENDING_ACKS = 10_000

/**
 * Wraps the WhatsApp client factory so every client reports to `metrics`, without touching the runner:
 * - `connect()` after a session's first: `wa_gateway_runner_reconnects_total{reason}` (the previous close's kind);
 * - `send()` until its server ack: `wa_gateway_runner_send_latency_seconds`;
 * - `wa_gateway_runner_sends_total{outcome}`: `acked` (server ack), `error_ack` (negative ack), `failed` (the send
 *   call threw: nothing or not all of it left);
 * - negative ack 463: `wa_gateway_runner_restricted_463_total`.
 * @example const runner = createRunner({ …, whatsapp: instrumentWhatsApp(factory, metrics) })
 */
export function instrumentWhatsApp(factory: WhatsAppClientFactory, metrics: RunnerMetrics): WhatsAppClientFactory {
  return {
    async create(session, log, fence) {
      const client = await factory.create(session, log, fence)
      const started = new Map<string, () => number>()
      let connects = 0
      let lastClose = 'none'
      // Explicit delegation (not a prototype trick): the client may keep private fields, and a member added to
      // the interface must be forwarded here too, which the type checker enforces.
      const wrapped: WhatsAppClient = {
        get session() {
          return client.session
        },
        get paired() {
          return client.paired
        },
        get phone() {
          return client.phone
        },
        connect(handlers: WhatsAppHandlers) {
          if (connects++ > 0) metrics.reconnects.inc({ reason: lastClose })
          return client.connect({
            ...handlers,
            onClose(reason) {
              lastClose = reason.kind
              handlers.onClose(reason)
            },
            onServerAck(id) {
              const stop = started.get(id)
              if (stop) {
                started.delete(id)
                stop()
                metrics.sends.inc({ outcome: 'acked' })
              }
              handlers.onServerAck(id)
            },
            onErrorAck(ack) {
              if (started.delete(ack.id)) metrics.sends.inc({ outcome: 'error_ack' })
              if (ack.code === '463') metrics.restricted463.inc()
              handlers.onErrorAck(ack)
            },
          })
        },
        async send(to, messageId, content, options) {
          if (started.size >= MAX_PENDING_ACKS) started.delete(started.keys().next().value!)
          started.set(messageId, metrics.sendLatency.startTimer())
          try {
            await client.send(to, messageId, content, options)
          } catch (err) {
            started.delete(messageId)
            metrics.sends.inc({ outcome: 'failed' })
            throw err
          }
        },
        isOnWhatsApp: (phone) => client.isOnWhatsApp(phone),
        phoneForLid: (lid) => client.phoneForLid(lid),
        newMessageId: () => client.newMessageId(),
        logout: () => client.logout(),
        wipe: () => client.wipe(),
        close: () => client.close(),
      }
      // Optional members exist on the wrapper exactly when the client has them: callers test for them (`reset?.()`,
      // "cannot pair by code"), and the type checker does not insist on forwarding what is optional.
      if (client.reset) wrapped.reset = () => client.reset!()
      if (client.requestPairingCode) wrapped.requestPairingCode = (phone) => client.requestPairingCode!(phone)
      if (client.showPresence) wrapped.showPresence = (phone, state) => client.showPresence!(phone, state)
      if (client.fetchGroups) wrapped.fetchGroups = () => client.fetchGroups!()
      if (client.fetchGroup) wrapped.fetchGroup = (id) => client.fetchGroup!(id)
      if (client.lookUp) wrapped.lookUp = (phone) => client.lookUp!(phone)
      return wrapped
    },
  }
}
