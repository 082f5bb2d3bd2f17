/**
 * One `/metrics` answer for a cluster (`API_WORKERS` > 1). Each worker counts its own requests, and the primary
 * hands each new connection to the next worker, so a scrape used to see whichever worker answered: totals that
 * jumped up and down between scrapes, which Prometheus takes for counter resets. Now the answering worker asks the
 * primary, the primary asks every other worker for its counters, and the answer is their sum.
 *
 * Messages over the cluster's IPC channel (plain objects; `type` names them):
 *   worker → primary   gather    { id, own }        the asking worker's own counters ride along
 *   primary → worker   collect   { id }             every other live worker
 *   worker → primary   snapshot  { id, snapshot }
 *   primary → worker   gathered  { id, snapshots }  to the asker: its own first, then each that answered in time
 * A worker that does not answer within `timeoutMs` (busy, or dying) is left out rather than holding up the
 * scrape; `wa_gateway_api_processes` then shows fewer processes than configured.
 *
 * No runtime imports: the channels are passed in (api/node.ts wires them to `node:cluster`), so the protocol is
 * tested in one process.
 */
import type { Logger } from './env.js'
import type { GatherMetrics, MetricsSnapshot } from './metrics.js'

const GATHER = 'wa-gateway:metrics:gather'
const COLLECT = 'wa-gateway:metrics:collect'
const SNAPSHOT = 'wa-gateway:metrics:snapshot'
const GATHERED = 'wa-gateway:metrics:gathered'

/** A worker's line to the primary. */
export interface PrimaryLine {
  send(message: unknown): void
  onMessage(listener: (message: unknown) => void): void
}

/** The primary's line to one worker. */
export interface WorkerLine {
  readonly id: number
  send(message: unknown): void
}

type Message = { type?: unknown; id?: unknown; own?: unknown; snapshot?: unknown; snapshots?: unknown }

const asMessage = (m: unknown): Message | null => (m && typeof m === 'object' ? (m) : null)

/**
 * The worker's side: `gather` for the app's `/metrics`, and `provide` to answer the primary with this worker's
 * counters once the app exists (until then it answers nothing and is left out).
 */
export function joinClusterMetrics(primary: PrimaryLine, options: { timeoutMs?: number; log?: Logger } = {}): {
  gather: GatherMetrics
  provide(snapshot: () => MetricsSnapshot): void
} {
  const timeoutMs = options.timeoutMs ?? 2000
  let snapshot: (() => MetricsSnapshot) | null = null
  let nextId = 1
  const waiting = new Map<number, (snapshots: MetricsSnapshot[]) => void>()

  primary.onMessage((raw) => {
    const m = asMessage(raw)
    if (m?.type === COLLECT && snapshot) primary.send({ type: SNAPSHOT, id: m.id, snapshot: snapshot() })
    else if (m?.type === GATHERED && typeof m.id === 'number' && Array.isArray(m.snapshots)) waiting.get(m.id)?.(m.snapshots as MetricsSnapshot[])
  })

  return {
    provide(fn) {
      snapshot = fn
    },
    gather(own) {
      const id = nextId++
      return new Promise<MetricsSnapshot[]>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id)
          // The primary is the one that did not answer: this worker's counters are still worth serving.
          options.log?.warn({ timeoutMs }, 'metrics: the cluster primary did not answer; serving this worker\'s counters only')
          resolve([own])
        }, timeoutMs)
        waiting.set(id, (snapshots) => {
          clearTimeout(timer)
          waiting.delete(id)
          resolve(snapshots)
        })
        primary.send({ type: GATHER, id, own })
      })
    },
  }
}

/**
 * The primary's side: feed it every message from a worker (`onMessage`); `workers()` lists the live ones.
 * Messages that are not about metrics are ignored.
 */
export function createMetricsCollector(options: { workers: () => WorkerLine[]; timeoutMs?: number }): {
  onMessage(from: WorkerLine, message: unknown): void
} {
  const timeoutMs = options.timeoutMs ?? 1000
  let nextId = 1
  const collecting = new Map<number, (from: number, snapshot: MetricsSnapshot) => void>()

  function gather(asker: WorkerLine, askerId: unknown, own: MetricsSnapshot): void {
    const others = options.workers().filter((w) => w.id !== asker.id)
    const snapshots: MetricsSnapshot[] = [own]
    const id = nextId++
    const pending = new Set(others.map((w) => w.id))
    const finish = () => {
      clearTimeout(timer)
      collecting.delete(id)
      asker.send({ type: GATHERED, id: askerId, snapshots })
    }
    const timer = setTimeout(finish, timeoutMs)
    collecting.set(id, (from, snapshot) => {
      if (!pending.delete(from)) return
      snapshots.push(snapshot)
      if (pending.size === 0) finish()
    })
    if (pending.size === 0) return finish()
    for (const w of others) w.send({ type: COLLECT, id })
  }

  return {
    onMessage(from, raw) {
      const m = asMessage(raw)
      if (m?.type === GATHER && m.own) gather(from, m.id, m.own as MetricsSnapshot)
      else if (m?.type === SNAPSHOT && typeof m.id === 'number' && m.snapshot) collecting.get(m.id)?.(from.id, m.snapshot as MetricsSnapshot)
    },
  }
}
