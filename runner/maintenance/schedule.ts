/**
 * The maintenance schedule inside a runner: a croner tick every 15 s (db/README.md) runs every job whose
 * `cron_runs` slot is still free. Slots come from the database's clock, so however many runners (and the
 * Workers cron) tick, each slot runs once: sweep, stuck and unpause once a minute, prune once an hour.
 *
 * `{ start, stop, runOnce }`: `start()` schedules ticks, `stop()` cancels them and awaits the
 * tick in progress, tests call `runOnce()`.
 * @example
 * const schedule = createMaintenanceSchedule({ db, log: log.child({ component: 'maintenance' }), config, runnerId })
 * schedule.start() // … await schedule.stop()
 */
import { Cron } from 'croner'
import { runDueJobs, type JobContext, type JobName, type JobOutcome, JOB_NAMES } from '../../db/maintenance/jobs.js'

export interface MaintenanceScheduleOptions {
  /** Six-field croner pattern (seconds first). */
  pattern?: string
  jobs?: readonly JobName[]
}

export interface MaintenanceSchedule {
  start(): void
  stop(): Promise<void>
  /** One tick: every job whose slot is free runs now (claimed in `cron_runs`). */
  runOnce(): Promise<JobOutcome[]>
  /** True between `start()` and `stop()`. */
  readonly running: boolean
}

export function createMaintenanceSchedule(
  ctx: JobContext,
  { pattern = '*/15 * * * * *', jobs = JOB_NAMES }: MaintenanceScheduleOptions = {},
): MaintenanceSchedule {
  // Checked at construction: a bad pattern throws now, not at the first tick.
  new Cron(pattern, { paused: true }).stop()
  let cron: Cron | null = null
  let current: Promise<JobOutcome[]> | null = null

  const runOnce = (): Promise<JobOutcome[]> => {
    // Never two ticks at once in one process: a long prune simply delays the next tick.
    if (current) return current
    current = runDueJobs(ctx, jobs).finally(() => {
      current = null
    })
    return current
  }

  return {
    start() {
      if (cron) return
      if (!ctx.config.scheduleEnabled) {
        ctx.log.info({ component: 'maintenance' }, 'maintenance schedule off (MAINTENANCE=off): another runner or the Workers cron runs it')
        return
      }
      cron = new Cron(pattern, { protect: true, unref: true }, () => {
        // runDueJobs logs each job's failure itself and never rejects.
        void runOnce()
      })
      ctx.log.info({ component: 'maintenance', pattern, jobs }, 'maintenance schedule started')
    },
    async stop() {
      cron?.stop()
      cron = null
      await current?.catch(() => {})
    },
    runOnce,
    get running() {
      return cron !== null
    },
  }
}
