import type { Logger } from 'pino'
import type { Db } from '../db/driver.js'
import { startRunnerServices, type RunnerServices } from './compose.js'

/**
 * The runner inside another process (`npm start`: API + runner + dashboard on one embedded database). PGlite has
 * a single connection and locks its data directory, so the runner must share the API's `db` rather than open its
 * own. Otherwise it is the same composition as `npm run runner` (runner/compose.ts): the same services and metrics.
 * The environment record is handed in by the entry (`start.ts`); nothing here reads `process.env`.
 * @example services: [({ db, env }) => startEmbeddedRunner({ db, env })]
 */
export async function startEmbeddedRunner(options: {
  db: Db
  env: Record<string, string | undefined>
  log?: Logger
  stdoutIsTty?: boolean
}): Promise<RunnerServices> {
  return startRunnerServices({
    db: options.db,
    env: options.env,
    stdoutIsTty: options.stdoutIsTty ?? false,
    // A person watches npm start's terminal: tell them when WhatsApp cannot be reached, even without a QR to show.
    notices: true,
    ...(options.log ? { log: options.log } : {}),
  })
}
