/**
 * `npm start`: API + dashboard + runner in one process on the embedded database (ARCHITECTURE.md). The API side
 * (api/embedded.ts) opens the database and serves HTTP; the runner joins as a service on the same `db`, because
 * PGlite allows one process. api/ and runner/ never import each other, so this top-level file composes them.
 */
import { startEmbedded } from './api/embedded.js'
import { ApiConfigError } from './api/config.js'
import { createLogger, onShutdown } from './api/node.js'

// A newcomer's terminal shows the banner, the QR and "online", not a stream of JSON: unless LOG_LEVEL says
// otherwise, only warnings and errors are logged here (pm2/systemd run the separate entries at info).
const env = { ...process.env }
const quietLogs = !env.LOG_LEVEL?.trim()
if (quietLogs) env.LOG_LEVEL = 'warn'

try {
  const log = createLogger(env)
  const gateway = await startEmbedded({
    env,
    log,
    quietLogs,
    // Imported once the API listens: the runner brings Baileys, most of the start's module loading.
    services: [async ({ db, env }) => (await import('./runner/embedded.js')).startEmbeddedRunner({ db, env, stdoutIsTty: Boolean(process.stdout.isTTY) })],
  })
  onShutdown(() => gateway.stop(), log)
} catch (err) {
  if (err instanceof ApiConfigError || (err as Error).name === 'AuthKeyError' || (err as Error).name === 'RunnerConfigError') {
    console.error(`wa-gateway: ${(err as Error).message}`)
    process.exit(1)
  }
  throw err
}
