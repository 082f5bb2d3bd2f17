import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, openSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Db, Engine } from '../../db/driver.js'
import { enqueueMessages, type EnqueueInput } from '../../db/lifecycle/enqueue.js'
import { createTestDatabase } from '../support/db.js'
import type { ScaleRunnerStats } from './scale-runner.js'

/**
 * `npm run bench -- scale [--sessions 1000] [--runners 2] [--engine postgres|mysql] [--idle-seconds 60]
 *   [--send-seconds 60] [--pace 8000-22000] [--ack-ms 50] [--fail-rate 0] [--compare 1000/2,10000/20]`
 *
 * Real runner processes (tests/bench/scale-runner.ts: `npm run runner`'s process with a simulated WhatsApp and a
 * counting database handle) share N paired sessions on a fresh database of their own. Three phases, each measured
 * on the database and in the runners:
 * 1. idle: every session online and past its first (empty) claim, nothing queued, `--idle-seconds`;
 * 2. sending: every session has a queue and sends at the throttle (`--pace`, default 8–22 s: ~1/15 msg/s a session),
 *    measured for `--send-seconds` after one slot's warm-up;
 * 3. takeover: the runner holding the most sessions is SIGKILLed; the others take its sessions over.
 * Printed per phase: statements/s and transactions/s sent by the runners (counted in their database handle), commits/s,
 * rows read and sequential scans on the server, claim latency p50/p99, messages sent/s, CPU per runner; for the
 * takeover, how many sessions and how long after the kill and after the dead runner's leases ran out.
 * `--compare a/b,c/d` runs two sizes one after the other and prints the ratio of each figure.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLOCK_TICKS = 100

interface Options {
  engine: Engine
  idleSeconds: number
  sendSeconds: number
  paceMin: number
  paceMax: number
  ackMs: number
  failRate: number
  ttlSeconds: number
  pollMs: number
}

interface Size {
  sessions: number
  runners: number
}

interface Phase {
  name: string
  seconds: number
  statementsPerSec: number
  transactionsPerSec: number
  commitsPerSec: number
  rowsReadPerSec: number
  rowsReadPerStatement: number
  /** PostgreSQL: seq scans on sessions / messages; MariaDB: server-wide full scans (Select_scan) */
  seqScansPerSec: { sessions: number; messages: number } | { serverWide: number }
  rndNextPerSec: number | null
  /** PostgreSQL: rows fetched from sessions / messages (sequential and index scans), and index scans */
  tables: { sessionsRows: number; messagesRows: number; sessionsIdx: number; messagesIdx: number } | null
  claims: number
  claimP50: number | null
  claimP99: number | null
  sentPerSec: number
  cpuPerRunner: { mean: number; max: number }
  top: [string, number][]
}

interface Takeover {
  sessions: number
  leaseLeftAtKillMs: number
  firstAfterKillMs: number | null
  allAfterKillMs: number | null
  allAfterExpiryMs: number | null
  boundMs: number
}

interface Result {
  size: Size
  total: number
  onlineAfterMs: number
  phases: Phase[]
  takeover: Takeover | null
}

export async function run(args: string[]): Promise<void> {
  const pace = (option(args, '--pace') ?? '8000-22000').split('-').map(Number)
  const options: Options = {
    engine: (option(args, '--engine') ?? 'postgres') as Engine,
    idleSeconds: Number(option(args, '--idle-seconds') ?? 60),
    sendSeconds: Number(option(args, '--send-seconds') ?? 60),
    paceMin: pace[0]!,
    paceMax: pace[1] ?? pace[0]!,
    ackMs: Number(option(args, '--ack-ms') ?? 50),
    failRate: Number(option(args, '--fail-rate') ?? 0),
    ttlSeconds: 30,
    pollMs: 1000,
  }
  if (options.engine !== 'postgres' && options.engine !== 'mysql') throw new Error('--engine must be postgres or mysql')
  if (!(options.paceMin > 0 && options.paceMax >= options.paceMin)) throw new Error('--pace must be MIN-MAX in ms, MIN > 0')
  const compare = option(args, '--compare')
  const sizes: Size[] = compare
    ? compare.split(',').map((s) => {
        const [sessions, runners] = s.split('/').map(Number)
        return { sessions: sessions!, runners: runners! }
      })
    : [{ sessions: Number(option(args, '--sessions') ?? 1000), runners: Number(option(args, '--runners') ?? 2) }]
  for (const s of sizes) {
    if (!(Number.isInteger(s.sessions) && s.sessions > 0 && Number.isInteger(s.runners) && s.runners > 1)) {
      throw new Error('sizes are SESSIONS/RUNNERS with at least 2 runners (one is killed)')
    }
  }
  console.log(
    `scale benchmark: ${options.engine}, sizes ${sizes.map((s) => `${s.sessions}/${s.runners}`).join(', ')}, idle ${options.idleSeconds} s, ` +
      `sending ${options.sendSeconds} s at a pace of ${options.paceMin}–${options.paceMax} ms, ack ${options.ackMs} ms, failures ${options.failRate}, node ${process.version}`,
  )
  const results: Result[] = []
  for (const size of sizes) {
    const r = await runSize(size, options)
    results.push(r)
    printResult(r)
  }
  if (results.length === 2) printRatio(results[0]!, results[1]!)
}

async function runSize(size: Size, o: Options): Promise<Result> {
  const t = await createTestDatabase(o.engine, { poolSize: 4 })
  const db = t.db
  const logDir = mkdtempSync(join(tmpdir(), 'wa-scale-'))
  const children: ChildProcess[] = []
  // Ctrl-C: the runners go too (graceful), then the database is dropped by the finally below.
  const interrupt = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
  }
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)
  console.log(`\n== ${size.sessions} sessions, ${size.runners} runners (${o.engine} ${db.serverVersion}); runner logs in ${logDir}`)
  try {
    await insertSessions(db, size.sessions)
    const total = Number((await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM sessions'))[0]!.n)
    // Room for the killed runner's share among the others; pools small enough for max_connections.
    const capacity = Math.ceil(total / (size.runners - 1)) + 10
    const pool = Math.max(2, Math.min(10, Math.floor(80 / size.runners)))
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_URL: t.url!,
      AUTH_STATE_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'warn',
      PRINT_QR: '0',
      PRESENCE: 'off',
      RUNNER_CAPACITY: String(capacity),
      RUNNER_DB_POOL_SIZE: String(pool),
      THROTTLE_MIN_MS: String(o.paceMin),
      THROTTLE_MAX_MS: String(o.paceMax),
      LEASE_TTL_SECONDS: String(o.ttlSeconds),
      RUNNER_POLL_MS: String(o.pollMs),
      SCALE_ACK_MS: String(o.ackMs),
      SCALE_FAIL_RATE: String(o.failRate),
    }
    const started = Date.now()
    for (let i = 0; i < size.runners; i++) {
      const out = openSync(join(logDir, `runner-${i}.log`), 'a')
      children.push(spawn(process.execPath, ['--import', 'tsx', 'tests/bench/scale-runner.ts'], {
        cwd: ROOT, env, stdio: ['ignore', out, out, 'ipc'],
      }))
    }
    const online = async () => Number((await db.query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM sessions WHERE status = 'online' AND owner IS NOT NULL",
    ))[0]!.n)
    let last = -1
    await waitUntil(async () => {
      const n = await online()
      if (n !== last && (Date.now() - started) % 10_000 < 1000) console.log(`  online: ${n}/${total} after ${((Date.now() - started) / 1000).toFixed(0)} s`)
      last = n
      for (const c of children) if (c.exitCode !== null) throw new Error(`a runner exited (${c.exitCode}); see ${logDir}`)
      return n >= total
    }, 1_800_000, 1000)
    const onlineAfterMs = Date.now() - started
    console.log(`  all ${total} sessions online after ${(onlineAfterMs / 1000).toFixed(1)} s`)
    // A session's first claim comes one throttle minimum after its acquire (the acquire holds the gap), and finds
    // nothing: part of coming online, not of being idle. The idle phase starts once the last of them is past.
    await sleep(Math.max(5000, o.paceMin + 2 * o.pollMs))

    const phases: Phase[] = []
    phases.push(await measure('idle', db, children, o.idleSeconds * 1000))
    console.log(`  idle: ${phases[0]!.statementsPerSec.toFixed(1)} statements/s`)

    // Enough queued for every session to send through the warm-up, the sending phase and the takeover.
    const perSession = Math.ceil((o.paceMax + o.sendSeconds * 1000 + 2 * o.ttlSeconds * 1000 + 30_000) / o.paceMin) + 1
    const names = (await db.query<{ name: string }>('SELECT name FROM sessions ORDER BY name')).map((r) => String(r.name))
    const enqStart = Date.now()
    await enqueueAll(db, names, perSession)
    console.log(`  queued ${perSession * names.length} messages (${perSession} a session) in ${((Date.now() - enqStart) / 1000).toFixed(1)} s`)
    await sleep(o.paceMax + 2000)
    phases.push(await measure('sending', db, children, o.sendSeconds * 1000))
    console.log(`  sending: ${phases[1]!.sentPerSec.toFixed(1)} messages/s, claim p99 ${fmt(phases[1]!.claimP99)} ms`)

    const { phase, takeover } = await killOne(db, children, o)
    phases.push(phase)
    return { size, total, onlineAfterMs, phases, takeover }
  } finally {
    process.off('SIGINT', interrupt)
    process.off('SIGTERM', interrupt)
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)))))
    await t.drop()
  }
}

async function insertSessions(db: Db, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const rows = Array.from({ length: Math.min(1000, n - i) }, (_, k) => `s${String(i + k + 1).padStart(6, '0')}`)
    const values = rows.map((_, k) => (db.dialect === 'mysql' ? '(?, ?, NOW(6))' : `($${2 * k + 1}, $${2 * k + 2}, now())`)).join(', ')
    await db.execute(`INSERT INTO sessions (name, phone, paired_at) VALUES ${values}`, rows.flatMap((name, k) => [name, `1555${String(i + k).padStart(8, '0')}`]))
  }
}

async function enqueueAll(db: Db, names: string[], perSession: number): Promise<void> {
  let batch: EnqueueInput[] = []
  for (let m = 0; m < perSession; m++) {
    for (const session of names) {
      batch.push({ session, phone: `4477009${String(m * 7919 % 100_000).padStart(5, '0')}`, type: 'text', body: `scale ${m}` })
      if (batch.length === 500) {
        await enqueueMessages(db, batch)
        batch = []
      }
    }
  }
  if (batch.length) await enqueueMessages(db, batch)
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring

interface Snapshot {
  at: number
  server: Record<string, number>
  runners: Map<number, ScaleRunnerStats>
  cpu: Map<number, number>
  sent: number
}

async function snapshot(db: Db, children: ChildProcess[]): Promise<Snapshot> {
  const live = children.filter((c) => c.exitCode === null && c.signalCode === null)
  const stats = await Promise.all(live.map(ask))
  const server = await serverCounters(db)
  const sent = Number((await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE status = 'sent'"))[0]!.n)
  return {
    at: performance.now(),
    server,
    runners: new Map(stats.map((s) => [s.pid, s])),
    cpu: new Map(live.map((c) => [c.pid!, cpuTicks(c.pid!)])),
    sent,
  }
}

async function serverCounters(db: Db): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  if (db.dialect === 'postgres') {
    const [d] = await db.query(
      'SELECT xact_commit, tup_returned, tup_fetched FROM pg_stat_database WHERE datname = current_database()',
    )
    for (const [k, v] of Object.entries(d!)) out[k] = Number(v)
    for (const r of await db.query("SELECT relname, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch FROM pg_stat_user_tables WHERE relname IN ('sessions', 'messages')")) {
      out[`${String(r.relname)}.seq_scan`] = Number(r.seq_scan)
      out[`${String(r.relname)}.rows`] = Number(r.seq_tup_read) + Number(r.idx_tup_fetch)
      out[`${String(r.relname)}.idx_scan`] = Number(r.idx_scan)
    }
  } else {
    const rows = await db.query(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_commit', 'Com_select', 'Com_update', 'Com_insert', 'Com_delete', " +
        "'Handler_read_first', 'Handler_read_key', 'Handler_read_next', 'Handler_read_prev', 'Handler_read_rnd_next', 'Select_scan')",
    )
    for (const r of rows) out[String(r.Variable_name)] = Number(r.Value)
  }
  return out
}

async function measure(name: string, db: Db, children: ChildProcess[], ms: number, until?: () => Promise<boolean>): Promise<Phase> {
  const a = await snapshot(db, children)
  if (until) await waitUntil(until, ms, 250)
  else await sleep(ms)
  const b = await snapshot(db, children)
  return phaseBetween(name, db, a, b)
}

function phaseBetween(name: string, db: Db, a: Snapshot, b: Snapshot): Phase {
  const seconds = (b.at - a.at) / 1000
  const rate = (n: number) => n / seconds
  let statements = 0
  let transactions = 0
  const claimMs: number[] = []
  const byText = new Map<string, number>()
  for (const [pid, s] of b.runners) {
    const before = a.runners.get(pid)
    statements += s.statements - (before?.statements ?? 0)
    transactions += s.transactions - (before?.transactions ?? 0)
    claimMs.push(...s.claimMs)
    for (const [k, v] of Object.entries(s.byText)) byText.set(k, (byText.get(k) ?? 0) + v - (before?.byText[k] ?? 0))
  }
  const cpu: number[] = []
  for (const [pid, ticks] of b.cpu) {
    const before = a.cpu.get(pid)
    if (before !== undefined) cpu.push(((ticks - before) / CLOCK_TICKS / seconds) * 100)
  }
  const d = (k: string) => (b.server[k] ?? 0) - (a.server[k] ?? 0)
  const pg = db.dialect === 'postgres'
  // MariaDB: every row a handler read, by index or in full (server-wide).
  const rowsRead = pg
    ? d('tup_returned')
    : d('Handler_read_first') + d('Handler_read_key') + d('Handler_read_next') + d('Handler_read_prev') + d('Handler_read_rnd_next')
  claimMs.sort((x, y) => x - y)
  return {
    name,
    seconds,
    statementsPerSec: rate(statements),
    transactionsPerSec: rate(transactions),
    commitsPerSec: rate(pg ? d('xact_commit') : d('Com_commit')),
    rowsReadPerSec: rate(rowsRead),
    rowsReadPerStatement: statements ? rowsRead / statements : 0,
    seqScansPerSec: pg
      ? { sessions: rate(d('sessions.seq_scan')), messages: rate(d('messages.seq_scan')) }
      : { serverWide: rate(d('Select_scan')) },
    rndNextPerSec: pg ? null : rate(d('Handler_read_rnd_next')),
    tables: pg
      ? { sessionsRows: rate(d('sessions.rows')), messagesRows: rate(d('messages.rows')), sessionsIdx: rate(d('sessions.idx_scan')), messagesIdx: rate(d('messages.idx_scan')) }
      : null,
    claims: claimMs.length,
    claimP50: percentile(claimMs, 0.5),
    claimP99: percentile(claimMs, 0.99),
    sentPerSec: rate(b.sent - a.sent),
    cpuPerRunner: { mean: cpu.reduce((x, y) => x + y, 0) / Math.max(1, cpu.length), max: Math.max(0, ...cpu) },
    top: [...byText].filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]).slice(0, 6),
  }
}

async function killOne(db: Db, children: ChildProcess[], o: Options): Promise<{ phase: Phase; takeover: Takeover }> {
  const runners = await db.query<{ id: string; pid: number }>('SELECT id, pid FROM runners')
  const owned = await db.query<{ owner: string; n: number }>('SELECT owner, COUNT(*) AS n FROM sessions WHERE owner IS NOT NULL GROUP BY owner')
  owned.sort((x, y) => Number(y.n) - Number(x.n))
  const victimId = String(owned[0]!.owner)
  const victimPid = Number(runners.find((r) => String(r.id) === victimId)!.pid)
  const victim = children.find((c) => c.pid === victimPid)!
  const p = db.dialect === 'mysql' ? '?' : '$1'
  const names = (await db.query<{ name: string }>(`SELECT name FROM sessions WHERE owner = ${p}`, [victimId])).map((r) => String(r.name))
  const [left] = await db.query<{ ms: number }>(
    db.dialect === 'mysql'
      ? 'SELECT TIMESTAMPDIFF(MICROSECOND, NOW(6), MAX(lease_until)) / 1000 AS ms FROM sessions WHERE owner = ?'
      : 'SELECT extract(epoch FROM MAX(lease_until) - now()) * 1000 AS ms FROM sessions WHERE owner = $1',
    [victimId],
  )
  const leaseLeftAtKillMs = Number(left!.ms)
  const before = await snapshot(db, children)
  const killedAt = performance.now()
  victim.kill('SIGKILL')
  await new Promise((r) => victim.once('exit', r))
  console.log(`  killed runner ${victimPid} holding ${names.length} sessions; its last lease ends in ${(leaseLeftAtKillMs / 1000).toFixed(1)} s`)
  const placeholders = names.map((_, i) => (db.dialect === 'mysql' ? '?' : `$${i + 2}`)).join(', ')
  const takenSql = `SELECT COUNT(*) AS n FROM sessions WHERE owner IS NOT NULL AND owner <> ${p} AND status = 'online' AND name IN (${placeholders})`
  let first: number | null = null
  let all: number | null = null
  const deadline = killedAt + (o.ttlSeconds * 1000) * 4 + 60_000
  while (performance.now() < deadline) {
    const n = Number((await db.query<{ n: number }>(takenSql, [victimId, ...names]))[0]!.n)
    const now = performance.now()
    if (n > 0 && first === null) first = now - killedAt
    if (n >= names.length) {
      all = now - killedAt
      break
    }
    await sleep(100)
  }
  await sleep(3000)
  const after = await snapshot(db, children)
  const phase = phaseBetween('takeover', db, before, after)
  return {
    phase,
    takeover: {
      sessions: names.length,
      leaseLeftAtKillMs,
      firstAfterKillMs: first,
      allAfterKillMs: all,
      allAfterExpiryMs: all === null ? null : all - leaseLeftAtKillMs,
      boundMs: o.ttlSeconds * 1000 + o.pollMs,
    },
  }
}

function ask(child: ChildProcess): Promise<ScaleRunnerStats> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`runner ${child.pid} did not answer for its statistics`)), 30_000)
    child.once('message', (m) => {
      clearTimeout(timer)
      resolve(m as ScaleRunnerStats)
    })
    child.send('stats')
  })
}

/** utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return 0
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Printing

function printResult(r: Result): void {
  console.log(`\n| ${r.size.sessions} sessions / ${r.size.runners} runners | ${r.phases.map((p) => `${p.name} (${p.seconds.toFixed(0)} s)`).join(' | ')} |`)
  console.log(`|---|${r.phases.map(() => '---').join('|')}|`)
  for (const [label, f] of rows()) console.log(`| ${label} | ${r.phases.map((p) => f(p)).join(' | ')} |`)
  if (r.takeover) {
    const t = r.takeover
    console.log(
      `\ntakeover: ${t.sessions} sessions; last lease ran out ${(t.leaseLeftAtKillMs / 1000).toFixed(1)} s after the kill; ` +
        `first taken over after ${fmtS(t.firstAfterKillMs)}, all online elsewhere after ${fmtS(t.allAfterKillMs)} ` +
        `(${fmtS(t.allAfterExpiryMs)} after the lease ran out); bound TTL + one poll = ${fmtS(t.boundMs)}`,
    )
  }
  for (const p of r.phases) {
    console.log(`top statements, ${p.name}: ${p.top.map(([k, v]) => `${(v / p.seconds).toFixed(1)}/s ${k}`).join('\n    ')}`)
  }
}

function rows(): [string, (p: Phase) => string][] {
  return [
    ['statements/s (all runners)', (p) => p.statementsPerSec.toFixed(1)],
    ['transactions/s (all runners)', (p) => p.transactionsPerSec.toFixed(1)],
    ['commits/s (server)', (p) => p.commitsPerSec.toFixed(1)],
    ['rows read/s (server)', (p) => p.rowsReadPerSec.toFixed(0)],
    ['rows read per statement', (p) => p.rowsReadPerStatement.toFixed(2)],
    ['sequential scans/s', (p) => ('serverWide' in p.seqScansPerSec
      ? `${p.seqScansPerSec.serverWide.toFixed(1)} (server-wide), rnd_next ${p.rndNextPerSec!.toFixed(0)}/s`
      : `sessions ${p.seqScansPerSec.sessions.toFixed(2)}, messages ${p.seqScansPerSec.messages.toFixed(2)}`)],
    ['sessions / messages: rows fetched/s, index scans/s', (p) => (p.tables
      ? `${p.tables.sessionsRows.toFixed(0)} / ${p.tables.messagesRows.toFixed(0)}, ${p.tables.sessionsIdx.toFixed(0)} / ${p.tables.messagesIdx.toFixed(0)}`
      : '—')],
    ['claims (p50 / p99 ms)', (p) => `${p.claims} (${fmt(p.claimP50)} / ${fmt(p.claimP99)})`],
    ['messages sent/s', (p) => p.sentPerSec.toFixed(1)],
    ['CPU per runner (mean / max)', (p) => `${p.cpuPerRunner.mean.toFixed(1)} % / ${p.cpuPerRunner.max.toFixed(1)} %`],
  ]
}

function printRatio(a: Result, b: Result): void {
  const label = `${b.size.sessions}/${b.size.runners} ÷ ${a.size.sessions}/${a.size.runners}`
  console.log(`\n| ${label} | ${a.phases.map((p) => p.name).join(' | ')} |`)
  console.log(`|---|${a.phases.map(() => '---').join('|')}|`)
  const ratio = (f: (p: Phase) => number) => a.phases.map((p, i) => {
    const x = f(p)
    const y = f(b.phases[i]!)
    return x > 0 ? `${(y / x).toFixed(2)}×` : '—'
  }).join(' | ')
  console.log(`| statements/s | ${ratio((p) => p.statementsPerSec)} |`)
  console.log(`| statements/s per runner | ${a.phases.map((p, i) => {
    const x = p.statementsPerSec / a.size.runners
    const y = b.phases[i]!.statementsPerSec / b.size.runners
    return x > 0 ? `${(y / x).toFixed(2)}×` : '—'
  }).join(' | ')} |`)
  console.log(`| commits/s | ${ratio((p) => p.commitsPerSec)} |`)
  console.log(`| rows read/s | ${ratio((p) => p.rowsReadPerSec)} |`)
  console.log(`| claim p99 | ${ratio((p) => p.claimP99 ?? 0)} |`)
  console.log(`| messages sent/s | ${ratio((p) => p.sentPerSec)} |`)
}

function percentile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

const fmt = (ms: number | null) => (ms === null ? '—' : ms.toFixed(1))
const fmtS = (ms: number | null) => (ms === null ? 'not within the wait' : `${(ms / 1000).toFixed(1)} s`)

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`)
    await sleep(everyMs)
  }
}
