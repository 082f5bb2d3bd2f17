/**
 * The runner's composition: the one function that turns a database and an environment record into the running
 * services of a runner (the runner itself, the maintenance schedule, the webhook deliverer and the metrics with
 * their optional private port). Both entries call it: `npm run runner` (runner/main.ts, through runner/process.ts)
 * on a database of its own, and `npm start` (start.ts, through runner/embedded.ts) on the API's embedded database.
 * So the two cannot drift: a service added here runs under both.
 *
 * Every setting is parsed before anything starts, so a bad one fails the start with a `ConfigError` that names it.
 * Reads nothing but `env`; knows nothing about the process (signals, exit codes: runner/process.ts).
 */
import { pino, type Logger } from 'pino'
import type { Db } from '../db/driver.js'
import { parseMaintenanceConfig, type MaintenanceConfig } from '../db/maintenance/jobs.js'
import type { Env } from '../db/shared/settings.js'
import { resolveAuthStateKey } from './auth-key.js'
import { parseRunnerConfig, type RunnerConfig } from './config.js'
import { createMaintenanceSchedule } from './maintenance/schedule.js'
import { createRunnerMetrics, instrumentWhatsApp, observeRunnerSessions, startMetricsServer, type MetricsServer, type RunnerMetrics } from './metrics.js'
import { createRunner, type Runner } from './runner.js'
import { parseWebhookConfig, type WebhookConfig } from './webhooks/config.js'
import { createWebhookDeliverer } from './webhooks/deliverer.js'
import { createWhatsAppFactory, type WhatsAppClientFactory, type WhatsAppFactoryOptions } from './whatsapp/client.js'
import { terminalNotices, terminalOutput } from './whatsapp/qr-terminal.js'

/** Builds the WhatsApp client factory from what the composition has resolved (database, auth key, environment). */
export type MakeWhatsApp = (options: WhatsAppFactoryOptions) => Promise<WhatsAppClientFactory>

/** Every setting the runner's services read, parsed and checked. */
export interface RunnerSettings {
  runner: RunnerConfig
  maintenance: MaintenanceConfig
  webhooks: WebhookConfig
  /** `RUNNER_METRICS_HOST`: where the private port listens (127.0.0.1 unless told otherwise). */
  metricsHost: string
  /** `DATA_DIR`: where the embedded database keeps a generated auth state key. */
  dataDir: string
}

/**
 * Parses the runner's settings; throws a `ConfigError` naming the first bad one.
 * @example const settings = parseRunnerSettings(process.env, { stdoutIsTty: process.stdout.isTTY })
 */
export function parseRunnerSettings(env: Env, options: { stdoutIsTty?: boolean } = {}): RunnerSettings {
  return {
    runner: parseRunnerConfig(env, { stdoutIsTty: options.stdoutIsTty ?? false }),
    maintenance: parseMaintenanceConfig(env),
    webhooks: parseWebhookConfig(env),
    metricsHost: env.RUNNER_METRICS_HOST?.trim() || '127.0.0.1',
    dataDir: env.DATA_DIR?.trim() || './data',
  }
}

export interface RunnerServicesOptions {
  /** The database the runner works on, migrated. */
  db: Db
  env: Env
  log?: Logger
  /** Print QR codes to the terminal unless `PRINT_QR=0` (stdout is a TTY). */
  stdoutIsTty?: boolean
  /**
   * Tell the terminal, in plain words, when WhatsApp cannot be reached and when it can again, even where no QR is
   * printed (`npm start`, which a person watches; a runner process says it in its JSON log only).
   */
  notices?: boolean
  /** Already parsed by the caller (a process checks its settings before it connects); parsed from `env` if not. */
  settings?: RunnerSettings
  /** How the WhatsApp side is made: `createWhatsAppFactory` (Baileys, endpoint from `env`) unless replaced. */
  makeWhatsApp?: MakeWhatsApp
}

export interface RunnerServices {
  runner: Runner
  metrics: RunnerMetrics
  /** The private /healthz and /metrics port's URL (`RUNNER_METRICS_PORT`), or null. */
  metricsUrl: string | null
  /** Stops the schedule, the deliverer and the port, then the runner (in-flight sends finish, leases released). */
  stop(): Promise<void>
}

/**
 * Starts a runner and everything that runs beside it.
 * @example const services = await startRunnerServices({ db, env: process.env, log }) // … await services.stop()
 */
export async function startRunnerServices(options: RunnerServicesOptions): Promise<RunnerServices> {
  const { db, env } = options
  const log = options.log ?? pino({ level: env.LOG_LEVEL?.trim() || 'info' }).child({ component: 'runner' })
  const settings = options.settings ?? parseRunnerSettings(env, { stdoutIsTty: options.stdoutIsTty ?? false })
  const { runner: config, maintenance: maintenanceConfig, webhooks: webhookConfig, metricsHost, dataDir } = settings
  const { key, source } = resolveAuthStateKey({ authStateKey: env.AUTH_STATE_KEY, engine: db.engine, dataDir })
  log.info({ authKey: source === 'generated' ? `generated in ${dataDir}` : source }, 'auth state key ready')
  const makeWhatsApp = options.makeWhatsApp ?? createWhatsAppFactory
  const whatsapp = await makeWhatsApp({ db, authStateKey: key, env, log })

  const metrics = createRunnerMetrics()
  const runner = createRunner({
    db, config, log, whatsapp: instrumentWhatsApp(whatsapp, metrics),
    ...(config.printQr ? { terminal: terminalOutput } : options.notices ? { terminal: terminalNotices } : {}),
    onClaim: (seconds) => metrics.claimLatency.observe(seconds),
  })
  await runner.start()
  log.info({ runner: runner.id, capacity: config.capacity }, 'runner started')
  const owner = runner.id ?? `runner-${process.pid}`
  observeRunnerSessions(metrics, runner)

  // The maintenance jobs, once per cron_runs slot across every runner and the Workers cron (db/maintenance/).
  const maintenance = createMaintenanceSchedule({
    db, log: log.child({ subsystem: 'maintenance' }), config: maintenanceConfig, runnerId: owner, metrics: metrics.maintenance,
  })
  maintenance.start()
  // Due webhook calls, shared with every other runner through SKIP LOCKED claims.
  const webhooks = createWebhookDeliverer({
    db, config: webhookConfig, log: log.child({ subsystem: 'webhooks' }), owner,
    onOutcome: (outcome, seconds) => {
      metrics.webhookDeliveries.inc({ outcome })
      metrics.webhookLatency.observe(seconds)
    },
  })
  webhooks.start()

  let stopping = false
  let metricsServer: MetricsServer | null = null
  const stopBeside = () => Promise.all([maintenance.stop(), webhooks.stop(), metricsServer?.close()])
  if (config.metricsPort) {
    try {
      metricsServer = await startMetricsServer({
        port: config.metricsPort, host: metricsHost, metrics,
        health: () => ({ ok: runner.id !== null && !stopping, runner: runner.id, sessions: runner.owned().length }),
      })
    } catch (err) {
      // The port is taken, say: what started must not keep the process alive behind the error.
      await stopBeside()
      await runner.stop()
      throw err
    }
    log.info({ url: metricsServer.url }, 'metrics and health on the private port')
  }

  return {
    runner,
    metrics,
    metricsUrl: metricsServer?.url ?? null,
    async stop() {
      if (stopping) return
      stopping = true
      await stopBeside()
      await runner.stop()
    },
  }
}
