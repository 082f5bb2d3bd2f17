/**
 * The maintenance jobs (sweep, stuck, unpause, prune), one function per job, each `(ctx) → report`.
 *
 * Three callers run them: the runner's croner schedule (`runner/maintenance/schedule.ts`), the Workers
 * `scheduled()` handler (`api/worker.ts`) and `npm run maintenance -- <job|all>` (`runner/maintenance/cli.ts`);
 * so they live in db/, the code both the API and the runner may import. Scheduled runs go
 * through `runJobInSlot`, which claims the job's `cron_runs` slot first, so a slot runs once across
 * every runner and worker ("claim first, then work": a crash mid-job loses that slot, and the next
 * slot catches up because every job is level-triggered). A run by hand needs no slot: each job only
 * acts on rows already past their deadline, so running it twice, or next to a scheduled run, is safe.
 *
 * Web-standard only (no `node:` imports, no pino): the Workers bundle includes this file.
 */
import type { Db } from '../driver.js'
import * as cron from '../queries/cron.js'
import * as leases from '../queries/leases.js'
import { pruneNumberChecks } from '../queries/number-checks.js'
import { listSessions } from '../queries/sessions.js'
import { intSetting, switchSetting, type Env } from '../shared/settings.js'

type LogFn = (objOrMsg: unknown, msg?: string) => void

/** What the jobs need from a logger; pino and the worker's console logger both satisfy it. */
export interface MaintenanceLogger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
}

/** Counters the jobs feed; the runner's `createRunnerMetrics().maintenance` implements it. */
export interface MaintenanceMetrics {
  /** One job run (or skip: another process had the slot), with its duration. */
  jobRun(job: JobName, outcome: 'ran' | 'skipped' | 'failed', seconds: number): void
  /** `count` messages found `sending` for longer than the stuck threshold in this run. */
  stuckFlagged(count: number): void
}

export interface MaintenanceConfig {
  /** `RETENTION_DAYS`: `sent` messages older than this are deleted. */
  retentionDays: number
  /**
   * `MEDIA_RETENTION_DAYS` (default: `RETENTION_DAYS`): unreferenced media older than this are deleted.
   * The API reuses stored bytes only while younger than half of it, so both must read the same value.
   */
  mediaRetentionDays: number
  /** A `sending` row older than this is flagged (120 s: far beyond any send, well within a lease takeover). */
  stuckAfterSeconds: number
  /** Expired leases are swept this long after `lease_until` (10 s). */
  leaseGraceSeconds: number
  /** Runners silent this long are deleted (120 s). */
  deadRunnerSeconds: number
  /** Pruning batches (1,000 messages / 200 media, 200 ms apart, at most 50 per run: short locks, bounded runs). */
  prune: { batchSize?: number; mediaBatchSize?: number; maxBatches?: number; pauseMs?: number }
  /** `MAINTENANCE`: whether a runner schedules the jobs (`on`, default) or leaves them to others (`off`). */
  scheduleEnabled: boolean
}

/**
 * Reads the maintenance settings from an environment record (Node's `process.env` or Worker vars).
 * @example const config = parseMaintenanceConfig(process.env)
 */
export function parseMaintenanceConfig(env: Env): MaintenanceConfig {
  const retentionDays = intSetting(env, 'RETENTION_DAYS', 30, 1, 3650)
  return {
    retentionDays,
    mediaRetentionDays: intSetting(env, 'MEDIA_RETENTION_DAYS', retentionDays, 1, 3650),
    stuckAfterSeconds: 120,
    leaseGraceSeconds: 10,
    deadRunnerSeconds: 120,
    prune: {},
    scheduleEnabled: switchSetting(env, 'MAINTENANCE', true),
  }
}

/** The defaults, with overrides (tests and embedding). */
export function maintenanceConfig(overrides: Partial<MaintenanceConfig> = {}): MaintenanceConfig {
  return { ...parseMaintenanceConfig({}), ...overrides }
}

export interface JobContext {
  db: Db
  log: MaintenanceLogger
  config: MaintenanceConfig
  /** Recorded in `cron_runs.runner` (a runner id, or `worker-…` / `cli-…`). At most 64 ASCII characters. */
  runnerId: string
  metrics?: MaintenanceMetrics
}

export interface SweepReport {
  /** Sessions whose lease had expired: now ownerless and `offline` (detail `lease expired`). */
  expiredLeases: number
  /** Runner rows whose heartbeat stopped; their sessions' leases expire and are swept like any other. */
  deadRunners: number
}

/**
 * Sweeps expired leases (the session goes `offline`, ownerless, `detail = 'lease expired'`) and deletes runners
 * whose heartbeat stopped. A dead runner's sessions have expired leases long before its row goes (lease TTL 30 s,
 * heartbeat cutoff 120 s), so the first statement marks them offline.
 */
export async function sweep(ctx: JobContext): Promise<SweepReport> {
  const expiredLeases = await cron.sweepExpiredLeases(ctx.db, ctx.config.leaseGraceSeconds)
  const deadRunners = await cron.deleteDeadRunners(ctx.db, ctx.config.deadRunnerSeconds)
  return { expiredLeases, deadRunners }
}

export interface StuckReport {
  stuck: number
  messages: { id: number; session: string; claimedBy: string | null; claimedAt: string | null }[]
}

/**
 * Flags `sending` rows claimed more than 2 minutes ago: logged at warn with their ids and counted in metrics.
 * Nothing is changed: the lease holder (or the next one, after a takeover) reconciles the row when it reconnects.
 */
export async function flagStuck(ctx: JobContext): Promise<StuckReport> {
  const found = await cron.findStuckSending(ctx.db, ctx.config.stuckAfterSeconds)
  const messages = found.map((m) => ({ id: m.id, session: m.session, claimedBy: m.claimedBy, claimedAt: m.claimedAt?.toISOString() ?? null }))
  ctx.metrics?.stuckFlagged(found.length)
  if (found.length > 0) {
    ctx.log.warn(
      { job: 'stuck', count: found.length, messages: messages.slice(0, 20) },
      `${found.length} message(s) have been "sending" for more than ${ctx.config.stuckAfterSeconds} s; their runner may be stuck or dead`,
    )
  }
  return { stuck: found.length, messages }
}

export interface PruneReport {
  messages: number
  media: number
  webhookDeliveries: number
  cronRuns: number
  memberReceipts: number
  /** Number checks older than a day (expired cache entries, requests nobody withdrew). */
  numberChecks: number
}

/**
 * Deletes `sent` messages older than `RETENTION_DAYS`, then media no message references any more older than
 * `MEDIA_RETENTION_DAYS`, then settled webhook deliveries older than `RETENTION_DAYS`, then slot rows older than
 * 7 days, then group members' receipts older than `RETENTION_DAYS`, in small batches, then number checks older
 * than a day. `failed` and `opted_out` messages are
 * kept, and so is their media, so they can be resent.
 */
export async function prune(ctx: JobContext): Promise<PruneReport> {
  const p = ctx.config.prune
  const messages = await cron.pruneSentMessages(ctx.db, {
    retentionDays: ctx.config.retentionDays, batchSize: p.batchSize, maxBatches: p.maxBatches, pauseMs: p.pauseMs,
  })
  const media = await cron.pruneUnreferencedMedia(ctx.db, {
    retentionDays: ctx.config.mediaRetentionDays, batchSize: p.mediaBatchSize, maxBatches: p.maxBatches, pauseMs: p.pauseMs,
  })
  const webhookDeliveries = await cron.pruneWebhookDeliveries(ctx.db, {
    retentionDays: ctx.config.retentionDays, batchSize: p.batchSize, maxBatches: p.maxBatches, pauseMs: p.pauseMs,
  })
  const cronRuns = await cron.pruneCronRuns(ctx.db, 7)
  const memberReceipts = await cron.pruneMemberReceipts(ctx.db, {
    retentionDays: ctx.config.retentionDays, batchSize: p.batchSize, maxBatches: p.maxBatches, pauseMs: p.pauseMs,
  })
  return { messages, media, webhookDeliveries, cronRuns, numberChecks: await pruneNumberChecks(ctx.db), memberReceipts }
}

export interface UnpauseReport {
  /** Sessions whose pause had run out and was cleared (with its `detail`). */
  released: string[]
}

/**
 * Releases pauses whose `paused_until` has passed (a 463 pauses a session for 24 h). The claim already ignores a
 * past pause; this clears the column and its `detail` so the dashboard and `/api/status` stop reporting it.
 * The database decides what "passed" means (its clock, not this process's): each candidate is cleared with the
 * fenced `unpauseExpired`, whose WHERE holds `paused_until <= now`. An ownerless session keeps its stale
 * columns until a runner takes it (the lease sweeper has already set its detail to `lease expired`).
 */
export async function unpause(ctx: JobContext): Promise<UnpauseReport> {
  const released: string[] = []
  for (const s of await listSessions(ctx.db)) {
    if (s.pausedUntil === null || s.owner === null) continue
    if (await leases.unpauseExpired(ctx.db, { name: s.name, owner: s.owner, epoch: s.leaseEpoch })) released.push(s.name)
  }
  return { released }
}

/** Every job, its slot length and its function. */
export const JOBS = {
  sweep: { periodSeconds: 60, run: sweep },
  stuck: { periodSeconds: 60, run: flagStuck },
  unpause: { periodSeconds: 60, run: unpause },
  prune: { periodSeconds: 3600, run: prune },
} as const

export type JobName = keyof typeof JOBS
export const JOB_NAMES = Object.keys(JOBS) as JobName[]

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOBS, name)
}

export type JobReport = Awaited<ReturnType<(typeof JOBS)[JobName]['run']>>

export interface JobOutcome {
  job: JobName
  /** `ran`: this process had the slot (or ran by hand); `skipped`: another process has this slot; `failed`: an error, logged. */
  outcome: 'ran' | 'skipped' | 'failed'
  report?: JobReport
  error?: string
  ms: number
}

/**
 * What of an error may be logged: mysql2 errors carry the whole statement with its values inlined (`err.sql`),
 * which may hold message text or stored bytes, so only the name, message, code and cause chain are kept.
 */
function safeError(err: unknown, depth = 0): Record<string, unknown> {
  const e = err as { name?: string; message?: string; code?: unknown; errno?: unknown; cause?: unknown }
  return {
    type: e?.name ?? typeof err,
    message: e?.message ?? String(err),
    ...(e?.code !== undefined ? { code: e.code } : {}),
    ...(e?.errno !== undefined ? { errno: e.errno } : {}),
    ...(e?.cause !== undefined && depth < 3 ? { cause: safeError(e.cause, depth + 1) } : {}),
  }
}

/** The `cron_runs` task name of a job (namespaced so other tasks can share the table). */
export const taskName = (job: JobName) => `maintenance:${job}`

function foundSomething(report: unknown): boolean {
  if (typeof report === 'number') return report > 0
  if (Array.isArray(report)) return report.length > 0
  if (report && typeof report === 'object') return Object.values(report).some(foundSomething)
  return false
}

/**
 * Runs one job now. With `claimSlot` (the schedules), first claims the job's current slot and skips when another
 * process has it. Errors are logged and returned, never thrown: one failing job must not stop the others.
 * @example await runJob(ctx, 'prune', { claimSlot: true })
 */
export async function runJob(ctx: JobContext, job: JobName, options: { claimSlot?: boolean; quietWhenIdle?: boolean } = {}): Promise<JobOutcome> {
  const started = Date.now()
  const log = ctx.log
  const spec = JOBS[job]
  const finish = (o: Omit<JobOutcome, 'job' | 'ms'>): JobOutcome => {
    const ms = Date.now() - started
    ctx.metrics?.jobRun(job, o.outcome, ms / 1000)
    return { job, ms, ...o }
  }
  try {
    if (options.claimSlot) {
      const mine = await cron.claimCronSlot(ctx.db, { task: taskName(job), periodSeconds: spec.periodSeconds, runner: ctx.runnerId })
      if (!mine) {
        log.debug({ job }, 'maintenance slot already taken by another process')
        return finish({ outcome: 'skipped' })
      }
    }
    const report = await spec.run(ctx)
    const out = finish({ outcome: 'ran', report })
    // A scheduled run that found nothing to do is routine (4 jobs, every 15 s): debug. Runs by hand, and runs
    // that changed or flagged something, are worth an info line.
    const level = options.quietWhenIdle && !foundSomething(report) ? 'debug' : 'info'
    log[level]({ job, ms: out.ms, slot: Boolean(options.claimSlot), ...report }, `maintenance ${job} done`)
    return out
  } catch (err) {
    const out = finish({ outcome: 'failed', error: (err as Error)?.message ?? String(err) })
    log.error({ job, ms: out.ms, err: safeError(err) }, `maintenance ${job} failed`)
    return out
  }
}

/** Every job whose slot is free, one after the other (what each cron tick runs). */
export async function runDueJobs(ctx: JobContext, jobs: readonly JobName[] = JOB_NAMES): Promise<JobOutcome[]> {
  const out: JobOutcome[] = []
  for (const job of jobs) out.push(await runJob(ctx, job, { claimSlot: true, quietWhenIdle: true }))
  return out
}
