import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { pino } from 'pino'
import type { Db } from '../../db/driver.js'
import { openMysql } from '../../db/drivers/mysql.js'
import { openPostgres } from '../../db/drivers/postgres.js'
import { migrate } from '../../db/migrate.js'
import { TEST_MYSQL_URL, TEST_POSTGRES_URL } from '../support/engines.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

/**
 * `npm run bench -- sessions --runner [--levels 100,300,500] [--hold-minutes 10] [--sample-seconds 30]
 *  [--settle-seconds 60] [--engine postgres|mysql] [--lease-ttl-seconds N] [--checkout <dir>] [--heap-snapshots <dir>]`
 *
 * Resident memory of the REAL runner process (`node dist/runner/main.js`, what `npm run runner` runs, built with
 * `infra/build.mjs --if-stale` in `--checkout`, this one by default) holding N paired, idle sessions on PostgreSQL
 * (`--engine postgres`, default) or MariaDB (`--engine mysql`), a scratch database next to `TEST_POSTGRES_URL` /
 * `TEST_MYSQL_URL`, against the loopback WhatsApp server (in this process, so its
 * memory is not the runner's). Nothing forces a garbage collection: this is what an operator's `ps` shows.
 *
 * For each level: sessions are added (rows inserted; the runner leases them, two per poll), each QR is scanned, and
 * once all are online and `--settle-seconds` (60) have passed, the level is held for `--hold-minutes` with VmRSS read from /proc/<pid>/status every
 * `--sample-seconds`. Printed per level: RSS at the start and end of the hold, its mean, the least-squares slope over
 * the hold (MB/min: a leak shows as growth while idle), and the marginal MB per session against the previous level
 * (means of the holds). `--heap-snapshots <dir>` writes a V8 heap snapshot of the runner at the end of each hold
 * (`--heapsnapshot-signal`), for comparing retained sizes by constructor.
 *
 * The runner runs with production defaults except `RUNNER_CAPACITY` (the largest level), `RUNNER_POLL_MS` 250 (so
 * 500 sessions are leased in about a minute, not four; the poll is per runner, not per session), `PRESENCE=off` and
 * `LOG_LEVEL=info` (its log is read and dropped).
 */
const THIS_CHECKOUT = resolve(import.meta.dirname, '..', '..')
const SCANS_AT_ONCE = 10

export async function run(args: string[]): Promise<void> {
  const levels = (option(args, '--levels') ?? '100,300,500').split(',').map(Number)
  if (!levels.length || levels.some((l, i) => !Number.isInteger(l) || l < 1 || (i > 0 && l <= levels[i - 1]!))) {
    throw new Error('--levels must be increasing whole numbers, e.g. 100,300,500')
  }
  const holdMs = Number(option(args, '--hold-minutes') ?? 10) * 60_000
  const sampleMs = Number(option(args, '--sample-seconds') ?? 30) * 1000
  const settleMs = Number(option(args, '--settle-seconds') ?? 60) * 1000
  const checkout = resolve(option(args, '--checkout') ?? THIS_CHECKOUT)
  const snapshots = option(args, '--heap-snapshots')
  // On a machine starved by other work the runner can miss its renewals and lose leases mid-hold; a longer TTL keeps
  // the sessions it holds (memory does not depend on it).
  const leaseTtl = option(args, '--lease-ttl-seconds')
  const label = checkout === THIS_CHECKOUT ? 'this checkout' : checkout
  const commit = spawnSync('git', ['-C', checkout, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || '?'

  const built = spawnSync(process.execPath, ['infra/build.mjs', '--if-stale'], { cwd: checkout, stdio: 'inherit' })
  if (built.status !== 0) throw new Error(`the build failed in ${checkout}`)

  const engine = option(args, '--engine') ?? 'postgres'
  if (engine !== 'postgres' && engine !== 'mysql') throw new Error('--engine must be postgres or mysql')
  const server = await startLoopbackServer({ log: pino({ level: 'error' }) })
  const { db, url, drop } = await scratchDatabase(engine)
  const dataDir = mkdtempSync(join(tmpdir(), 'wa-bench-memory-'))
  let runner: ChildProcess | undefined
  try {
    await migrate(db)
    runner = spawnRunner(checkout, {
      DATABASE_URL: url.toString(),
      AUTH_STATE_KEY: randomBytes(32).toString('hex'),
      DATA_DIR: dataDir,
      RUNNER_CAPACITY: String(levels.at(-1)),
      RUNNER_POLL_MS: '250',
      ...(leaseTtl ? { LEASE_TTL_SECONDS: leaseTtl } : {}),
      PRESENCE: 'off',
      LOG_LEVEL: 'info',
      PRINT_QR: '0',
      ...server.info.env,
    }, snapshots)
    const pid = runner.pid!
    console.log(`runner memory benchmark: ${label} (${commit}), pid ${pid}, ${engine} ${db.serverVersion}, levels ${levels.join(', ')}, ` +
      `hold ${holdMs / 60_000} min, sample every ${sampleMs / 1000} s, node ${process.version}`)

    // The runner with the "default" session only, unpaired: its QR rotating, no socket open yet counted below.
    await sleep(15_000)
    const baseline = rssKb(pid)
    console.log(`baseline (runner started, no paired session): ${mb(baseline)} MB`)

    const rows: LevelFigures[] = []
    let paired = 0
    for (const level of levels) {
      const started = Date.now()
      await addSessions(db, level)
      paired = await pairAll(db, server, level, () => assertAlive(runner!))
      console.log(`level ${level}: ${paired} online in ${((Date.now() - started) / 1000).toFixed(0)} s; settling ${settleMs / 1000} s, then holding ${holdMs / 60_000} min`)
      // The first logins' garbage (pre-key uploads, pairing) is not what an idle session costs.
      await sleep(settleMs)
      const samples: Array<{ t: number; kb: number }> = []
      const holdStart = Date.now()
      for (;;) {
        assertAlive(runner)
        samples.push({ t: Date.now() - holdStart, kb: rssKb(pid) })
        const last = samples.at(-1)!
        console.log(`  ${(last.t / 60_000).toFixed(1)} min: ${mb(last.kb)} MB`)
        if (Date.now() - holdStart + sampleMs > holdMs + 1000) break
        await sleep(sampleMs)
      }
      const online = await countOnline(db)
      if (online !== level) console.log(`  note: ${online} of ${level} sessions online at the end of the hold`)
      if (snapshots) {
        process.kill(pid, 'SIGUSR2')
        console.log(`  heap snapshot requested (written to ${snapshots})`)
        await sleep(30_000 + level * 100)
      }
      rows.push(figures(level, samples))
    }

    console.log(`\nreal runner process (${label}, ${commit}), ${paired} idle paired sessions at the end; baseline ${mb(baseline)} MB`)
    const header = ['sessions', 'RSS start → end MB', 'mean MB', 'slope MB/min', 'MB/session (mean − baseline) / n', 'marginal MB/session']
    const table: string[][] = []
    let previous = { level: 0, meanKb: baseline }
    for (const r of rows) {
      table.push([
        String(r.level),
        `${mb(r.firstKb)} → ${mb(r.lastKb)}`,
        mb(r.meanKb),
        (r.slopeKbPerMin / 1024).toFixed(2),
        mb((r.meanKb - baseline) / r.level),
        mb((r.meanKb - previous.meanKb) / (r.level - previous.level)),
      ])
      previous = { level: r.level, meanKb: r.meanKb }
    }
    print(header, table)
  } finally {
    if (runner && runner.exitCode === null && runner.signalCode === null) {
      runner.kill('SIGTERM')
      await new Promise((r) => runner!.once('exit', r))
    }
    await drop()
    await server.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** A scratch database next to TEST_POSTGRES_URL / TEST_MYSQL_URL, dropped afterwards. */
async function scratchDatabase(engine: 'postgres' | 'mysql'): Promise<{ db: Db; url: URL; drop: () => Promise<void> }> {
  const name = `wa_bench_memory_${process.pid}`
  const url = new URL(engine === 'mysql' ? TEST_MYSQL_URL : TEST_POSTGRES_URL)
  url.pathname = `/${name}`
  if (engine === 'mysql') {
    const admin = await openMysql({ url: TEST_MYSQL_URL, connectionLimit: 1 })
    await admin.execute(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
    const db = await openMysql({ url: url.toString(), connectionLimit: 2 })
    return { db, url, drop: async () => { await db.close(); await admin.execute(`DROP DATABASE IF EXISTS \`${name}\``); await admin.close() } }
  }
  const admin = await openPostgres({ url: TEST_POSTGRES_URL, max: 1 })
  await admin.execute(`CREATE DATABASE "${name}"`)
  const db = await openPostgres({ url: url.toString(), max: 2 })
  return { db, url, drop: async () => { await db.close(); await admin.execute(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); await admin.close() } }
}

interface LevelFigures {
  level: number
  firstKb: number
  lastKb: number
  meanKb: number
  slopeKbPerMin: number
}

function figures(level: number, samples: Array<{ t: number; kb: number }>): LevelFigures {
  const n = samples.length
  const meanKb = samples.reduce((s, x) => s + x.kb, 0) / n
  const meanT = samples.reduce((s, x) => s + x.t, 0) / n
  const sxx = samples.reduce((s, x) => s + (x.t - meanT) ** 2, 0)
  const sxy = samples.reduce((s, x) => s + (x.t - meanT) * (x.kb - meanKb), 0)
  const slopeKbPerMs = sxx > 0 ? sxy / sxx : 0
  return { level, firstKb: samples[0]!.kb, lastKb: samples.at(-1)!.kb, meanKb, slopeKbPerMin: slopeKbPerMs * 60_000 }
}

/** `node dist/runner/main.js` in `checkout`, its JSON log read and dropped (errors are echoed). */
function spawnRunner(checkout: string, env: Record<string, string>, snapshots: string | undefined): ChildProcess {
  const flags: string[] = []
  if (snapshots) {
    mkdirSync(snapshots, { recursive: true })
    flags.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${resolve(snapshots)}`)
  }
  const child = spawn(process.execPath, [...flags, 'dist/runner/main.js'], {
    cwd: checkout,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  createInterface({ input: child.stdout }).on('line', (line) => {
    // The 515 "stream errored out" after each pairing is the restart WhatsApp asks for, not a fault.
    if (/"level":(50|60)/.test(line) && !line.includes('"code":"515"')) console.log(`  runner: ${line.slice(0, 300)}`)
  })
  createInterface({ input: child.stderr }).on('line', (line) => console.log(`  runner stderr: ${line.slice(0, 300)}`))
  return child
}

function assertAlive(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the runner exited (${child.exitCode ?? child.signalCode})`)
}

/** Inserts session rows up to `total` (the "default" session the migrations create counts as one). */
async function addSessions(db: Db, total: number): Promise<void> {
  const have = Number((await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM sessions'))[0]!.n)
  for (let i = have; i < total; i++) {
    await db.execute(db.dialect === 'mysql' ? 'INSERT INTO sessions (name) VALUES (?)' : 'INSERT INTO sessions (name) VALUES ($1)', [`m${String(i).padStart(4, '0')}`])
  }
}

const countOnline = async (db: Db) => Number((await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM sessions WHERE status = 'online'"))[0]!.n)

/** Scans every published QR (a few at a time) until `total` sessions are online; a missed QR is scanned when it rotates. */
async function pairAll(db: Db, server: LoopbackServer, total: number, check: () => void): Promise<number> {
  const scanned = new Set<string>()
  const deadline = Date.now() + 30 * 60_000
  for (;;) {
    check()
    const online = await countOnline(db)
    if (online >= total) return online
    if (Date.now() > deadline) throw new Error(`only ${online} of ${total} sessions came online in 30 minutes`)
    // On a loaded machine a QR can run out before its turn: ask for a new one, as the dashboard would.
    await db.execute(db.dialect === 'mysql'
      ? "UPDATE sessions SET reconnect_requested_at = NOW(6) WHERE detail LIKE 'qr_expired%' AND reconnect_requested_at IS NULL"
      : "UPDATE sessions SET reconnect_requested_at = now() WHERE detail LIKE 'qr_expired%' AND reconnect_requested_at IS NULL")
    const rows = await db.query<{ qr: string | null }>("SELECT qr FROM sessions WHERE status <> 'online' AND qr IS NOT NULL")
    const fresh = rows.map((r) => String(r.qr)).filter((qr) => !scanned.has(qr)).slice(0, SCANS_AT_ONCE)
    for (const qr of fresh) scanned.add(qr)
    await Promise.all(fresh.map((qr) => server.scan(qr).catch(() => undefined)))
    if (!fresh.length) await sleep(500)
  }
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0)
}

const mb = (kb: number) => (kb / 1024).toFixed(1)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}

function print(header: string[], rows: string[][]): void {
  console.log(`| ${header.join(' | ')} |`)
  console.log(`|${header.map(() => '---').join('|')}|`)
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
}
