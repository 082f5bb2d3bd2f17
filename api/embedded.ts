/**
 * `npm start`: the newcomer path. Runs the API on the embedded database (PGlite in `DATA_DIR`,
 * default ./data, unless DATABASE_URL says otherwise) and prints the URL and where the API key is. With no
 * API_SECRET, a random key is generated on first start, printed that once, and kept in `<DATA_DIR>/api-key`.
 *
 * The runner joins through `services`: PGlite allows one process, so the runner must share this
 * process and this `db`. A later top-level entry (e.g. `start.ts`) calls
 * `startEmbedded({ services: [async ({ db, log }) => startRunner({ db, log })] })`; each service's
 * `stop()` runs before the API server and the database close.
 *
 * Node-only like api/node.ts (whose helpers it uses); it has no `node:` imports of its own.
 */
import { parseDbConfig, type Db } from '../db/index.js'
import { keepNewFilesPrivate } from '../db/data-dir.js'
import { ConfigError } from '../db/shared/settings.js'
import { parseApiKeys, type ApiConfig } from './config.js'
import type { Logger } from './env.js'
import { createLogger, isMain, loadOrCreateApiKey, onShutdown, startApi, type StartedApi } from './node.js'

/** Something else that runs in the embedded process (the runner). */
export interface EmbeddedService {
  stop(): Promise<void>
}

export interface EmbeddedContext {
  db: Db
  log: Logger
  config: ApiConfig
  env: Record<string, string | undefined>
}

export interface StartEmbeddedOptions {
  env?: Record<string, string | undefined>
  log?: Logger
  /** Started after the API listens, stopped (in reverse order) before it closes. */
  services?: Array<(ctx: EmbeddedContext) => Promise<EmbeddedService>>
  /** Where the banner goes (default console.log). */
  print?: (line: string) => void
  /** The log level was lowered for the terminal (the banner says how to raise it). */
  quietLogs?: boolean
}

export interface EmbeddedGateway {
  api: StartedApi
  url: string
  apiKey: string
  stop(): Promise<void>
}

export async function startEmbedded(options: StartEmbeddedOptions = {}): Promise<EmbeddedGateway> {
  const env = { ...(options.env ?? process.env) }
  const log = options.log ?? createLogger(env)
  const print = options.print ?? ((line: string) => console.log(line))
  // How the banner names the key. The key itself is printed only the run that generates it: under a process
  // manager the terminal is a log file, and a key printed at every start would sit in every rotated copy.
  let keyLine: string
  let curlKey: string
  if (parseApiKeys(env.API_SECRET).length === 0) {
    const dbConfig = parseDbConfig(env)
    const dataDir = dbConfig.engine === 'pglite' && !dbConfig.dataDir.startsWith('memory://') ? dbConfig.dataDir : env.DATA_DIR?.trim() || './data'
    const stored = loadOrCreateApiKey(dataDir)
    env.API_SECRET = stored.key
    keyLine = stored.created ? `${stored.key}   generated and saved in ${stored.path}` : `kept in ${stored.path} (shown only when it was generated)`
    curlKey = stored.created ? stored.key : `$(cat ${stored.path})`
  } else {
    keyLine = '(the first key in API_SECRET)'
    curlKey = 'YOUR_SECRET'
  }
  const api = await startApi({ env, log })
  const services: EmbeddedService[] = []
  const stop = async () => {
    for (const s of services.reverse()) await s.stop().catch((err: unknown) => log.error({ err }, 'stopping a service failed'))
    await api.stop()
  }
  try {
    for (const start of options.services ?? []) services.push(await start({ db: api.db, log, config: api.config, env }))
  } catch (err) {
    await stop()
    throw err
  }
  const apiKey = api.config.apiKeys[0]!
  print('')
  print(`  WA Gateway API  ${api.server.url}   (database: ${api.db.engine})`)
  print(`  Dashboard:      ${api.server.url}/dashboard   (sign in with the API key)`)
  print(`  API key:        ${keyLine}`)
  print(`  Reference:      ${api.server.url}/docs`)
  print(`  Try:            curl -H "X-API-Key: ${curlKey}" ${api.server.url}/api/status`)
  if (options.quietLogs) print('  Logs:           warnings and errors only (LOG_LEVEL=info for everything, as JSON)')
  print('')
  return { api, url: api.server.url, apiKey, stop }
}

if (isMain(import.meta.url)) {
  keepNewFilesPrivate()
  try {
    const log = createLogger()
    const gateway = await startEmbedded({ log })
    onShutdown(() => gateway.stop(), log)
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`wa-gateway: ${err.message}`)
      process.exit(1)
    }
    throw err
  }
}
