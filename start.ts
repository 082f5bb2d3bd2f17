/**
 * `npm start`: API + dashboard + runner in one process on the embedded database (README.md, Quick start). The API side
 * (api/embedded.ts) opens the database and serves HTTP; the runner joins as a service on the same `db`, because
 * PGlite allows one process. api/ and runner/ never import each other, so this top-level file composes them.
 */
import { startEmbedded } from './api/embedded.js'
import { createLogger, onShutdown } from './api/node.js'
import { routeConsoleToLog } from './runner/console-to-log.js'
import { keepNewFilesPrivate } from './db/data-dir.js'
import { ConfigError } from './db/shared/settings.js'

// Before anything is written: the database files, keys and API key in DATA_DIR are for this user only.
keepNewFilesPrivate()

// A newcomer's terminal shows the banner, the QR and "online", not a stream of JSON: unless LOG_LEVEL says
// otherwise, only warnings and errors are logged here (pm2/systemd run the separate entries at info).
const env = { ...process.env }
const quietLogs = !env.LOG_LEVEL?.trim()
if (quietLogs) env.LOG_LEVEL = 'warn'

try {
  const log = createLogger(env)
  // libsignal (under Baileys) prints Signal session records, private keys included, through console: they go
  // through the log as JSON with the contents omitted. The banner is written to stdout directly, not via console.
  routeConsoleToLog(log)
  const starting = startEmbedded({
    env,
    log,
    quietLogs,
    print: (line) => process.stdout.write(`${line}\n`),
    // Imported once the API listens: the runner brings Baileys, most of the start's module loading.
    services: [async ({ db, env }) => (await import('./runner/embedded.js')).startEmbeddedRunner({ db, env, stdoutIsTty: Boolean(process.stdout.isTTY) })],
  })
  // The API answers before the runner has started (its modules load after the listen): a SIGTERM or Ctrl-C in
  // between waits for the start to finish and then stops everything, instead of killing the process, and the
  // embedded database with it, half-way.
  onShutdown(async () => (await starting).stop(), log)
  await starting
} catch (err) {
  // Every entry's settings (API, database, runner, maintenance, webhooks, WhatsApp endpoint) throw this one type.
  if (err instanceof ConfigError) {
    process.stderr.write(`wa-gateway: ${err.message}\n`)
    process.exit(1)
  }
  throw err
}
