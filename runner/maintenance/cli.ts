/**
 * `npm run maintenance -- <job|all> [--slot]`: runs maintenance by hand, with the same code as the schedules.
 *
 *   npm run maintenance -- sweep      expired leases → sessions offline; dead runners deleted
 *   npm run maintenance -- stuck      list messages `sending` for more than 2 minutes
 *   npm run maintenance -- unpause    clear pauses whose `paused_until` has passed
 *   npm run maintenance -- prune      delete sent messages (and unreferenced media) past RETENTION_DAYS
 *   npm run maintenance -- all        all four
 *
 * By hand a job runs at once, whatever the schedules did: each acts only on rows past their deadline, so an
 * extra run is harmless. `--slot` makes it behave like a scheduled tick instead (claim the job's `cron_runs`
 * slot; skip when another process has it). Reads the same environment as the runner (`DATABASE_URL`,
 * `RETENTION_DAYS`, …), from the environment or the project's `.env`. With the embedded database (PGlite), stop `npm start` first: PGlite allows one process.
 * Exit code 1 when a job failed.
 */
import { existsSync } from 'node:fs'
import { hostname } from 'node:os'
import { pino } from 'pino'
import { describeDbConfig, openDb, parseDbConfig } from '../../db/index.js'
import { JOB_NAMES, isJobName, parseMaintenanceConfig, runJob, type JobName } from '../../db/maintenance/jobs.js'

const USAGE = `usage: npm run maintenance -- <${JOB_NAMES.join('|')}|all> [--slot]`

async function main(argv: string[]): Promise<number> {
  const args = argv.filter((a) => !a.startsWith('--'))
  const flags = new Set(argv.filter((a) => a.startsWith('--')))
  const unknownFlag = [...flags].find((f) => f !== '--slot' && f !== '--help')
  if (flags.has('--help') || args.length !== 1 || unknownFlag) {
    console.error(unknownFlag ? `unknown option ${unknownFlag}\n${USAGE}` : USAGE)
    return flags.has('--help') ? 0 : 2
  }
  const what = args[0]!
  if (what !== 'all' && !isJobName(what)) {
    console.error(`unknown job "${what}"\n${USAGE}`)
    return 2
  }
  const jobs: JobName[] = what === 'all' ? [...JOB_NAMES] : [what]
  // Like pm2 (--env-file) and systemd (EnvironmentFile), read the project's .env; the environment wins.
  if (existsSync('.env')) process.loadEnvFile('.env')
  const env = process.env
  const log = pino({ level: env.LOG_LEVEL?.trim() || 'info', base: { svc: 'maintenance' } })
  const config = parseMaintenanceConfig(env)
  const dbConfig = parseDbConfig(env)
  const runnerId = `cli-${hostname()}-${process.pid}`.slice(0, 64)
  log.info({ database: describeDbConfig(dbConfig), jobs, slot: flags.has('--slot') }, 'maintenance by hand')
  const db = await openDb(dbConfig, { poolSize: 2 })
  let failed = 0
  try {
    for (const job of jobs) {
      const out = await runJob({ db, log, config, runnerId }, job, { claimSlot: flags.has('--slot') })
      if (out.outcome === 'failed') failed++
      if (out.outcome === 'skipped') log.info({ job }, `maintenance ${job} skipped: another process already ran this slot`)
    }
  } finally {
    await db.close()
  }
  return failed > 0 ? 1 : 0
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    // Configuration and connection errors: one clear line (secrets are masked by describeDbConfig, never printed).
    console.error(`maintenance: ${(err as Error).message}`)
    process.exit(1)
  },
)
