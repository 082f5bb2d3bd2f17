import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { pino } from 'pino'
import sharp from 'sharp'
import type { Db, Engine } from '../../db/driver.js'
import { openMysql } from '../../db/drivers/mysql.js'
import { openPglite } from '../../db/drivers/pglite.js'
import { openPostgres } from '../../db/drivers/postgres.js'
import { migrate } from '../../db/migrate.js'
import * as leases from '../../db/queries/leases.js'
import * as runners from '../../db/queries/runners.js'
import { insertMedia } from '../../db/queries/media.js'
import { enqueueMessages, newWaMessageId } from '../../db/lifecycle/enqueue.js'
import * as lifecycle from '../../db/lifecycle/index.js'
import { runnerConfig } from '../../runner/config.js'
import { createRunner } from '../../runner/runner.js'
import { createWhatsAppFactory } from '../../runner/whatsapp/client.js'
import type { LoopbackInfo } from '../support/wa-loopback/server.js'
import { TEST_MYSQL_URL, TEST_POSTGRES_URL } from '../support/engines.js'
import { buildPdf } from '../runner/media-fixtures.js'

/**
 * `npm run bench -- runner [--engine postgres|mysql|pglite] [--sessions 100] [--texts 2000] [--images 200] [--documents 20]`
 *
 * One runner (in this process) holding N sessions paired with the loopback WhatsApp server (a separate process,
 * so its CPU and memory are not this process's), throttling off:
 * - text messages/s through claim → Baileys send (Signal encryption) → server ack (`acked_at` on every row);
 * - beside it, the queue-only rate: claim + finalize with no WhatsApp at all, same engine, same sessions, same
 *   concurrency (one loop per session), and the ratio of the two;
 * - image messages/s (a 2000×1500 JPEG original compressed by sharp per send, encrypted and uploaded: each message
 *   has its own stored copy, so no upload is reused);
 * - document messages/s (a 5 MB PDF each, its own stored copy: read from the database, pages counted, encrypted,
 *   uploaded) and the runner's RSS while they are sent;
 * - resident memory per connected session with the database-backed, encrypted auth state.
 */
export async function run(args: string[]): Promise<void> {
  const engine = (option(args, '--engine') ?? 'postgres') as Engine
  const sessions = Number(option(args, '--sessions') ?? 100)
  const texts = Number(option(args, '--texts') ?? 2000)
  const images = Number(option(args, '--images') ?? 200)
  const documents = Number(option(args, '--documents') ?? 20)
  const gc = exposeGc()
  const log = pino({ level: 'silent' })
  const { child, info, controlUrl } = await startServerProcess()
  const { db, drop } = await scratchDatabase(engine)
  console.log(`runner benchmark: ${engine} (${db.serverVersion}), ${sessions} sessions, node ${process.version}`)
  let runner: ReturnType<typeof createRunner> | undefined
  try {
    await migrate(db)
    for (let i = 1; i < sessions; i++) {
      await db.execute(db.dialect === 'mysql' ? 'INSERT INTO sessions (name) VALUES (?)' : 'INSERT INTO sessions (name) VALUES ($1)', [`b${String(i).padStart(3, '0')}`])
    }
    const names = (await db.query<{ name: string }>('SELECT name FROM sessions ORDER BY name')).map((r) => String(r.name))
    const factory = await createWhatsAppFactory({ db, authStateKey: new Uint8Array(randomBytes(32)), env: info.env })
    await settle(gc)
    const baseline = process.memoryUsage().rss
    const config = runnerConfig({ throttleMinMs: 0, throttleMaxMs: 0, capacity: 1000, pollMs: 200, printQr: false, presence: 'off' })
    runner = createRunner({ db, config, log, whatsapp: factory })
    await runner.start()

    // Pair every session: scan each published QR through the loopback control API, 10 at a time.
    const pairStart = Date.now()
    const pending = new Set(names)
    while (pending.size) {
      const rows = await db.query<{ name: string; qr: string | null; status: string }>('SELECT name, qr, status FROM sessions')
      const batch = rows.filter((r) => pending.has(String(r.name)) && r.qr).slice(0, 10)
      await Promise.all(batch.map(async (r) => {
        const res = await fetch(`${controlUrl}/control/scan`, { method: 'POST', body: JSON.stringify({ qr: r.qr }) })
        if (res.ok) pending.delete(String(r.name))
      }))
      if (!batch.length) await sleep(200)
    }
    await waitUntil(async () => Number((await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM sessions WHERE status = 'online'"))[0]!.n) === names.length, 300_000)
    console.log(`paired and online: ${names.length} sessions in ${((Date.now() - pairStart) / 1000).toFixed(1)} s`)
    await sleep(3000)
    await settle(gc)
    const connectedRss = process.memoryUsage().rss
    const authBytes = Number((await db.query<{ b: number }>(
      db.dialect === 'mysql' ? 'SELECT COALESCE(SUM(LENGTH(value)), 0) AS b FROM auth_keys' : 'SELECT COALESCE(SUM(octet_length(value)), 0) AS b FROM auth_keys',
    ))[0]!.b)

    // Text throughput through Baileys to the server ack: first to new recipients (each send also runs the lazy
    // registration check, a USync device query and a Signal session setup), then again to the same recipients.
    const firstRate = await throughput(db, names, texts, 'text', null)
    const textRate = await throughput(db, names, texts, 'text', null)
    // Image throughput.
    const original = await sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#4a7' } }).jpeg({ quality: 92 }).toBuffer()
    // One stored copy per message: a shared media would be uploaded once per session and reused after.
    const imageIds: number[] = []
    for (let i = 0; i < images; i++) {
      imageIds.push(await insertMedia(db, { bytes: original, mime: 'image/jpeg', width: 2000, height: 1500, sha256: 'b'.repeat(64) }))
    }
    const imageRate = await throughput(db, names, images, 'image', imageIds)
    // Document throughput and memory: a 5 MB PDF per message, each its own upload.
    const documentIds: number[] = []
    for (let i = 0; i < documents; i++) {
      const pdf = buildPdf([`Statement ${i}`, 'Page 2'], 5 * 1024 * 1024)
      documentIds.push(await insertMedia(db, { bytes: pdf, mime: 'application/pdf', sha256: createHash('sha256').update(pdf).digest('hex') }))
    }
    await settle(gc)
    const beforeDocumentsRss = process.memoryUsage().rss
    let peakDocumentsRss = beforeDocumentsRss
    const sampler = setInterval(() => (peakDocumentsRss = Math.max(peakDocumentsRss, process.memoryUsage().rss)), 100)
    const documentRate = documents > 0 ? await throughput(db, names, documents, 'document', documentIds).finally(() => clearInterval(sampler)) : 0
    clearInterval(sampler)
    await runner.stop()
    runner = undefined

    // Queue-only: claim + finalize with no WhatsApp, same sessions, one loop per session.
    const queueRate = await queueOnly(db, names, texts)

    const perSession = (connectedRss - baseline) / names.length
    console.log('')
    console.log(`| figure (${engine}, ${names.length} sessions, throttle off) | value |`)
    console.log('|---|---|')
    console.log(`| text messages/s to first-time recipients (registration check + Signal session setup) | ${firstRate.toFixed(0)} |`)
    console.log(`| text messages/s, claim → Baileys send → server ack (known recipients) | ${textRate.toFixed(0)} |`)
    console.log(`| queue-only claim + finalize/s (no WhatsApp) | ${queueRate.toFixed(0)} |`)
    console.log(`| ratio (end to end, known recipients / queue only) | ${(textRate / queueRate).toFixed(2)} |`)
    console.log(`| image messages/s (2000×1500 JPEG → 1280 px, q78, upload) | ${imageRate.toFixed(1)} |`)
    console.log(`| document messages/s (5 MB PDF: read, page count, encrypt, upload) | ${documentRate.toFixed(2)} |`)
    console.log(`| RSS while sending the documents: before → peak | ${mb(beforeDocumentsRss)} → ${mb(peakDocumentsRss)} MB |`)
    console.log(`| resident memory per connected session | ${(perSession / 2 ** 20).toFixed(1)} MB |`)
    console.log(`| RSS: before sessions → all connected | ${mb(baseline)} → ${mb(connectedRss)} MB |`)
    console.log(`| encrypted auth state in the database | ${(authBytes / names.length / 1024).toFixed(0)} KiB per session |`)
  } finally {
    await runner?.stop().catch(() => {})
    child.kill('SIGTERM')
    await drop()
  }
}

async function throughput(db: Db, names: string[], count: number, type: 'text' | 'image' | 'document', mediaIds: number[] | null): Promise<number> {
  const inputs = Array.from({ length: count }, (_, i) => ({
    session: names[i % names.length]!, phone: `4477009${String(i % 1000).padStart(5, '0')}`, type,
    body: type === 'text' ? `bench ${i} مرحبا 👋` : `caption ${i}`, mediaId: mediaIds ? mediaIds[i % mediaIds.length]! : null,
    ...(type === 'document' ? { details: { fileName: `statement-${i}.pdf` } } : {}),
  }))
  const started = Date.now()
  const ids: number[] = []
  for (let i = 0; i < inputs.length; i += 500) ids.push(...(await enqueueMessages(db, inputs.slice(i, i + 500))))
  const min = ids[0]!
  const max = ids[ids.length - 1]!
  const sql = db.dialect === 'mysql'
    ? 'SELECT COUNT(*) AS n FROM messages WHERE id BETWEEN ? AND ? AND acked_at IS NOT NULL'
    : 'SELECT COUNT(*) AS n FROM messages WHERE id BETWEEN $1 AND $2 AND acked_at IS NOT NULL'
  await waitUntil(async () => Number((await db.query<{ n: number }>(sql, [min, max]))[0]!.n) >= count, 600_000)
  const seconds = (Date.now() - started) / 1000
  console.log(`${type}: ${count} messages acked in ${seconds.toFixed(1)} s`)
  return count / seconds
}

async function queueOnly(db: Db, names: string[], count: number): Promise<number> {
  const owner = `bench-${process.pid}`
  await runners.registerRunner(db, { host: 'bench', pid: process.pid, id: owner })
  const held = new Map<string, number>()
  while (held.size < names.length) {
    const got = await leases.acquireSessionLeases(db, { owner, ttlSeconds: 300, max: 2, minGapMs: 0 })
    for (const l of got) held.set(l.name, l.leaseEpoch)
    if (!got.length) await sleep(50)
  }
  await db.execute(db.dialect === 'mysql' ? 'UPDATE sessions SET next_send_at = NOW(6)' : 'UPDATE sessions SET next_send_at = now()')
  const inputs = Array.from({ length: count }, (_, i) => ({ session: names[i % names.length]!, phone: '447700900001', type: 'text' as const, body: `q ${i}` }))
  for (let i = 0; i < inputs.length; i += 500) await enqueueMessages(db, inputs.slice(i, i + 500))
  const started = Date.now()
  let done = 0
  await Promise.all([...held].map(async ([session, epoch]) => {
    for (;;) {
      const r = await lifecycle.claimNextMessage(db, { session, owner, epoch, gapMs: 0, optInMode: 'open', newWaId: newWaMessageId })
      if (r.kind === 'idle') return
      if (r.kind !== 'claimed') continue
      await lifecycle.finalizeSent(db, { id: r.message.id, owner, epoch, session, minGapMs: 0 })
      done++
    }
  }))
  const seconds = (Date.now() - started) / 1000
  console.log(`queue only: ${done} claim+finalize in ${seconds.toFixed(1)} s`)
  return done / seconds
}

async function scratchDatabase(engine: Engine): Promise<{ db: Db; drop: () => Promise<void> }> {
  const name = `wa_bench_runner_${process.pid}`
  if (engine === 'pglite') {
    const db = await openPglite({ dataDir: 'memory://' })
    return { db, drop: () => db.close() }
  }
  if (engine === 'mysql') {
    const admin = await openMysql({ url: TEST_MYSQL_URL, connectionLimit: 1 })
    await admin.execute(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
    const u = new URL(TEST_MYSQL_URL)
    u.pathname = `/${name}`
    const db = await openMysql({ url: u.toString(), connectionLimit: 20 })
    return { db, drop: async () => { await db.close(); await admin.execute(`DROP DATABASE IF EXISTS \`${name}\``); await admin.close() } }
  }
  const admin = await openPostgres({ url: TEST_POSTGRES_URL, max: 1 })
  await admin.execute(`CREATE DATABASE "${name}"`)
  const u = new URL(TEST_POSTGRES_URL)
  u.pathname = `/${name}`
  const db = await openPostgres({ url: u.toString(), max: 20 })
  return { db, drop: async () => { await db.close(); await admin.execute(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); await admin.close() } }
}

async function startServerProcess(): Promise<{ child: ChildProcess; info: LoopbackInfo; controlUrl: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/wa-loopback/cli.ts', '--port', '0', '--log', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  // Read with a listener that keeps draining: leaving a `for await` loop would destroy stdout, and the server's next
  // log line would then kill it with EPIPE.
  return new Promise((resolve, reject) => {
    let out = ''
    let found = false
    child.stdout.on('data', (chunk: Buffer) => {
      if (found) return
      out += String(chunk)
      try {
        const parsed = JSON.parse(out) as LoopbackInfo & { control_url: string }
        found = true
        resolve({ child, info: parsed, controlUrl: parsed.control_url })
      } catch {
        // not complete yet
      }
    })
    child.on('exit', () => {
      if (!found) reject(new Error(`loopback server exited before printing its info: ${out}`))
    })
  })
}

async function waitUntil(fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('benchmark condition not reached in time')
    await sleep(100)
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0)

async function settle(gc: () => void): Promise<void> {
  await sleep(500)
  gc()
  gc()
}

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (() => void) | undefined
  return gc ?? (() => {})
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
