/**
 * `npm run bench -- start [--before <checkout>] [--runs 3] [--settle 5]`: how `npm start` and `npm run api` start,
 * run exactly as a user runs them (`npm start` in the checkout, through npm), side by side for an older checkout
 * (e.g. `--before /path/to/clone-of-96009ca` with its node_modules installed) and this one, in the same run.
 *
 * - `npm start` cold: an empty DATA_DIR (the embedded database is created) and an empty TMPDIR (no compile cache
 *   of tsx's, for checkouts that use it); for this checkout dist/ is already built (the build is timed apart).
 * - `npm start` warm: the same DATA_DIR and TMPDIR again, `--runs` times (the median is printed).
 *   Time = from spawning npm to `GET /readyz` answering 200. Memory = resident set of every process under npm,
 *   `--settle` seconds later (the runner has met the WhatsApp server by then: the loopback one, run by this script).
 * - `npm run api` on MariaDB, idle: a scratch database, `--settle` seconds after ready.
 * - stop: SIGTERM to npm's PID, as a supervisor sends it; how long until npm is gone, and what is left running.
 * - build: `npm run build` in this checkout, timed.
 *
 * Figures are wall-clock on this machine, whatever else it runs: compare checkouts within one run.
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { openMysql } from '../../db/drivers/mysql.js'
import { TEST_MYSQL_URL } from '../support/engines.js'
import { freePort } from '../support/free-port.js'
import { startLoopbackServer } from '../support/wa-loopback/server.js'

const THIS_CHECKOUT = resolve(import.meta.dirname, '..', '..')

interface ProcessInfo {
  pid: number
  ppid: number
  name: string
  rssMb: number
}

function allProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const status = readFileSync(`/proc/${entry}/status`, 'utf8')
      const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0)
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(0, 4).join(' ')
      out.push({ pid: Number(entry), ppid: Number(fields[1]), name: cmdline || stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), rssMb: rssKb / 1024 })
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** Every process below `pid` (not `pid` itself). */
function descendants(pid: number): ProcessInfo[] {
  const all = allProcesses()
  const found: ProcessInfo[] = []
  const queue = [pid]
  while (queue.length) {
    const parent = queue.shift()!
    for (const p of all) {
      if (p.ppid !== parent) continue
      found.push(p)
      queue.push(p.pid)
    }
  }
  return found
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface StartFigures {
  readyMs: number
  /** Processes under npm (sh, node, tsx's, esbuild) with their memory. */
  processes: ProcessInfo[]
  stopMs: number
  leftRunning: ProcessInfo[]
  portFreeAfterStop: boolean
}

async function portAnswers(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/healthz`).then(() => true, () => false)
}

/** `npm run <script>` in `checkout` until /readyz, settle, measure, SIGTERM npm, see what is left. */
async function startOnce(checkout: string, script: string, env: Record<string, string>, settleS: number): Promise<StartFigures> {
  const port = await freePort()
  const t0 = performance.now()
  const npm = spawn('npm', ['run', script, '--silent'], {
    cwd: checkout,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  npm.stdout.on('data', (d) => (output += d))
  npm.stderr.on('data', (d) => (output += d))
  const exited = new Promise<void>((r) => npm.on('exit', () => r()))
  let readyMs: number
  try {
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null)
      if (res?.status === 200) break
      if (npm.exitCode !== null || performance.now() - t0 > 180_000) throw new Error(`npm run ${script} did not get ready:\n${output}`)
      await sleep(20)
    }
    readyMs = performance.now() - t0
    await sleep(settleS * 1000)
  } catch (err) {
    npm.kill('SIGKILL')
    throw err
  }
  const processes = descendants(npm.pid!)
  const t1 = performance.now()
  npm.kill('SIGTERM')
  await Promise.race([exited, sleep(20_000)])
  const stopMs = performance.now() - t1
  await sleep(1000)
  const leftRunning = processes.filter((p) => alive(p.pid))
  const portFreeAfterStop = !(await portAnswers(port))
  for (const p of leftRunning) process.kill(p.pid, 'SIGKILL')
  return { readyMs, processes, stopMs, leftRunning, portFreeAfterStop }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const mb = (n: number) => `${Math.round(n)} MB`

function describe(label: string, runs: StartFigures[]): void {
  const last = runs.at(-1)!
  const largest = Math.max(...last.processes.map((p) => p.rssMb))
  const total = last.processes.reduce((s, p) => s + p.rssMb, 0)
  const ready = runs.map((r) => r.readyMs)
  console.log(
    `  ${label.padEnd(28)} ready ${(median(ready) / 1000).toFixed(2)} s` +
      (runs.length > 1 ? ` (runs: ${ready.map((ms) => (ms / 1000).toFixed(2)).join(', ')})` : '') +
      `   largest process ${mb(largest)}, all ${last.processes.length} under npm ${mb(total)}`,
  )
  for (const p of last.processes) console.log(`      ${String(p.pid).padStart(7)} ${mb(p.rssMb).padStart(7)}  ${p.name.slice(0, 90)}`)
  const stop = runs.map((r) => `${(r.stopMs / 1000).toFixed(1)} s`).join(', ')
  const orphans = runs.flatMap((r) => r.leftRunning)
  console.log(`      SIGTERM to npm: gone in ${stop}; left running: ${orphans.length ? orphans.map((p) => p.name.slice(0, 40)).join('; ') : 'nothing'}; port ${runs.every((r) => r.portFreeAfterStop) ? 'free' : 'STILL ANSWERING'}`)
}

async function scratchMysql(): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = process.env.BENCH_MYSQL_URL ?? TEST_MYSQL_URL
  const name = `wa_bench_start_${randomBytes(4).toString('hex')}`
  const admin = await openMysql({ url: base, connectionLimit: 1 })
  await admin.execute(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  await admin.close()
  const url = new URL(base)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async drop() {
      const a = await openMysql({ url: base, connectionLimit: 1 })
      await a.execute(`DROP DATABASE IF EXISTS \`${name}\``)
      await a.close()
    },
  }
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}

export async function run(args: string[]): Promise<void> {
  const before = option(args, '--before')
  const runs = Number(option(args, '--runs') ?? 3)
  const settleS = Number(option(args, '--settle') ?? 5)
  const checkouts = [...(before ? [['before', resolve(before)]] : []), ['this checkout', THIS_CHECKOUT]] as const
  const loopback = await startLoopbackServer()
  const mysql = await scratchMysql()
  console.log(`start benchmark: node ${process.version}, ${runs} warm runs, ${settleS} s settle; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  try {
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: THIS_CHECKOUT, encoding: 'utf8' })
    if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`)
    console.log(`  npm run build (this checkout): ${/built dist\/ in ([\d.]+ s)/.exec(build.stderr)?.[1] ?? '?'}`)
    for (const [label, checkout] of checkouts) {
      console.log(`${label}: ${checkout} (${spawnSync('git', ['log', '-1', '--format=%h %s'], { cwd: checkout, encoding: 'utf8' }).stdout.trim().slice(0, 70)})`)
      const dataDir = mkdtempSync(join(tmpdir(), 'wa-bench-start-data-'))
      const tmp = mkdtempSync(join(tmpdir(), 'wa-bench-start-tmp-'))
      const env = { ...loopback.info.env, DATA_DIR: dataDir, TMPDIR: tmp, PRINT_QR: '0' }
      try {
        describe('npm start, cold', [await startOnce(checkout, 'start', env, settleS)])
        const warm: StartFigures[] = []
        for (let i = 0; i < runs; i++) warm.push(await startOnce(checkout, 'start', env, settleS))
        describe('npm start, warm', warm)
        const apiEnv = { DATABASE_URL: mysql.url, API_SECRET: 'bench-start-key-0123456789', TMPDIR: tmp, LOG_LEVEL: 'warn' }
        describe('npm run api (MariaDB), idle', [await startOnce(checkout, 'api', apiEnv, settleS)])
      } finally {
        rmSync(dataDir, { recursive: true, force: true })
        rmSync(tmp, { recursive: true, force: true })
      }
    }
  } finally {
    await loopback.stop()
    await mysql.drop()
  }
}
