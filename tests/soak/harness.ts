/**
 * The soak-and-fault harness, as a library: `runSoak(options)` builds a fresh database on a real server
 * engine, starts the loopback WhatsApp server, the Node API and N runner processes (real Baileys), pairs the
 * sessions, submits messages through the HTTP API at a steady rate while it injects faults, waits for the queue to
 * drain, then reads every message row and every copy the loopback contacts received, and returns a `SoakReport`.
 * `checkReport()` turns the report into a list of violations; `formatReport()` prints it.
 *
 * Faults: SIGKILL of a random runner (restarted at once), a database outage (through a TCP proxy in front of the
 * database, or — `outage: 'real'` — by stopping and restarting the real server), dropped WhatsApp connections (428),
 * stream restarts (515), lost server acks, one session hit with 463, and contacts who reply STOP mid-run.
 *
 * Evidence for "no two runners ever held one session": the runners' own logs ('lease acquired' … 'session left this
 * runner', or the SIGKILL time) give each runner's holding intervals per session, which must never overlap; and the
 * lease rows sampled every 250 ms must never show one (session, epoch) with two owners or an epoch going back.
 */
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import type { Db, Engine } from '../../db/driver.js'
import { openMysql } from '../../db/drivers/mysql.js'
import { openPostgres } from '../../db/drivers/postgres.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import { spawnRunner, type RunnerProcess } from '../runner/processes.js'
import { startTcpProxy, type TcpProxy } from '../runner/tcp-proxy.js'
import { createRandom, type Random } from '../hostile/random.js'
import { getJson, postJson, rssOf, sleep, startApiProcess, startLoopbackProcess, type ApiProcess, type LoopbackProcess } from './processes.js'

export interface SoakOptions {
  engine: 'mysql' | 'postgres'
  /** Submission time; faults are injected during it. Draining comes after. */
  minutes: number
  messages: number
  sessions: number
  runners: number
  /** Share of image messages. */
  imageShare?: number
  /** Distinct recipients. */
  contacts?: number
  /** Contacts who reply STOP mid-run. */
  stopContacts?: number
  throttleMinMs?: number
  throttleMaxMs?: number
  leaseTtlSeconds?: number
  leaseRenewSeconds?: number
  leaseFenceMarginSeconds?: number
  /** SIGKILL a random runner every [min, max] ms (0 = never). */
  killEveryMs?: [number, number]
  /** At most this many kills (the 2-minute variant: 1). */
  maxKills?: number
  outage?: { mode: 'proxy' | 'real'; atFraction: number; durationMs: number } | null
  close428?: number
  restart515?: number
  dropAcks?: number
  dropAcksMs?: number
  nack463?: boolean
  /** How long to wait for the queue to drain after the last submission. */
  drainTimeoutMs?: number
  seed?: number
  log?: (line: string) => void
  /**
   * Writes every runner's JSON log lines to `<logDir>/runner-<slot>-<id>.jsonl` at the end (even after a failure), so
   * a broken rule can be traced to what the runner holding the session did. The lines live in memory until then.
   */
  logDir?: string
}

export interface FaultEvent {
  at: number
  kind: 'sigkill' | 'db-down' | 'db-up' | 'close-428' | 'restart-515' | 'drop-acks' | 'acks-back' | 'nack-463' | 'stop-reply'
  target: string
  detail?: string
}

export interface ApiWindowStats {
  attempts: number
  ok: number
  s503: number
  s4xx: number
  s5xxOther: number
  timeouts: number
  networkErrors: number
  maxMs: number
}

export interface SoakReport {
  engine: Engine
  serverVersion: string
  options: Required<Omit<SoakOptions, 'log' | 'outage' | 'logDir'>> & { outage: SoakOptions['outage'] }
  startedAt: string
  submitSeconds: number
  drainSeconds: number
  drained: boolean
  submitted: number
  accepted: number
  /** Requests answered with an error whose message is in the table anyway (the 503 promised nothing was written). */
  phantomRows: number
  /** Rows for one submission more than once (a retried request that had committed). */
  duplicateRows: number
  status: { sent: number; failed: number; opted_out: number; pendingPaused: number; pendingOther: number; sending: number }
  unaccounted: number
  lostAccepted: number
  /** `sent` rows no contact ever received. */
  sentNotDelivered: number
  deliveries: number
  consentReplies: number
  /** Same WhatsApp id received more than once. */
  duplicateDeliveries: Array<{ waId: string; messageId: number | null; copies: number }>
  /** One message received under two different WhatsApp ids. */
  differentIdDeliveries: Array<{ messageId: number; ids: string[] }>
  /** Received copies whose id is no message's and no consent reply. */
  unknownDeliveries: number
  unknownDeliveryDetails: Array<{ from: string; to: string; at: string; text: string | null }>
  /** Pairs of copies from one number closer than the minimum (receiver clock). */
  wireGapDetails: Array<{ from: string; gapMs: number; first: string; second: string }>
  /** STOP replies that never became opt_in='no'. */
  stopsNotRecorded: string[]
  /** Messages delivered to a contact after its STOP was recorded (claimed after opt_in_at). */
  deliveredAfterStop: number
  failedReasons: Record<string, number>
  leaseOverlaps: string[]
  epochAnomalies: string[]
  gaps: { minDbMs: number | null; belowMinDb: number; minWireMs: number | null; belowMinWire: number; wireToleranceMs: number; sessionsChecked: number }
  api: Record<'normal' | 'db-outage' | 'after-outage' | 'after-kill', ApiWindowStats>
  outageRecoveryMs: number | null
  apiUnhandledErrors: number
  faults: Record<FaultEvent['kind'], number>
  events: FaultEvent[]
  memory: Array<{ runner: string; pid: number; startMb: number | null; endMb: number | null; peakMb: number | null; end: 'sigkill' | 'stopped' }>
  pausedSessions: string[]
  notes: string[]
}

const MB = 1024 * 1024
const STOP_TEXT = 'STOP'

function emptyWindow(): ApiWindowStats {
  return { attempts: 0, ok: 0, s503: 0, s4xx: 0, s5xxOther: 0, timeouts: 0, networkErrors: 0, maxMs: 0 }
}

interface Submission {
  seq: number
  token: string
  session: string
  phone: string
  type: 'text' | 'image'
  image?: number
  id: number | null
  attempts: number
  gaveUp: boolean
}

interface Holding {
  runner: string
  session: string
  epoch: number
  from: number
  to: number | null
}

/** Runs one soak. Throws only on set-up failures; everything measured lands in the report. */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const opts = {
    imageShare: 0.1, contacts: Math.max(20, Math.round(o.sessions * 5)), stopContacts: Math.max(2, Math.round(o.sessions / 10)),
    throttleMinMs: 800, throttleMaxMs: 1600, leaseTtlSeconds: 6, leaseRenewSeconds: 2, leaseFenceMarginSeconds: 1,
    killEveryMs: [30_000, 60_000] as [number, number], maxKills: 1_000, close428: 3, restart515: 3, dropAcks: 2, dropAcksMs: 10_000,
    nack463: true, drainTimeoutMs: 300_000, seed: 9, ...o,
    outage: o.outage === undefined ? { mode: 'proxy' as const, atFraction: 0.4, durationMs: 20_000 } : o.outage,
  }
  const log = o.log ?? ((l: string) => console.log(l))
  const r = createRandom(opts.seed)
  const notes: string[] = []
  const events: FaultEvent[] = []
  const t0 = Date.now()
  const now = () => Date.now() - t0
  const event = (kind: FaultEvent['kind'], target: string, detail?: string) => {
    events.push({ at: now(), kind, target, ...(detail ? { detail } : {}) })
    log(`[${(now() / 1000).toFixed(1)}s] fault ${kind} ${target}${detail ? ` (${detail})` : ''}`)
  }

  // ------------------------------------------------------------------ set-up
  const t: TestDatabase = await createTestDatabase(opts.engine, { poolSize: 4 })
  const db = t.db
  const dbUrl = new URL(t.url!)
  let proxy: TcpProxy | null = null
  let serviceUrl = t.url!
  if (opts.outage?.mode === 'proxy') {
    proxy = await startTcpProxy(dbUrl.hostname, Number(dbUrl.port || (opts.engine === 'mysql' ? 3306 : 5432)))
    const u = new URL(t.url!)
    u.port = String(proxy.port)
    serviceUrl = u.toString()
  }
  const loop: LoopbackProcess = await startLoopbackProcess()
  const apiKey = randomBytes(16).toString('hex')
  let api: ApiProcess | null = null
  const runners: Array<{ slot: number; proc: RunnerProcess; id: string | null; spawnedAt: number; killedAt: number | null; rssStart: number | null; rssPeak: number; rssLast: number | null }> = []
  const authKey = randomBytes(32).toString('hex')
  const capacity = Math.ceil(o.sessions / Math.max(1, o.runners - 1))
  const runnerEnv: Record<string, string> = {
    ...loop.env,
    DATABASE_URL: serviceUrl,
    AUTH_STATE_KEY: authKey,
    THROTTLE_MIN_MS: String(opts.throttleMinMs),
    THROTTLE_MAX_MS: String(opts.throttleMaxMs),
    PRESENCE: 'off',
    LEASE_TTL_SECONDS: String(opts.leaseTtlSeconds),
    LEASE_RENEW_SECONDS: String(opts.leaseRenewSeconds),
    LEASE_FENCE_MARGIN_SECONDS: String(opts.leaseFenceMarginSeconds),
    RUNNER_CAPACITY: String(capacity),
    RUNNER_POLL_MS: '500',
    RECONNECT_MAX_MS: '3000',
  }
  const spawnOne = (slot: number) => {
    const proc = spawnRunner(runnerEnv)
    const entry = { slot, proc, id: null as string | null, spawnedAt: now(), killedAt: null as number | null, rssStart: null as number | null, rssPeak: 0, rssLast: null as number | null }
    runners.push(entry)
    return entry
  }
  const live = () => runners.filter((x) => x.killedAt === null && x.proc.child.exitCode === null && x.proc.child.signalCode === null)
  let stopSampling = false
  const leaseSamples = new Map<string, Map<number, string>>() // session -> epoch -> owner
  const epochAnomalies: string[] = []
  const lastEpoch = new Map<string, number>()
  const samplerErrors = { n: 0 }
  let realServerDown = false
  const teardown = async () => {
    stopSampling = true
    if (realServerDown) await startRealServer(opts.engine, dbUrl, log).catch((err) => log(`!!! could not restart the real server: ${(err as Error).message}`))
    await Promise.all(runners.map((x) => x.proc.stop().catch(() => undefined)))
    await api?.stop().catch(() => undefined)
    await loop.stop().catch(() => undefined)
    await proxy?.close().catch(() => undefined)
  }

  // Ctrl-C / SIGTERM: stop every child (and restart a real server this run stopped) before exiting.
  const onSignal = (signal: string) => {
    log(`${signal}: stopping the soak's processes`)
    void teardown().finally(() => t.drop().catch(() => undefined)).finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  try {
    api = await startApiProcess({ API_SECRET: apiKey, DATABASE_URL: serviceUrl, SESSION_CACHE_MS: '5000' })
    const H = { 'X-API-Key': apiKey }
    const sessionNames = ['default', ...Array.from({ length: o.sessions - 1 }, (_, i) => `s${String(i + 1).padStart(3, '0')}`)]
    for (const name of sessionNames.slice(1)) await postJson(`${api.url}/api/sessions`, { name }, H)
    const phoneOf = new Map(sessionNames.map((n, i) => [n, `9715${String(i).padStart(7, '0')}`]))
    const sessionOfPhone = new Map([...phoneOf].map(([s, p]) => [p, s]))
    for (let i = 0; i < o.runners; i++) spawnOne(i)
    log(`soak ${opts.engine}: ${o.sessions} sessions, ${o.runners} runners (capacity ${capacity} each), pairing…`)

    // ------------------------------------------------------------------ pairing
    const scanned = new Map<string, string>()
    const pairStart = Date.now()
    for (;;) {
      const rows = await db.query<{ name: string; status: string; qr: string | null }>('SELECT name, status, qr FROM sessions')
      const online = rows.filter((x) => x.status === 'online').length
      if (online === o.sessions) break
      if (Date.now() - pairStart > Math.max(180_000, o.sessions * 4000)) throw new Error(`pairing timed out: ${online}/${o.sessions} online`)
      const todo = rows.filter((x) => x.status !== 'online' && x.qr && scanned.get(x.name) !== x.qr)
      await Promise.all(todo.slice(0, 10).map(async (x) => {
        scanned.set(x.name, x.qr!)
        await postJson(`${loop.url}/control/scan`, { qr: x.qr, phone: phoneOf.get(x.name) }).catch(() => undefined)
      }))
      await sleep(todo.length ? 100 : 500)
    }
    for (const x of runners) x.id = (x.proc.lines.find((l) => l.msg === 'runner registered')?.runner as string | undefined) ?? null
    log(`paired ${o.sessions} sessions in ${((Date.now() - pairStart) / 1000).toFixed(1)} s`)
    await sleep(3000)
    for (const x of runners) x.rssStart = rssOf(x.proc.child.pid)

    // ------------------------------------------------------------------ samplers
    const sampleLeases = async () => {
      while (!stopSampling) {
        try {
          const rows = await db.query<{ name: string; owner: string | null; lease_epoch: number }>('SELECT name, owner, lease_epoch FROM sessions')
          for (const row of rows) {
            const epoch = Number(row.lease_epoch)
            const prev = lastEpoch.get(row.name) ?? 0
            if (epoch < prev) epochAnomalies.push(`${row.name}: epoch went back from ${prev} to ${epoch}`)
            lastEpoch.set(row.name, Math.max(prev, epoch))
            if (!row.owner) continue
            const m = leaseSamples.get(row.name) ?? new Map<number, string>()
            const known = m.get(epoch)
            if (known && known !== row.owner) epochAnomalies.push(`${row.name}: epoch ${epoch} held by ${known} and by ${row.owner}`)
            m.set(epoch, row.owner)
            leaseSamples.set(row.name, m)
          }
        } catch {
          samplerErrors.n++
        }
        for (const x of live()) {
          const rss = rssOf(x.proc.child.pid)
          if (rss !== null) {
            x.rssLast = rss
            x.rssPeak = Math.max(x.rssPeak, rss)
          }
        }
        await sleep(250)
      }
    }
    const sampler = sampleLeases()

    // ------------------------------------------------------------------ workload
    const images = await Promise.all([0, 1, 2, 3].map(async (i) => {
      const img = sharp({ create: { width: 320 + i * 40, height: 240, channels: 3, background: ['#c0392b', '#27ae60', '#2980b9', '#8e44ad'][i]! } })
      return new Uint8Array(await (i % 2 ? img.png() : img.jpeg()).toBuffer())
    }))
    const contacts = Array.from({ length: opts.contacts }, (_, i) => `9617${String(i).padStart(7, '0')}`)
    const stopContacts = new Set(r.shuffle([...contacts]).slice(0, opts.stopContacts))
    const restricted = opts.nack463 ? { session: sessionNames[sessionNames.length - 1]!, phone: '96179999999' } : null
    const runTag = randomBytes(3).toString('hex')
    const subs: Submission[] = Array.from({ length: o.messages }, (_, seq) => {
      let session = r.pick(sessionNames)
      let phone = r.pick(contacts)
      // The restricted recipient gets messages from its one session only, spread over the run.
      if (restricted && seq % Math.max(7, Math.floor(o.messages / 40)) === 3) {
        session = restricted.session
        phone = restricted.phone
      }
      const type = r.chance(opts.imageShare) ? 'image' : 'text'
      return { seq, token: `soak-${runTag}-${seq}`, session, phone, type, ...(type === 'image' ? { image: r.int(0, images.length - 1) } : {}), id: null, attempts: 0, gaveUp: false }
    })

    const windows = { normal: emptyWindow(), 'db-outage': emptyWindow(), 'after-outage': emptyWindow(), 'after-kill': emptyWindow() }
    let outageFrom: number | null = null
    let outageTo: number | null = null
    let recoveryMs: number | null = null
    const killTimes: number[] = []
    const windowOf = (at: number): keyof typeof windows => {
      if (outageFrom !== null && at >= outageFrom && (outageTo === null || at < outageTo)) return 'db-outage'
      if (outageTo !== null && at >= outageTo && at < outageTo + 15_000) return 'after-outage'
      if (killTimes.some((k) => at >= k && at < k + 15_000)) return 'after-kill'
      return 'normal'
    }
    const submitOne = async (s: Submission): Promise<void> => {
      for (;;) {
        s.attempts++
        const startedAt = now()
        const w = windows[windowOf(startedAt)]
        w.attempts++
        let status = 0
        try {
          let res: Response
          if (s.type === 'text') {
            res = await fetch(`${api!.url}/api/send`, {
              method: 'POST', headers: { ...H, 'Content-Type': 'application/json' },
              body: JSON.stringify({ phone: s.phone, message: `${s.token} ${r.pick(['hello', 'مرحبا 👋', 'your code is 4711', 'reminder: tomorrow 9:00'])}`, session: s.session }),
              signal: AbortSignal.timeout(10_000),
            })
          } else {
            const form = new FormData()
            form.set('phone', s.phone)
            form.set('caption', s.token)
            form.set('session', s.session)
            form.set('file', new Blob([images[s.image!]!]), s.image! % 2 ? 'p.png' : 'p.jpg')
            res = await fetch(`${api!.url}/api/send-image`, { method: 'POST', headers: H, body: form, signal: AbortSignal.timeout(10_000) })
          }
          status = res.status
          const body = (await res.json().catch(() => ({}))) as { message_id?: number }
          w.maxMs = Math.max(w.maxMs, now() - startedAt)
          if (status === 200 && typeof body.message_id === 'number') {
            w.ok++
            s.id = body.message_id
            if (outageTo !== null && recoveryMs === null && startedAt >= outageTo) recoveryMs = now() - outageTo
            return
          }
          if (status === 503) w.s503++
          else if (status >= 500) w.s5xxOther++
          else w.s4xx++
        } catch (err) {
          w.maxMs = Math.max(w.maxMs, now() - startedAt)
          if ((err as Error).name === 'TimeoutError') w.timeouts++
          else w.networkErrors++
        }
        if (status >= 400 && status < 500) {
          s.gaveUp = true
          return
        }
        if (s.attempts >= 60) {
          s.gaveUp = true
          return
        }
        await sleep(1000)
      }
    }

    // ------------------------------------------------------------------ fault plan
    const submitMs = o.minutes * 60_000
    const plan: Array<{ at: number; run: () => Promise<void> }> = []
    const phoneOfRandomSession = () => phoneOf.get(r.pick(sessionNames.filter((n) => n !== restricted?.session)))!
    if (opts.killEveryMs[0] > 0) {
      let at = r.int(opts.killEveryMs[0], opts.killEveryMs[1]) * (opts.maxKills === 1 ? 0.5 : 1)
      let kills = 0
      while (at < submitMs && kills < opts.maxKills) {
        plan.push({
          at,
          run: async () => {
            const candidates = live()
            if (candidates.length === 0) return
            const victim = r.pick(candidates)
            victim.rssLast = rssOf(victim.proc.child.pid) ?? victim.rssLast
            victim.killedAt = now()
            killTimes.push(now())
            victim.proc.child.kill('SIGKILL')
            event('sigkill', victim.id ?? `slot ${victim.slot}`, `pid ${victim.proc.child.pid}`)
            const fresh = spawnOne(victim.slot)
            void (async () => {
              for (let i = 0; i < 600 && !fresh.id; i++) {
                fresh.id = (fresh.proc.lines.find((l) => l.msg === 'runner registered')?.runner as string | undefined) ?? null
                await sleep(100)
              }
              await sleep(10_000)
              fresh.rssStart = rssOf(fresh.proc.child.pid)
            })()
          },
        })
        kills++
        at += r.int(opts.killEveryMs[0], opts.killEveryMs[1])
      }
    }
    if (opts.outage) {
      const outage = opts.outage
      const at = Math.round(submitMs * outage.atFraction)
      plan.push({
        at,
        run: async () => {
          outageFrom = now()
          if (outage.mode === 'proxy') proxy!.outage()
          else {
            realServerDown = true
            stopRealServer(opts.engine, log)
          }
          event('db-down', `${opts.engine} (${outage.mode})`, `${outage.durationMs / 1000} s`)
          await sleep(outage.durationMs)
          if (outage.mode === 'proxy') proxy!.restore()
          else {
            await startRealServer(opts.engine, dbUrl, log)
            realServerDown = false
          }
          outageTo = now()
          event('db-up', `${opts.engine} (${outage.mode})`)
        },
      })
    }
    // Connection faults land outside the outage window (the fence has closed every socket then) and hit a session
    // that has a live connection, so each one really drops a connection.
    const outageWindow = opts.outage ? [Math.round(submitMs * opts.outage.atFraction) - 2000, Math.round(submitMs * opts.outage.atFraction) + opts.outage.durationMs + 15_000] : null
    const clearOfOutage = (at: number) => (outageWindow && at >= outageWindow[0]! && at < outageWindow[1]! ? outageWindow[1]! : at)
    const spread = (count: number, kind: 'close' | 'restart', label: FaultEvent['kind']) => {
      for (let i = 0; i < count; i++) {
        plan.push({
          at: clearOfOutage(Math.round(submitMs * (0.1 + 0.8 * ((i + 0.5) / count))) + r.int(0, 2000)),
          run: async () => {
            for (let attempt = 0; attempt < 20; attempt++) {
              const phone = phoneOfRandomSession()
              const res = await postJson<{ connections: number }>(`${loop.url}/control/fault`, { phone, kind }).catch(() => ({ connections: -1 }))
              if (res.connections > 0 || attempt === 19) {
                event(label, sessionOfPhone.get(phone)!, `${res.connections} connection(s)`)
                return
              }
              await sleep(250)
            }
          },
        })
      }
    }
    spread(opts.close428, 'close', 'close-428')
    spread(opts.restart515, 'restart', 'restart-515')
    for (let i = 0; i < opts.dropAcks; i++) {
      plan.push({
        at: clearOfOutage(Math.round(submitMs * (0.15 + 0.7 * ((i + 0.5) / Math.max(1, opts.dropAcks))))),
        run: async () => {
          const phone = phoneOfRandomSession()
          await postJson(`${loop.url}/control/fault`, { phone, kind: 'drop-acks' }).catch(() => undefined)
          event('drop-acks', sessionOfPhone.get(phone)!, `${opts.dropAcksMs / 1000} s`)
          await sleep(opts.dropAcksMs)
          await postJson(`${loop.url}/control/fault`, { phone, kind: 'none' }).catch(() => undefined)
          event('acks-back', sessionOfPhone.get(phone)!)
        },
      })
    }
    if (restricted) {
      plan.push({
        at: clearOfOutage(Math.round(submitMs * 0.5)),
        run: async () => {
          await postJson(`${loop.url}/control/fault`, { phone: restricted.phone, kind: 'nack463' })
          event('nack-463', restricted.session, `recipient ${restricted.phone}`)
        },
      })
    }
    const stopList = [...stopContacts]
    const stopTargets = new Map<string, string>()
    const stopSentAt = new Map<string, number>()
    stopList.forEach((phone, i) => {
      plan.push({
        at: Math.round(submitMs * (0.3 + 0.4 * (i / Math.max(1, stopList.length)))),
        run: async () => {
          const to = phoneOf.get(r.pick(sessionNames.filter((n) => n !== restricted?.session)))!
          stopTargets.set(phone, sessionOfPhone.get(to)!)
          stopSentAt.set(phone, now())
          await postJson(`${loop.url}/control/inbound`, { from: phone, to, text: STOP_TEXT }).catch((err) => notes.push(`STOP from ${phone} not delivered: ${(err as Error).message}`))
          event('stop-reply', phone, `to ${sessionOfPhone.get(to)}`)
        },
      })
    })
    plan.sort((a, b) => a.at - b.at)

    // ------------------------------------------------------------------ run: submit at a steady rate, fire faults
    const submitStart = now()
    const faultRunners: Promise<void>[] = []
    const faultLoop = (async () => {
      for (const p of plan) {
        const wait = submitStart + p.at - now()
        if (wait > 0) await sleep(wait)
        faultRunners.push(p.run().catch((err) => void notes.push(`fault failed: ${(err as Error).message}`)))
      }
    })()
    const perMs = o.messages / submitMs
    const inflight = new Set<Promise<void>>()
    let lastReport = now()
    for (const s of subs) {
      const due = submitStart + s.seq / perMs
      const wait = due - now()
      if (wait > 0) await sleep(wait)
      while (inflight.size >= 200) await Promise.race(inflight)
      const p = submitOne(s).finally(() => inflight.delete(p))
      inflight.add(p)
      if (now() - lastReport > 15_000) {
        lastReport = now()
        const c = await countByStatus(db).catch(() => null)
        log(`[${(now() / 1000).toFixed(1)}s] submitted ${s.seq + 1}/${o.messages}, in flight ${inflight.size}, queue ${c ? JSON.stringify(c) : '(db unreachable)'}`)
      }
    }
    await Promise.all(inflight)
    await faultLoop
    await Promise.all(faultRunners)
    const submitSeconds = (now() - submitStart) / 1000
    log(`submission done in ${submitSeconds.toFixed(1)} s; draining…`)

    // ------------------------------------------------------------------ drain
    const drainStart = now()
    let drained = false
    for (;;) {
      const c = await countOutstanding(db).catch(() => null)
      if (c && c.outstanding === 0) {
        drained = true
        break
      }
      if (now() - drainStart > opts.drainTimeoutMs) break
      if (c && (now() - drainStart) % 15_000 < 1000) log(`[${(now() / 1000).toFixed(1)}s] draining: ${c.outstanding} pending/sending outside paused sessions`)
      await sleep(1000)
    }
    const drainSeconds = (now() - drainStart) / 1000
    // Let receipts and in-flight acks settle before reading.
    await sleep(2000)
    for (const x of live()) x.rssLast = rssOf(x.proc.child.pid) ?? x.rssLast
    stopSampling = true
    await sampler
    const stopResults = await Promise.all(live().map(async (x) => ({ x, exit: await x.proc.stop() })))
    for (const { x, exit } of stopResults) if (exit.code !== 0) notes.push(`runner ${x.id} exited with ${exit.code ?? exit.signal} on SIGTERM`)

    // ------------------------------------------------------------------ accounting
    const rows = await db.query<{
      id: number | string; session: string; phone: string; type: string; body: string | null; status: string; wa_message_id: string | null
      claimed_at: Date | null; error: string | null; attempts: number
    }>('SELECT id, session, phone, type, body, status, wa_message_id, claimed_at, error, attempts FROM messages ORDER BY id')
    const sessionsRows = await db.query<{ name: string; paused_until: Date | null; detail: string | null }>('SELECT name, paused_until, detail FROM sessions')
    const contactsRows = await db.query<{ phone: string; opt_in: string; opt_in_at: Date | null }>('SELECT phone, opt_in, opt_in_at FROM contacts')
    const deliveries = await getJson<Array<{ id: string; from: string; to: string; type: string; text: string | null; caption: string | null; at: string }>>(`${loop.url}/control/messages`, {}, 120_000)

    const dbNow = Date.now()
    const paused = new Set(sessionsRows.filter((s) => s.paused_until && new Date(s.paused_until).getTime() > dbNow).map((s) => s.name))
    const accepted = subs.filter((s) => s.id !== null)
    const acceptedIds = new Set(accepted.map((s) => s.id!))
    const tokenOf = (text: string | null) => (text ? /soak-[0-9a-f]+-(\d+)/.exec(text)?.[1] : undefined)
    const rowsBySeq = new Map<number, typeof rows>()
    for (const row of rows) {
      const seq = tokenOf(row.body)
      if (seq === undefined) continue
      const list = rowsBySeq.get(Number(seq)) ?? []
      list.push(row)
      rowsBySeq.set(Number(seq), list)
    }
    let phantomRows = 0
    let duplicateRows = 0
    for (const s of subs) {
      const list = rowsBySeq.get(s.seq) ?? []
      if (s.id === null && list.length > 0) phantomRows += list.length
      if (list.length > 1) duplicateRows += list.length - 1
    }
    const status = { sent: 0, failed: 0, opted_out: 0, pendingPaused: 0, pendingOther: 0, sending: 0 }
    const failedReasons: Record<string, number> = {}
    const rowById = new Map<number, (typeof rows)[number]>()
    for (const row of rows) {
      const id = Number(row.id)
      rowById.set(id, row)
      if (!acceptedIds.has(id)) continue
      if (row.status === 'sent') status.sent++
      else if (row.status === 'failed') {
        status.failed++
        const reason = (row.error ?? 'unknown').replace(/\d{3,}/g, 'N').slice(0, 80)
        failedReasons[reason] = (failedReasons[reason] ?? 0) + 1
      } else if (row.status === 'opted_out') status.opted_out++
      else if (row.status === 'pending') {
        if (paused.has(row.session)) status.pendingPaused++
        else status.pendingOther++
      }
      else if (row.status === 'sending') status.sending++
    }
    const lostAccepted = [...acceptedIds].filter((id) => !rowById.has(id)).length
    const unaccounted = accepted.length - (status.sent + status.failed + status.opted_out + status.pendingPaused)

    // Deliveries: by WhatsApp id, and by the submission token in the text.
    const waToId = new Map<string, number>()
    for (const row of rows) if (row.wa_message_id) waToId.set(row.wa_message_id, Number(row.id))
    const copies = new Map<string, number>()
    const idsBySeq = new Map<number, Set<string>>()
    let consentReplies = 0
    let unknownDeliveries = 0
    const unknownDeliveryDetails: SoakReport['unknownDeliveryDetails'] = []
    for (const d of deliveries) {
      copies.set(d.id, (copies.get(d.id) ?? 0) + 1)
      const seq = tokenOf(d.text ?? d.caption)
      if (seq !== undefined) {
        const set = idsBySeq.get(Number(seq)) ?? new Set<string>()
        set.add(d.id)
        idsBySeq.set(Number(seq), set)
      } else if (!waToId.has(d.id)) {
        if (stopContacts.has(d.to)) consentReplies++
        else {
          unknownDeliveries++
          if (unknownDeliveryDetails.length < 10) unknownDeliveryDetails.push({ from: d.from, to: d.to, at: d.at, text: (d.text ?? d.caption ?? `(${d.type})`).slice(0, 80) })
        }
      }
    }
    const duplicateDeliveries = [...copies].filter(([, n]) => n > 1).map(([waId, n]) => ({ waId, messageId: waToId.get(waId) ?? null, copies: n }))
    const differentIdDeliveries: SoakReport['differentIdDeliveries'] = []
    for (const [seq, ids] of idsBySeq) {
      if (ids.size > 1) differentIdDeliveries.push({ messageId: accepted.find((s) => s.seq === seq)?.id ?? -1, ids: [...ids] })
      for (const id of ids) if (!waToId.has(id)) unknownDeliveries++
    }
    const deliveredIds = new Set(copies.keys())
    const sentNotDelivered = rows.filter((row) => row.status === 'sent' && acceptedIds.has(Number(row.id)) && !deliveredIds.has(row.wa_message_id ?? '')).length

    // STOP: nothing claimed after the opt-out was recorded reaches that contact.
    const optedOutAt = new Map(contactsRows.filter((c) => c.opt_in === 'no' && c.opt_in_at).map((c) => [c.phone, new Date(c.opt_in_at!).getTime()]))
    let deliveredAfterStop = 0
    for (const row of rows) {
      const at = optedOutAt.get(row.phone)
      if (at === undefined || !row.claimed_at || !row.wa_message_id) continue
      if (new Date(row.claimed_at).getTime() > at + 5 && deliveredIds.has(row.wa_message_id)) deliveredAfterStop++
    }
    const stopsNotRecorded = [...stopContacts].filter((p) => !optedOutAt.has(p)).map((p) => `${p} (sent to ${stopTargets.get(p) ?? '?'} at ${stopSentAt.has(p) ? fmt(stopSentAt.get(p)!) : '?'})`)
    if (stopsNotRecorded.length) notes.push(`only ${optedOutAt.size} of ${stopContacts.size} STOP replies were recorded as opt-outs; missing: ${stopsNotRecorded.join(', ')}`)

    // Gaps: database claim times per session (authoritative clock), and receive times at the loopback.
    const minGap = opts.throttleMinMs
    const wireTolerance = 150
    const claimsBySession = new Map<string, number[]>()
    for (const row of rows) {
      if (!row.claimed_at) continue
      const list = claimsBySession.get(row.session) ?? []
      list.push(new Date(row.claimed_at).getTime())
      claimsBySession.set(row.session, list)
    }
    let minDb: number | null = null
    let belowMinDb = 0
    for (const list of claimsBySession.values()) {
      list.sort((a, b) => a - b)
      for (let i = 1; i < list.length; i++) {
        const g = list[i]! - list[i - 1]!
        minDb = minDb === null ? g : Math.min(minDb, g)
        if (g < minGap - 1) belowMinDb++
      }
    }
    const wireBySender = new Map<string, typeof deliveries>()
    for (const d of deliveries) wireBySender.set(d.from, [...(wireBySender.get(d.from) ?? []), d])
    let minWire: number | null = null
    let belowMinWire = 0
    const wireGapDetails: SoakReport['wireGapDetails'] = []
    const describeCopy = (d: (typeof deliveries)[number]) => `${d.id} #${waToId.get(d.id) ?? '?'} to ${d.to} at ${d.at} "${(d.text ?? d.caption ?? d.type).slice(0, 40)}"`
    for (const [from, list] of wireBySender) {
      list.sort((a, b) => Date.parse(a.at) - Date.parse(b.at))
      for (let i = 1; i < list.length; i++) {
        const g = Date.parse(list[i]!.at) - Date.parse(list[i - 1]!.at)
        minWire = minWire === null ? g : Math.min(minWire, g)
        if (g < minGap - wireTolerance) {
          belowMinWire++
          if (wireGapDetails.length < 10) wireGapDetails.push({ from: `${from} (${sessionOfPhone.get(from)})`, gapMs: g, first: describeCopy(list[i - 1]!), second: describeCopy(list[i]!) })
        }
      }
    }

    // Holding intervals from the runners' logs; a SIGKILLed runner's intervals end at the kill.
    const holdings: Holding[] = []
    for (const x of runners) {
      const open = new Map<string, Holding>()
      for (const l of x.proc.lines) {
        const at = Number(l.time) - t0
        if (l.msg === 'lease acquired') {
          const h: Holding = { runner: x.id ?? `slot${x.slot}`, session: String(l.session), epoch: Number(l.epoch), from: at, to: null }
          open.set(h.session, h)
          holdings.push(h)
        } else if (l.msg === 'session left this runner') {
          const h = open.get(String(l.session))
          if (h) {
            h.to = at
            open.delete(h.session)
          }
        }
      }
      for (const h of open.values()) h.to = x.killedAt ?? now()
    }
    const leaseOverlaps: string[] = []
    const bySession = new Map<string, Holding[]>()
    for (const h of holdings) bySession.set(h.session, [...(bySession.get(h.session) ?? []), h])
    for (const [session, list] of bySession) {
      list.sort((a, b) => a.from - b.from)
      for (let i = 1; i < list.length; i++) {
        const prev = list[i - 1]!
        const cur = list[i]!
        if (prev.runner !== cur.runner && (prev.to ?? Infinity) > cur.from) {
          leaseOverlaps.push(`${session}: ${prev.runner} (epoch ${prev.epoch}, ${fmt(prev.from)}–${fmt(prev.to)}) overlaps ${cur.runner} (epoch ${cur.epoch}, from ${fmt(cur.from)})`)
        }
      }
    }
    if (samplerErrors.n) notes.push(`lease sampler: ${samplerErrors.n} samples failed (database unreachable from the harness)`)

    const faults = { sigkill: 0, 'db-down': 0, 'db-up': 0, 'close-428': 0, 'restart-515': 0, 'drop-acks': 0, 'acks-back': 0, 'nack-463': 0, 'stop-reply': 0 }
    for (const e of events) faults[e.kind]++
    const report: SoakReport = {
      engine: opts.engine,
      serverVersion: db.serverVersion,
      options: { ...opts, engine: opts.engine, minutes: o.minutes, messages: o.messages, sessions: o.sessions, runners: o.runners },
      startedAt: new Date(t0).toISOString(),
      submitSeconds,
      drainSeconds,
      drained,
      submitted: subs.length,
      accepted: accepted.length,
      phantomRows,
      duplicateRows,
      status,
      unaccounted,
      lostAccepted,
      sentNotDelivered,
      deliveries: deliveries.length,
      consentReplies,
      duplicateDeliveries,
      differentIdDeliveries,
      unknownDeliveries,
      unknownDeliveryDetails,
      wireGapDetails,
      stopsNotRecorded,
      deliveredAfterStop,
      failedReasons,
      leaseOverlaps,
      epochAnomalies,
      gaps: { minDbMs: minDb, belowMinDb, minWireMs: minWire, belowMinWire, wireToleranceMs: wireTolerance, sessionsChecked: claimsBySession.size },
      api: windows,
      outageRecoveryMs: recoveryMs,
      apiUnhandledErrors: api.errorLines.length,
      faults,
      events,
      memory: runners.map((x) => ({
        runner: x.id ?? `slot${x.slot}`, pid: x.proc.child.pid ?? 0,
        startMb: x.rssStart === null ? null : round1(x.rssStart / MB), endMb: x.rssLast === null ? null : round1(x.rssLast / MB),
        peakMb: x.rssPeak ? round1(x.rssPeak / MB) : null, end: x.killedAt === null ? 'stopped' : 'sigkill',
      })),
      pausedSessions: [...paused],
      notes,
    }
    if (api.errorLines.length) notes.push(`API error log, first lines: ${api.errorLines.slice(0, 3).join(' | ').slice(0, 1500)}`)
    return report
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (o.logDir) writeRunnerLogs(o.logDir, runners, log)
    await teardown()
    await t.drop().catch(() => undefined)
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10
}

function fmt(ms: number | null): string {
  return ms === null ? 'open' : `${(ms / 1000).toFixed(2)}s`
}

async function countByStatus(db: Db): Promise<Record<string, number>> {
  const rows = await db.query<{ status: string; n: number | string }>('SELECT status, COUNT(*) AS n FROM messages GROUP BY status')
  return Object.fromEntries(rows.map((x) => [x.status, Number(x.n)]))
}

/** Pending or sending messages outside paused sessions: what the drain waits for. */
async function countOutstanding(db: Db): Promise<{ outstanding: number }> {
  const now = db.dialect === 'mysql' ? 'NOW(6)' : 'now()'
  const [row] = await db.query<{ n: number | string }>(
    `SELECT COUNT(*) AS n FROM messages m JOIN sessions s ON s.name = m.session
      WHERE m.status IN ('pending', 'sending') AND (s.paused_until IS NULL OR s.paused_until <= ${now})`,
  )
  return { outstanding: Number(row?.n ?? 0) }
}

/** One JSONL file per runner process of the run (see `SoakOptions.logDir`). */
function writeRunnerLogs(dir: string, runners: Array<{ slot: number; id: string | null; proc: RunnerProcess }>, log: (l: string) => void): void {
  mkdirSync(dir, { recursive: true })
  runners.forEach((x, i) => {
    const name = `runner-${String(i).padStart(2, '0')}-slot${x.slot}-${x.id ?? 'unregistered'}.jsonl`
    writeFileSync(join(dir, name), x.proc.lines.map((l) => JSON.stringify(l)).join('\n') + '\n')
  })
  log(`runner logs: ${runners.length} files in ${dir}`)
}

// ------------------------------------------------------------------ the real server outage (npm run soak only)

function stopRealServer(engine: 'mysql' | 'postgres', log: (l: string) => void): void {
  log('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!')
  log(`!!! STOPPING THE REAL ${engine === 'mysql' ? 'MariaDB' : 'PostgreSQL'} SERVER for the outage fault: every client of it fails until it is restarted`)
  log('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!')
  if (engine === 'mysql') execFileSync('start-stop-daemon', ['--stop', '--oknodo', '--retry', '30', '--exec', '/usr/sbin/mariadbd'], { stdio: 'inherit' })
  else execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', postgresVersion(), 'main', 'stop'], { stdio: 'inherit' })
}

async function startRealServer(engine: 'mysql' | 'postgres', url: URL, log: (l: string) => void): Promise<void> {
  if (engine === 'mysql') execFileSync('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd'], { stdio: 'inherit' })
  else execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', postgresVersion(), 'main', 'start'], { stdio: 'inherit' })
  for (let i = 0; i < 120; i++) {
    try {
      const probe = engine === 'mysql' ? await openMysql({ url: url.toString(), connectionLimit: 1 }) : await openPostgres({ url: url.toString(), max: 1 })
      await probe.close()
      log(`!!! the real ${engine === 'mysql' ? 'MariaDB' : 'PostgreSQL'} server is RUNNING AGAIN`)
      return
    } catch {
      await sleep(500)
    }
  }
  throw new Error(`the real ${engine} server did not come back: start it by hand`)
}

function postgresVersion(): string {
  return readdirSync('/etc/postgresql')[0]!
}

export type { Random }
