import { pino, type Logger } from 'pino'
import type { Db } from '../db/driver.js'
import { resolveAuthStateKey } from './auth-key.js'
import { parseRunnerConfig } from './config.js'
import { createRunner, type Runner } from './runner.js'
import { parseMaintenanceConfig } from './maintenance/jobs.js'
import { createMaintenanceSchedule } from './maintenance/schedule.js'
import { createWhatsAppFactory } from './whatsapp/client.js'
import { terminalNotices, terminalOutput } from './whatsapp/qr-terminal.js'
import { parseWebhookConfig } from './webhooks/config.js'
import { createWebhookDeliverer } from './webhooks/deliverer.js'

/**
 * The runner inside another process (`npm start`: API + runner + dashboard on one embedded database). PGlite has
 * a single connection and locks its data directory, so the runner must share the API's `db` rather than open its
 * own. The environment record is handed in by the entry (`start.ts`); nothing here reads `process.env`.
 * @example services: [({ db, env }) => startEmbeddedRunner({ db, env })]
 */
export async function startEmbeddedRunner(options: {
  db: Db
  env: Record<string, string | undefined>
  log?: Logger
  stdoutIsTty?: boolean
}): Promise<{ runner: Runner; stop(): Promise<void> }> {
  const { db, env } = options
  const log = options.log ?? pino({ level: env.LOG_LEVEL?.trim() || 'info' }).child({ component: 'runner' })
  const config = parseRunnerConfig(env, { stdoutIsTty: options.stdoutIsTty ?? false })
  const maintenanceConfig = parseMaintenanceConfig(env)
  const webhookConfig = parseWebhookConfig(env)
  if (config.crashAt) throw new Error('QUEUE_CRASH_AT is a test hook for runner processes, not for npm start')
  const dataDir = env.DATA_DIR?.trim() || './data'
  const { key, source } = resolveAuthStateKey({ authStateKey: env.AUTH_STATE_KEY, engine: db.engine, dataDir })
  log.info({ authKey: source === 'generated' ? `generated in ${dataDir}` : source }, 'auth state key ready')
  const { factory, loopback } = await createWhatsAppFactory({ db, authStateKey: key, env, log })
  const runner = createRunner({
    db, config, log, whatsapp: factory, loopback,
    terminal: config.printQr ? terminalOutput : terminalNotices,
  })
  await runner.start()
  // Issue 7 hook: the maintenance schedule runs in the embedded process too (see runner/maintenance/).
  const maintenance = createMaintenanceSchedule({
    db, log: log.child({ subsystem: 'maintenance' }), config: maintenanceConfig, runnerId: runner.id ?? `runner-${process.pid}`,
  })
  maintenance.start()
  // Webhook calls (issue 8) run in the embedded process too.
  const webhooks = createWebhookDeliverer({
    db, config: webhookConfig, log: log.child({ subsystem: 'webhooks' }), owner: runner.id ?? `runner-${process.pid}`,
  })
  webhooks.start()
  return {
    runner,
    stop: async () => {
      await webhooks.stop()
      await maintenance.stop()
      await runner.stop()
    },
  }
}
