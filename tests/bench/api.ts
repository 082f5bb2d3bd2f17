/**
 * `npm run bench -- api [--seconds N] [--concurrency N]`: the Node API on MariaDB/MySQL, side by
 * side in one run with a raw mysql2 single-row INSERT loop at the same concurrency.
 *
 * - raw: N workers, each `INSERT INTO messages …` (one row, autocommit) in a loop on a pool of N.
 * - api: the real server (`api/node.ts`, a child process) and N keep-alive HTTP clients calling
 *   `POST /api/send`; concurrent sends share multi-row INSERTs (group commit, api/coalescer.ts).
 * - batch: 4 clients calling `POST /api/send-batch` with 500 messages each.
 *
 * The database: BENCH_MYSQL_URL, else TEST_MYSQL_URL, else mysql://root@127.0.0.1:3306/test; a
 * scratch database is created next to it and dropped afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import mysql from 'mysql2/promise'
import { openMysql } from '../../db/drivers/mysql.js'
import { migrate } from '../../db/migrate.js'
import { newWaMessageId } from '../../db/queries/messages.js'

interface Figures {
  ops: number
  seconds: number
  perSecond: number
  p50: number
  p99: number
  errors: number
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** Runs `op` from `concurrency` loops for `seconds` (after `warmup` seconds not counted). */
async function measure(concurrency: number, seconds: number, warmup: number, op: () => Promise<boolean>): Promise<Figures> {
  const latencies: number[] = []
  let errors = 0
  let measuring = false
  let stop = false
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stop) {
      const t0 = performance.now()
      const ok = await op().catch(() => false)
      if (measuring) {
        if (ok) latencies.push(performance.now() - t0)
        else errors++
      }
    }
  })
  await new Promise((r) => setTimeout(r, warmup * 1000))
  measuring = true
  const started = performance.now()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  measuring = false
  const elapsed = (performance.now() - started) / 1000
  stop = true
  await Promise.all(loops)
  latencies.sort((a, b) => a - b)
  return { ops: latencies.length, seconds: elapsed, perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors }
}

function post(agent: http.Agent, base: URL, path: string, body: string, key: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: base.hostname, port: base.port, path, method: 'POST', headers: { 'X-API-Key': key, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function startServer(url: string, key: string): Promise<{ child: ChildProcess; base: URL }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/node.ts'], {
    env: { ...process.env, API_SECRET: key, DATABASE_URL: url, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  const base = await new Promise<URL>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out)
      if (m) resolve(new URL(m[1]!))
    })
    child.once('exit', (code) => reject(new Error(`api exited with ${code}: ${out}`)))
  })
  return { child, base }
}

const fmt = (f: Figures, unit = 'req/s') =>
  `${f.perSecond.toFixed(0).padStart(7)} ${unit}   p50 ${f.p50.toFixed(1).padStart(6)} ms   p99 ${f.p99.toFixed(1).padStart(6)} ms${f.errors ? `   errors ${f.errors}` : ''}`

export async function run(args: string[]): Promise<void> {
  const opt = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`)
    return i >= 0 ? Number(args[i + 1]) : fallback
  }
  const seconds = opt('seconds', 10)
  const concurrency = opt('concurrency', 32)
  const warmup = opt('warmup', 2)
  const adminUrl = process.env.BENCH_MYSQL_URL ?? process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
  const name = `wa_bench_${randomBytes(4).toString('hex')}`
  const admin = await mysql.createConnection({ uri: adminUrl })
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  const u = new URL(adminUrl)
  u.pathname = `/${name}`
  const url = u.toString()
  const key = randomBytes(16).toString('hex')
  let server: ChildProcess | null = null
  try {
    const db = await openMysql({ url, connectionLimit: 2 })
    await migrate(db)
    const version = db.serverVersion
    await db.close()

    // 1. Raw mysql2: one single-row INSERT per operation, autocommit, pool of `concurrency`.
    const pool = mysql.createPool({ uri: url, connectionLimit: concurrency, charset: 'utf8mb4_unicode_ci', timezone: 'Z' })
    const insert = `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NOW(6), NOW(6), NOW(6))`
    const raw = await measure(concurrency, seconds, warmup, async () => {
      await pool.query(insert, ['default', '9611234567', 'text', 'Hello from the gateway!', null, null, null, newWaMessageId()])
      return true
    })
    await pool.end()

    // 2. The API, same concurrency, keep-alive connections.
    const started = await startServer(url, key)
    server = started.child
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
    const body = JSON.stringify({ phone: '9611234567', message: 'Hello from the gateway!' })
    const api = await measure(concurrency, seconds, warmup, async () => (await post(agent, started.base, '/api/send', body, key)).status === 200)

    // 3. send-batch: 4 clients × 500 messages.
    const batchSize = 500
    const batchBody = JSON.stringify({ messages: Array.from({ length: batchSize }, (_, i) => ({ phone: `96170${String(i).padStart(6, '0')}`, message: `Batch message ${i}` })) })
    const batch = await measure(4, seconds, warmup, async () => (await post(agent, started.base, '/api/send-batch', batchBody, key)).status === 200)
    agent.destroy()

    const ratio = api.perSecond / raw.perSecond
    console.log(`\nAPI bench — ${version}, concurrency ${concurrency}, ${seconds} s per phase (after ${warmup} s warm-up)\n`)
    console.log(`  raw mysql2 single-row INSERT   ${fmt(raw, 'ins/s')}`)
    console.log(`  POST /api/send (group commit)  ${fmt(api)}`)
    console.log(`  ratio api / raw                ${ratio.toFixed(2)}×`)
    console.log(`  POST /api/send-batch (4 × ${batchSize}) ${fmt({ ...batch, perSecond: batch.perSecond * batchSize }, 'msg/s')}  (${batch.perSecond.toFixed(1)} req/s)`)
    console.log(`\n  target: ratio ≥ 1.00 and p99 < 50 ms → ${ratio >= 1 && api.p99 < 50 ? 'met' : 'NOT met'}\n`)
  } finally {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r))
      server.kill('SIGTERM')
      await exited
    }
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
    await admin.end()
  }
}
