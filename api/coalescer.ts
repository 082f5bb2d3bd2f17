/**
 * Group commit for single sends: concurrent `POST /api/send` calls are gathered and written with one
 * multi-row INSERT (`enqueueMessages`), which returns ids in input order, so every waiter gets exactly
 * its own row's id.
 *
 * While a flush is running, new sends wait for the next one (at most `maxInFlight` INSERTs run at once):
 * the busier the API, the larger each batch. An idle coalescer waits `delayMs` for company, or with 0 only
 * until the end of the current event-loop turn: every request whose bytes arrived in the same turn shares
 * the INSERT. (`setTimeout(fn, 0)` is no substitute: Node clamps it to 1 ms, which on a busy API was a
 * millisecond added to each batch while the CPU sat idle.)
 * The Node entry passes it to the app as the send path's `enqueueSend` (api/node.ts); on Workers each request has
 * its own connection, so there is nothing to share and the app writes one INSERT per send.
 */
import { DatabaseUnavailableError, type Queryable } from '../db/driver.js'
import { enqueueMessages, type EnqueueInput } from '../db/lifecycle/enqueue.js'
import type { Logger } from './env.js'

export interface SendCoalescerOptions {
  db: Queryable
  /** Wait this long for company before flushing an idle batch (0 = the end of this event-loop turn). */
  delayMs?: number
  /** Flush at once when this many sends are waiting. */
  maxBatch?: number
  /** Concurrent INSERT statements (each holds one pooled connection). */
  maxInFlight?: number
  log?: Logger
}

export interface SendCoalescer {
  /** Queues one message through the next multi-row INSERT and resolves with its id. */
  enqueue(input: EnqueueInput): Promise<number>
  /** Flushes what is waiting and resolves when every started INSERT has settled. */
  drain(): Promise<void>
  /** Counters for tests and the bench: statements run and rows written. */
  readonly stats: { batches: number; rows: number; largestBatch: number }
}

interface Waiter {
  input: EnqueueInput
  resolve(id: number): void
  reject(err: unknown): void
}

/**
 * Runs `fn` after `delayMs`, or for 0 once the current event-loop turn's I/O callbacks are done (setImmediate,
 * a timer where there is none); returns a canceller.
 */
function schedule(delayMs: number, fn: () => void): () => void {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown; clearImmediate?: (h: unknown) => void }
  if (delayMs === 0 && g.setImmediate && g.clearImmediate) {
    const handle = g.setImmediate(fn)
    return () => g.clearImmediate!(handle)
  }
  const handle = setTimeout(fn, delayMs)
  return () => clearTimeout(handle)
}

export function createSendCoalescer({ db, delayMs = 0, maxBatch = 256, maxInFlight = 1, log }: SendCoalescerOptions): SendCoalescer {
  if (maxBatch < 1) throw new Error('maxBatch must be at least 1')
  if (maxInFlight < 1) throw new Error('maxInFlight must be at least 1')
  if (delayMs < 0) throw new Error('delayMs must not be negative')
  let waiting: Waiter[] = []
  let cancelTimer: (() => void) | null = null
  let inFlight = 0
  const running = new Set<Promise<void>>()
  const stats = { batches: 0, rows: 0, largestBatch: 0 }

  async function write(batch: Waiter[]): Promise<void> {
    let ids: number[]
    try {
      ids = await enqueueMessages(db, batch.map((w) => w.input))
    } catch (err) {
      if (err instanceof DatabaseUnavailableError || batch.length === 1) {
        // The statement may or may not have committed: never retry, fail every waiter (503).
        for (const w of batch) w.reject(err)
        return
      }
      // The statement was refused as a whole (nothing committed): isolate the culprit by
      // writing each row alone, so one bad row cannot fail its neighbours.
      log?.warn({ err: { name: (err as Error).name, message: (err as Error).message }, rows: batch.length }, 'multi-row insert failed; retrying rows one by one')
      await Promise.all(batch.map((w) => write([w])))
      return
    }
    if (ids.length !== batch.length) {
      const err = new Error(`multi-row insert returned ${ids.length} ids for ${batch.length} rows`)
      for (const w of batch) w.reject(err)
      return
    }
    stats.batches++
    stats.rows += batch.length
    stats.largestBatch = Math.max(stats.largestBatch, batch.length)
    batch.forEach((w, i) => w.resolve(ids[i]!))
  }

  function flush(): void {
    if (cancelTimer) {
      cancelTimer()
      cancelTimer = null
    }
    while (waiting.length > 0 && inFlight < maxInFlight) {
      const batch = waiting.slice(0, maxBatch)
      waiting = waiting.slice(batch.length)
      inFlight++
      const p = write(batch).finally(() => {
        inFlight--
        running.delete(p)
        // Sends that arrived during this INSERT go out at once: they have already waited.
        if (waiting.length > 0) flush()
      })
      running.add(p)
    }
  }

  return {
    stats,
    enqueue(input) {
      return new Promise<number>((resolve, reject) => {
        waiting.push({ input, resolve, reject })
        if (waiting.length >= maxBatch) flush()
        else if (!cancelTimer && inFlight < maxInFlight) cancelTimer = schedule(delayMs, flush)
      })
    },
    async drain() {
      flush()
      while (running.size > 0 || waiting.length > 0) {
        await Promise.allSettled([...running])
        flush()
      }
    },
  }
}
