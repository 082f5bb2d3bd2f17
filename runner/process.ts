/**
 * A runner as its own process (`npm run runner`): opens the configured database (MySQL/PostgreSQL in production, or
 * the embedded one when nothing else uses it), runs migrations, starts the runner's services (runner/compose.ts),
 * and on SIGTERM/SIGINT stops them within 10 s (in-flight send finished, sockets closed, leases released).
 *
 * runner/main.ts calls it with nothing replaced. Tests start their runner processes through
 * tests/support/runner-entry.ts, which calls it with `db` and `makeWhatsApp` replaced (crash points, short socket
 * timers), so the process they kill and stop is this one.
 */
import { pino } from 'pino'
import { describeDbConfig, openDb, parseDbConfig, type Db } from '../db/index.js'
import { keepNewFilesPrivate } from '../db/data-dir.js'
import { migrate } from '../db/migrate.js'
import type { Env } from '../db/shared/settings.js'
import { parseRunnerSettings, startRunnerServices, type MakeWhatsApp, type RunnerServices } from './compose.js'
import { routeConsoleToLog } from './console-to-log.js'

const SHUTDOWN_BUDGET_MS = 9_500

export interface RunnerProcessOptions {
  env: Env
  stdoutIsTty?: boolean
  /** Wraps the database the runner's services use (after migrations). */
  db?: (db: Db) => Db
  /** Replaces how the WhatsApp side is made (see `RunnerServicesOptions.makeWhatsApp`). */
  makeWhatsApp?: MakeWhatsApp
}

/**
 * Runs until a signal stops the process. Startup errors (bad configuration, unreachable database) are printed as
 * one line, not a stack, and exit with 1.
 */
export async function runRunnerProcess(options: RunnerProcessOptions): Promise<void> {
  try {
    await start(options)
  } catch (err) {
    // Straight to stderr: the console goes through the JSON log once the runner starts.
    process.stderr.write(`runner: ${(err as Error).message}\n`)
    process.exit(1)
  }
}

async function start(options: RunnerProcessOptions): Promise<void> {
  const { env } = options
  // Before anything is written: the embedded database and the generated keys are for this user only.
  keepNewFilesPrivate()
  const log = pino({ level: env.LOG_LEVEL?.trim() || 'info' }).child({ component: 'runner' })
  // libsignal prints Signal session records (private keys) through console: they go through the log, contents omitted.
  routeConsoleToLog(log)
  // Every setting is checked before the database is touched.
  const settings = parseRunnerSettings(env, { stdoutIsTty: options.stdoutIsTty ?? false })
  const dbConfig = parseDbConfig(env)
  log.info({ database: describeDbConfig(dbConfig) }, 'starting')
  // The log hears of a data directory that other users could read (it is made private before the database opens).
  const db = await openDb(dbConfig, { log, poolSize: settings.runner.dbPoolSize })
  let services: RunnerServices | undefined
  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    const hard = setTimeout(() => {
      log.error('shutdown took too long; exiting (leases expire by themselves)')
      process.exit(1)
    }, SHUTDOWN_BUDGET_MS)
    hard.unref()
    Promise.resolve(services?.stop())
      .then(() => db.close())
      .then(() => process.exit(0))
      .catch((err) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  try {
    await migrate(db, { log: (m) => log.info(m) })
    services = await startRunnerServices({
      db: options.db ? options.db(db) : db,
      env,
      log,
      settings,
      ...(options.makeWhatsApp ? { makeWhatsApp: options.makeWhatsApp } : {}),
    })
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
}
