/**
 * `npm run bench -- api [--seconds N] [--rounds N] [--concurrency N] [--workers N]`: the Node API on
 * MariaDB/MySQL, side by side in one run with a raw mysql2 single-row INSERT loop at the same concurrency.
 *
 * - raw: N loops, each `INSERT INTO messages …` (one row, autocommit) in a loop on a pool of N.
 * - api: the real server (`api/node.ts`, a child process) and N keep-alive HTTP clients calling
 *   `POST /api/send`; concurrent sends share multi-row INSERTs (group commit, api/coalescer.ts).
 *   The clients are a lean socket loop (./http-client.ts), not `http.request`, so that on a small
 *   machine the benchmark measures the server rather than its own client.
 * - api, workers: the same server as a cluster of `--workers` processes (API_WORKERS; default one per
 *   CPU core, `--workers 1` skips it), as deployed to use every core.
 *
 * Each phase also prints CPU time per operation of the benchmark process, the API process and the
 * local database server (from /proc), which shows where a shared machine's cores went.
 * - batch: 4 clients calling `POST /api/send-batch` with 500 messages each.
 *
 * The database: BENCH_MYSQL_URL, else TEST_MYSQL_URL, else mysql://root@127.0.0.1:3306/test; a
 * scratch database is created next to it and dropped afterwards.
 */
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { readdirSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import mysql from 'mysql2/promise'
import { openMysql } from '../../db/drivers/mysql.js'
import { migrate } from '../../db/migrate.js'
import { newWaMessageId } from '../../db/lifecycle/enqueue.js'
import { startApiProcess, type ApiProcess } from '../soak/processes.js'
import { buildPost, connect } from './http-client.js'

interface Figures {
  ops: number
  seconds: number
  perSecond: number
  p50: number
  p99: number
  errors: number
  /** CPU microseconds per operation by process label (client = this benchmark process). */
  cpuPerOpUs: Record<string, number>
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** `/proc/<pid>/stat` fields after the parenthesised command (state is [0], ppid [1], utime [11], stime [12]). */
function statFields(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** User + system CPU seconds from stat fields (clock ticks, 100/s on Linux). */
const cpuSecondsIn = (fields: string[]) => (Number(fields[11]) + Number(fields[12])) / 100

/** CPU seconds (user + system) a process has used so far, from /proc; null where there is no /proc. */
function cpuSecondsOf(pid: number): number | null {
  const fields = statFields(pid)
  return fields ? cpuSecondsIn(fields) : null
}

/** The same for a process and its children (an API_WORKERS cluster: the primary and its workers). */
function cpuSecondsOfTree(pid: number): number | null {
  const own = cpuSecondsOf(pid)
  if (own === null) return null
  let total = own
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(entry)
    if (fields && Number(fields[1]) === pid) total += cpuSecondsIn(fields)
  }
  return total
}

/** The local database server's pid, when it runs on this machine (for its CPU share). */
function findDatabasePid(): number | null {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim()
      if (comm === 'mariadbd' || comm === 'mysqld') return Number(entry)
    }
  } catch {
    // no /proc: CPU shares are not reported
  }
  return null
}

/** Processes whose CPU time is reported per operation, by label. */
type Watched = Record<string, number | null>

/**
 * Runs `op` from `concurrency` loops for `seconds` (after `warmup` seconds not counted). `op` gets its loop's
 * index (each loop owns one connection). CPU per operation is reported for this process and each watched pid.
 */
async function measure(
  concurrency: number,
  seconds: number,
  warmup: number,
  op: (loop: number) => Promise<boolean>,
  watched: Watched = {},
): Promise<Figures> {
  const latencies: number[] = []
  let errors = 0
  let measuring = false
  let stop = false
  const loops = Array.from({ length: concurrency }, async (_, loop) => {
    while (!stop) {
      const t0 = performance.now()
      const ok = await op(loop).catch(() => false)
      if (measuring) {
        if (ok) latencies.push(performance.now() - t0)
        else errors++
      }
    }
  })
  await new Promise((r) => setTimeout(r, warmup * 1000))
  const cpuAt = (): Record<string, number | null> => ({
    ...Object.fromEntries(Object.entries(watched).map(([label, pid]) => [label, pid === null ? null : cpuSecondsOfTree(pid)])),
    client: cpuSecondsOf(process.pid),
  })
  const cpuBefore = cpuAt()
  measuring = true
  const started = performance.now()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  measuring = false
  const elapsed = (performance.now() - started) / 1000
  const cpuAfter = cpuAt()
  stop = true
  await Promise.all(loops)
  latencies.sort((a, b) => a - b)
  const cpuPerOpUs: Record<string, number> = {}
  for (const [label, before] of Object.entries(cpuBefore)) {
    const after = cpuAfter[label]
    if (before != null && after != null && latencies.length > 0) cpuPerOpUs[label] = ((after - before) / latencies.length) * 1e6
  }
  return { ops: latencies.length, seconds: elapsed, perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, cpuPerOpUs }
}

const fmt = (f: Figures, unit = 'req/s') =>
  `${f.perSecond.toFixed(0).padStart(7)} ${unit}   p50 ${f.p50.toFixed(1).padStart(6)} ms   p99 ${f.p99.toFixed(1).padStart(6)} ms${f.errors ? `   errors ${f.errors}` : ''}`

/** e.g. "CPU/op: client 31 µs, api 52 µs, mariadbd 40 µs" */
const fmtCpu = (f: Figures) =>
  `CPU per op: ${Object.entries(f.cpuPerOpUs).map(([label, us]) => `${label} ${us.toFixed(0)} µs`).join(', ')}`

export async function run(args: string[]): Promise<void> {
  const opt = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`)
    return i >= 0 ? Number(args[i + 1]) : fallback
  }
  const seconds = opt('seconds', 8)
  const rounds = opt('rounds', 3)
  const concurrency = opt('concurrency', 32)
  const warmup = opt('warmup', 2)
  // Also measured as a cluster of this many API processes (API_WORKERS); 1 = the single process only.
  const workers = opt('workers', availableParallelism())
  const adminUrl = process.env.BENCH_MYSQL_URL ?? process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
  const name = `wa_bench_${randomBytes(4).toString('hex')}`
  const admin = await mysql.createConnection({ uri: adminUrl })
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  const u = new URL(adminUrl)
  u.pathname = `/${name}`
  const url = u.toString()
  const key = randomBytes(16).toString('hex')
  const servers: ApiProcess[] = []
  try {
    const db = await openMysql({ url, connectionLimit: 2 })
    await migrate(db)
    const version = db.serverVersion
    await db.close()

    // Both sides are set up first, then measured in alternating rounds (raw, api, raw, api, …): on a shared machine
    // the speed drifts by ±15 % from minute to minute, and alternating puts both sides under the same drift.
    // 1. Raw mysql2: one single-row INSERT per operation, autocommit, pool of `concurrency`.
    const pool = mysql.createPool({ uri: url, connectionLimit: concurrency, charset: 'utf8mb4_unicode_ci', timezone: 'Z' })
    const insert = `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NOW(6), NOW(6), NOW(6))`
    const dbPid = findDatabasePid()
    const rawInsert = async () => {
      await pool.query(insert, ['default', '9611234567', 'text', 'Hello from the gateway!', null, null, null, newWaMessageId()])
      return true
    }

    // 2. The API, same concurrency, one keep-alive connection per caller.
    // The group-commit settings reach the server, so their effect can be measured (SEND_COALESCE_INFLIGHT=4 npm run bench -- api).
    const coalesce = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SEND_COALESCE_'))) as Record<string, string>
    /** One API server (a child process, or a cluster of `workers`) with one keep-alive connection per caller. */
    const startSide = async (label: string, workers: number) => {
      const proc = await startApiProcess({ ...coalesce, API_SECRET: key, DATABASE_URL: url, API_WORKERS: String(workers) })
      servers.push(proc)
      const base = new URL(proc.url)
      // A cluster's workers start one after the other: wait until each has said it listens.
      if (workers > 1) await proc.waitForListening(workers, 60_000)
      const connections = await Promise.all(Array.from({ length: concurrency }, () => connect(base.hostname, Number(base.port))))
      const request = buildPost(base.host, '/api/send', JSON.stringify({ phone: '9611234567', message: 'Hello from the gateway!' }), { 'X-API-Key': key })
      return {
        label, base, connections,
        watched: { api: proc.child.pid ?? null, mariadbd: dbPid },
        send: async (i: number) => (await connections[i]!.send(request)).status === 200,
      }
    }
    const sides = [await startSide('POST /api/send (1 process)', 1)]
    if (workers > 1) sides.push(await startSide(`POST /api/send (${workers} workers)`, workers))

    console.log(`\nAPI bench — ${version}, concurrency ${concurrency}, ${rounds} rounds of ${seconds} s per side (after ${warmup} s warm-up each)`)
    console.log('Group commit in each API process; workers = API_WORKERS (a cluster on one port)\n')
    const rows: { raw: Figures; api: Figures[] }[] = []
    const ratio = (row: { raw: Figures; api: Figures[] }, k: number) => row.api[k]!.perSecond / row.raw.perSecond
    for (let round = 1; round <= rounds; round++) {
      const raw = await measure(concurrency, seconds, warmup, rawInsert, { mariadbd: dbPid })
      console.log(`  round ${round}  raw mysql2 single-row INSERT      ${fmt(raw, 'ins/s')}`)
      console.log(`                                            ${fmtCpu(raw)}`)
      const api: Figures[] = []
      for (const side of sides) {
        const f = await measure(concurrency, seconds, warmup, side.send, side.watched)
        api.push(f)
        console.log(`           ${side.label.padEnd(33)}${fmt(f)}   ratio ${(f.perSecond / raw.perSecond).toFixed(2)}×`)
        console.log(`                                            ${fmtCpu(f)}`)
      }
      rows.push({ raw, api })
      console.log('')
    }
    await pool.end()

    // 3. send-batch: 4 clients × 500 messages, on the single process.
    const batchSize = 500
    const batchBody = JSON.stringify({ messages: Array.from({ length: batchSize }, (_, i) => ({ phone: `96170${String(i).padStart(6, '0')}`, message: `Batch message ${i}` })) })
    const one = sides[0]!
    const batchRequest = buildPost(one.base.host, '/api/send-batch', batchBody, { 'X-API-Key': key })
    const batch = await measure(4, seconds, warmup, async (i) => (await one.connections[i]!.send(batchRequest)).status === 200, one.watched)
    for (const side of sides) for (const c of side.connections) c.close()

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
    console.log(`  medians     raw ${median(rows.map((r) => r.raw.perSecond)).toFixed(0)} ins/s`)
    const verdicts: string[] = []
    sides.forEach((side, k) => {
      const ratios = rows.map((r) => ratio(r, k))
      const med = median(ratios)
      const p99 = Math.max(...rows.map((r) => r.api[k]!.p99))
      console.log(`              ${side.label.padEnd(33)}${median(rows.map((r) => r.api[k]!.perSecond)).toFixed(0)} req/s · ratio ${med.toFixed(2)}× (rounds: ${ratios.map((x) => x.toFixed(2)).join(', ')}) · p99 at most ${p99.toFixed(1)} ms`)
      verdicts.push(`${k === 0 ? 'one process (the default)' : `${workers} workers (API_WORKERS, for comparison)`} ${med >= 1 && p99 < 50 ? 'met' : 'NOT met'}`)
    })
    console.log(`  POST /api/send-batch (4 × ${batchSize}) ${fmt({ ...batch, perSecond: batch.perSecond * batchSize }, 'msg/s')}  (${batch.perSecond.toFixed(1)} req/s)`)
    console.log(`\n  target (median ratio ≥ 1.00, p99 < 50 ms): ${verdicts.join(' · ')}\n`)
  } finally {
    for (const server of servers) await server.stop()
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
    await admin.end()
  }
}
