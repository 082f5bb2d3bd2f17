import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { Db } from '../db/driver.js'
import * as leases from '../db/queries/leases.js'
import * as runners from '../db/queries/runners.js'
import * as sessionReports from '../db/queries/session-reports.js'
import * as numberChecks from '../db/queries/number-checks.js'
import * as lifecycle from '../db/lifecycle/index.js'
import type { RunnerConfig } from './config.js'
import type { WhatsAppClientFactory } from './whatsapp/client.js'
import { SessionSupervisor } from './whatsapp/session-supervisor.js'
import type { TerminalOutput } from './whatsapp/qr-terminal.js'

/**
 * The runner: registers itself, acquires session leases up to its capacity, renews them (and fences any it could
 * not renew in time), runs one supervisor per owned session, relays API commands and wakes loops whose messages
 * are due. `start()` schedules the ticks; `runOnce()` runs one of each (tests); `stop()` finishes in-flight sends,
 * closes the sockets, releases the leases and deregisters.
 */

export interface CreateRunnerOptions {
  db: Db
  config: RunnerConfig
  log: Logger
  /** How to reach WhatsApp: the Baileys factory (`createWhatsAppFactory`) or a fake in tests. */
  whatsapp: WhatsAppClientFactory
  /** Tells the terminal about QR codes and linking. */
  terminal?: TerminalOutput
  /** Duration of each claim transaction, in seconds (the claim-latency metric). */
  onClaim?: (seconds: number) => void
  /** Fixed runner id (tests); a fresh UUID otherwise. */
  id?: string
}

export interface RunnerStats {
  id: string | null
  sessions: { name: string; phase: string; sends: number }[]
}

export interface Runner {
  /** Registers, then ticks: acquire/commands/probe every `pollMs`, renew + heartbeat every `leaseRenewSeconds`. */
  start(): Promise<void>
  /** One acquire/command/probe pass and one renewal (tests drive the runner with it). */
  runOnce(): Promise<void>
  /** Graceful shutdown: finish in-flight sends, close sockets, release leases, deregister. */
  stop(): Promise<void>
  readonly id: string | null
  /** Sessions this runner holds now. */
  owned(): string[]
  stats(): RunnerStats
}

export function validateRunnerConfig(config: RunnerConfig): void {
  const problems: string[] = []
  if (config.throttleMaxMs < config.throttleMinMs) problems.push('throttleMaxMs < throttleMinMs')
  if (config.leaseRenewSeconds + config.leaseFenceMarginSeconds >= config.leaseTtlSeconds) {
    problems.push('leaseRenewSeconds + leaseFenceMarginSeconds must be below leaseTtlSeconds')
  }
  if (!Number.isInteger(config.leaseTtlSeconds)) problems.push('leaseTtlSeconds must be whole seconds')
  if (config.capacity < 1) problems.push('capacity must be ≥ 1')
  if (config.maxAttempts < 1) problems.push('maxAttempts must be ≥ 1')
  if (problems.length) throw new Error(`invalid runner configuration: ${problems.join('; ')}`)
}

export function createRunner(options: CreateRunnerOptions): Runner {
  const { db, config, log } = options
  validateRunnerConfig(config)
  const supervisors = new Map<string, SessionSupervisor>()
  let id: string | null = null
  let running = false
  let stopping = false
  let pollTimer: NodeJS.Timeout | null = null
  let renewTimer: NodeJS.Timeout | null = null
  let pollBusy = false
  let acquiring = 0
  let renewBusy = false
  const wakeTimers = new Map<string, NodeJS.Timeout>()

  async function register(): Promise<string> {
    if (db.engine === 'pglite') {
      // One in-process runner behind the data-dir lock: any lease on record is a dead predecessor's (db/README.md).
      const n = await leases.expireAllLeases(db)
      if (n) log.info({ sessions: n }, 'embedded database: expired the leases of a previous process')
    }
    id = await runners.registerRunner(db, { host: hostname(), pid: process.pid, ...(options.id ? { id: options.id } : {}) })
    log.info({ runner: id }, 'runner registered')
    return id
  }

  /**
   * How many sessions one acquire may take (within the spare capacity). Not more at once: every session started
   * costs a dozen statements (auth state, reports, reconciliation), and 20 runners taking 500 each in one statement
   * starved their own lease renewals on a 2-core database until they fenced. A full batch is followed by the next
   * one as soon as its sessions have started, not a poll later (db/README.md, How many sessions): one survivor took
   * a dead runner's 500 sessions 10 polls after their leases ran out, past the bound of the lease TTL plus one poll.
   */
  const ACQUIRE_PER_POLL = 50

  /** Takes up to a batch of free sessions; a full batch comes back with a promise of its sessions' starts settling. */
  async function acquire(owner: string): Promise<{ started: Promise<unknown> } | null> {
    const spare = config.capacity - supervisors.size
    if (spare <= 0 || stopping) return null
    const max = Math.min(ACQUIRE_PER_POLL, spare)
    const t0 = performance.now()
    acquiring++
    let taken: leases.SessionLease[]
    try {
      taken = await leases.acquireSessionLeases(db, {
        owner, ttlSeconds: config.leaseTtlSeconds, max, minGapMs: config.throttleMinMs,
      })
    } finally {
      acquiring--
    }
    const starts: Promise<unknown>[] = []
    for (const lease of taken) {
      if (stopping) {
        await leases.releaseLease(db, { name: lease.name, owner, epoch: lease.leaseEpoch }).catch(() => {})
        continue
      }
      const sup = new SessionSupervisor({
        db, config, log, owner, session: lease.name, epoch: lease.leaseEpoch, acquiredAt: t0,
        factory: options.whatsapp,
        onGone: (name, why) => {
          if (supervisors.get(name) === sup) supervisors.delete(name)
          log.info({ session: name, why }, 'session left this runner')
        },
        ...(options.terminal ? { terminal: options.terminal } : {}),
        ...(options.onClaim ? { onClaim: options.onClaim } : {}),
      })
      supervisors.set(lease.name, sup)
      log.info({ session: lease.name, epoch: lease.leaseEpoch }, 'lease acquired')
      starts.push(
        sup.start().catch((err) => {
          log.error({ err, session: lease.name }, 'session failed to start')
          void sup.lose('start failed')
        }),
      )
    }
    return taken.length === max && max < spare ? { started: Promise.all(starts) } : null
  }

  async function renew(owner: string): Promise<void> {
    const t0 = performance.now()
    const ok = await runners.heartbeatRunner(db, owner)
    if (!ok) log.warn({ runner: owner }, 'runner row is gone (swept as dead); leases are still checked one by one')
    const held = new Map((await leases.renewLeases(db, { owner, ttlSeconds: config.leaseTtlSeconds })).map((l) => [l.name, l.leaseEpoch]))
    for (const [name, sup] of supervisors) {
      const epoch = held.get(name)
      // Missing from the read-back, or another epoch: fence at once (db/README.md, Leases and fencing).
      if (epoch === undefined || epoch !== sup.leaseEpoch) void sup.lose('lease missing from the renewal')
      else sup.renewed(t0)
    }
    // A lease this runner still holds in the database but no longer runs (its supervisor fenced itself, e.g. when
    // the database came back after the fence): renewing it would park the session here forever. Release it, so it
    // is acquired again (by anyone) with a new epoch and reconciled. Not while an acquire is between its commit and
    // the supervisor's creation.
    if (acquiring === 0) {
      for (const [name, epoch] of held) {
        if (supervisors.has(name)) continue
        log.warn({ session: name, epoch }, 'releasing a lease held without a running session')
        await leases.releaseLease(db, { name, owner, epoch })
      }
    }
  }

  async function commands(owner: string): Promise<void> {
    // One statement for every request on the sessions' rows (db/README.md, How many sessions).
    const requests = await sessionReports.findSessionRequests(db, owner)
    for (const c of requests.commands) {
      const sup = supervisors.get(c.name)
      if (!sup) continue
      void sup.command({ reconnect: c.reconnectRequestedAt !== null, delete: c.deleteRequestedAt !== null, proxy: c.proxyChanged })
    }
    // Pairing-code requests from the API (POST /api/sessions/:name/pairing-code), answered on the same row.
    for (const p of requests.pairing) supervisors.get(p.name)?.pairWithCode(p.phone)
    // Group list refreshes (POST /api/sessions/:name/groups/refresh), taken by an online session.
    for (const name of requests.groupRefresh) supervisors.get(name)?.refreshGroups()
    // Number checks from the API (GET /api/sessions/:name/check/:phone), answered on their rows.
    for (const c of await numberChecks.findNumberChecks(db, owner)) supervisors.get(c.session)?.checkNumber(c.phone)
  }

  async function probe(owner: string): Promise<void> {
    for (const due of await lifecycle.probeDue(db, owner)) {
      if (due.dueInMs === null || due.dueInMs > config.pollMs * 2) continue
      const sup = supervisors.get(due.name)
      if (!sup) continue
      if (due.dueInMs === 0) {
        sup.wake()
        continue
      }
      if (wakeTimers.has(due.name)) continue
      const t = setTimeout(() => {
        wakeTimers.delete(due.name)
        supervisors.get(due.name)?.wake()
      }, due.dueInMs)
      wakeTimers.set(due.name, t)
    }
  }

  async function pollTick(): Promise<void> {
    if (!id || pollBusy) return
    pollBusy = true
    let fullBatch: { started: Promise<unknown> } | null = null
    try {
      fullBatch = await acquire(id)
      await commands(id)
      await probe(id)
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'runner poll failed; retrying')
    } finally {
      pollBusy = false
    }
    // A full batch: there may be more free sessions (a dead runner's), so poll again once this batch has started.
    if (fullBatch) void fullBatch.started.then(() => (stopping ? undefined : pollTick()))
  }

  async function renewTick(): Promise<void> {
    if (!id || renewBusy) return
    renewBusy = true
    try {
      await renew(id)
    } catch (err) {
      // The fence timers close whatever cannot be renewed in time.
      log.warn({ err: (err as Error).message }, 'lease renewal failed; sessions fence themselves if it keeps failing')
    } finally {
      renewBusy = false
    }
  }

  return {
    get id() {
      return id
    },
    async start() {
      if (running) return
      running = true
      await register()
      await pollTick()
      pollTimer = setInterval(() => void pollTick(), config.pollMs)
      renewTimer = setInterval(() => void renewTick(), config.leaseRenewSeconds * 1000)
    },
    async runOnce() {
      if (!id) await register()
      await renewTick()
      await pollTick()
    },
    async stop() {
      stopping = true
      if (pollTimer) clearInterval(pollTimer)
      if (renewTimer) clearInterval(renewTimer)
      for (const t of wakeTimers.values()) clearTimeout(t)
      wakeTimers.clear()
      // Wait for a running tick so no acquire lands after the release.
      for (let i = 0; i < 100 && (pollBusy || renewBusy); i++) await new Promise((r) => setTimeout(r, 20))
      await Promise.all([...supervisors.values()].map((s) => s.stop().catch((err) => log.warn({ err }, 'session stop failed'))))
      if (id) await runners.deleteRunner(db, id).catch((err) => log.warn({ err: (err as Error).message }, 'deregistering failed'))
      running = false
      log.info({ runner: id }, 'runner stopped')
    },
    owned: () => [...supervisors.keys()],
    stats: () => ({
      id,
      sessions: [...supervisors.values()].map((s) => ({ name: s.session, phase: s.status, sends: s.sends })),
    }),
  }
}
