/**
 * `npm run runner`: the runner as its own process (MySQL/PostgreSQL in production, or the embedded database when
 * nothing else uses it). The only runner file that reads `process.env` and knows it is a process: it parses the
 * configuration, opens the database, runs migrations, starts the runner, and on SIGTERM/SIGINT stops it within
 * 10 s (in-flight send finished, sockets closed, leases released).
 */
import { pino } from 'pino'
import { openDb, parseDbConfig, describeDbConfig } from '../db/index.js'
import { migrate } from '../db/migrate.js'
import { keepNewFilesPrivate } from '../db/data-dir.js'
import { resolveAuthStateKey } from './auth-key.js'
import { parseRunnerConfig } from './config.js'
import { routeConsoleToLog } from './console-to-log.js'
import { createCrashHook, createRunner } from './runner.js'
import { createWhatsAppFactory } from './whatsapp/client.js'
import { terminalOutput } from './whatsapp/qr-terminal.js'
import { parseMaintenanceConfig } from './maintenance/jobs.js'
import { createMaintenanceSchedule } from './maintenance/schedule.js'
import { createRunnerMetrics, instrumentWhatsApp, observeRunnerSessions, startMetricsServer, type MetricsServer } from './metrics.js'
import { parseWebhookConfig } from './webhooks/config.js'
import { createWebhookDeliverer, type WebhookDeliverer } from './webhooks/deliverer.js'

const SHUTDOWN_BUDGET_MS = 9_500

async function main(): Promise<void> {
  keepNewFilesPrivate()
  const env = process.env
  const log = pino({ level: env.LOG_LEVEL ?? 'info' }).child({ component: 'runner' })
  // libsignal prints Signal session records (private keys) through console: they go through the log, contents omitted.
  routeConsoleToLog(log)
  const config = parseRunnerConfig(env, { stdoutIsTty: process.stdout.isTTY })
  const dbConfig = parseDbConfig(env)
  const { key, source } = resolveAuthStateKey({
    authStateKey: env.AUTH_STATE_KEY,
    engine: dbConfig.engine,
    dataDir: env.DATA_DIR?.trim() || './data',
  })
  log.info({ database: describeDbConfig(dbConfig), authKey: source }, 'starting')
  const db = await openDb(dbConfig, { log })
  await migrate(db, { log: (m) => log.info(m) })
  const timers = env.WA_TEST_TIMERS === '1' ? { qrTimeoutMs: 20_000, keepAliveIntervalMs: 5_000, defaultQueryTimeoutMs: 20_000, connectTimeoutMs: 20_000 } : undefined
  const { factory, loopback } = await createWhatsAppFactory({ db, authStateKey: key, env, log, ...(timers ? { timers } : {}) })
  if (config.crashAt && !loopback) {
    throw new Error('QUEUE_CRASH_AT is a test hook: it is allowed only with a loopback WA_WEBSOCKET_URL and WA_LOOPBACK_ROOT_KEY')
  }
  const maintenanceConfig = parseMaintenanceConfig(env)
  const webhookConfig = parseWebhookConfig(env)
  const metrics = createRunnerMetrics()
  const runner = createRunner({
    db, config, log, whatsapp: instrumentWhatsApp(factory, metrics), loopback,
    crashHook: createCrashHook(config.crashAt, config.crashOn),
    ...(config.printQr ? { terminal: terminalOutput } : {}),
    onClaim: (seconds) => metrics.claimLatency.observe(seconds),
  })
  let stopping = false
  let maintenance: ReturnType<typeof createMaintenanceSchedule> | undefined
  let metricsServer: MetricsServer | undefined
  let webhooks: WebhookDeliverer | undefined
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    const hard = setTimeout(() => {
      log.error('shutdown took too long; exiting (leases expire by themselves)')
      process.exit(1)
    }, SHUTDOWN_BUDGET_MS)
    hard.unref()
    Promise.all([maintenance?.stop(), metricsServer?.close(), webhooks?.stop()])
      .then(() => runner.stop())
      .then(() => db.close())
      .then(() => process.exit(0))
      .catch((err) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  await runner.start()
  log.info({ runner: runner.id, capacity: config.capacity }, 'runner started')

  // The maintenance schedule (croner, once per cron_runs slot across runners) and the private
  // /healthz + /metrics port (RUNNER_METRICS_PORT). See runner/maintenance/ and runner/metrics.ts.
  observeRunnerSessions(metrics, runner)
  maintenance = createMaintenanceSchedule({
    db, log: log.child({ subsystem: 'maintenance' }), config: maintenanceConfig, runnerId: runner.id ?? `runner-${process.pid}`, metrics: metrics.maintenance,
  })
  maintenance.start()
  // Webhook calls: due deliveries, shared with every other runner through SKIP LOCKED claims.
  webhooks = createWebhookDeliverer({
    db, config: webhookConfig, log: log.child({ subsystem: 'webhooks' }), owner: runner.id ?? `runner-${process.pid}`,
    onOutcome: (outcome, seconds) => {
      metrics.webhookDeliveries.inc({ outcome })
      metrics.webhookLatency.observe(seconds)
    },
  })
  webhooks.start()
  if (config.metricsPort) {
    metricsServer = await startMetricsServer({
      port: config.metricsPort, host: env.RUNNER_METRICS_HOST?.trim() || '127.0.0.1', metrics,
      health: () => ({ ok: runner.id !== null && !stopping, runner: runner.id, sessions: runner.owned().length }),
    })
    log.info({ url: metricsServer.url }, 'metrics and health on the private port')
  }
}

main().catch((err) => {
  // Startup errors (bad configuration, unreachable database) are one clear line, not a stack dump.
  process.stderr.write(`runner: ${(err as Error).message}\n`)
  process.exit(1)
})
