import { ConfigError } from './shared/settings.js'

export { ConfigError }

/** Which engine the gateway talks to, parsed from `DATABASE_URL` and `DATA_DIR`. */
export type DbConfig =
  | { engine: 'mysql'; url: string }
  | { engine: 'postgres'; url: string }
  | { engine: 'pglite'; dataDir: string }


/**
 * `mysql://…` → mysql2; `postgres://` / `postgresql://` → postgres; unset or `pglite:<dir>` →
 * embedded PGlite (default directory `DATA_DIR`, itself defaulting to `./data`).
 */
export function parseDbConfig(env: Record<string, string | undefined>): DbConfig {
  const url = env.DATABASE_URL?.trim()
  const dataDir = env.DATA_DIR?.trim() || './data'
  if (!url) return { engine: 'pglite', dataDir }
  if (/^mysql:\/\//i.test(url)) return { engine: 'mysql', url }
  if (/^postgres(ql)?:\/\//i.test(url)) return { engine: 'postgres', url }
  if (/^pglite:/i.test(url)) return { engine: 'pglite', dataDir: url.slice('pglite:'.length) || dataDir }
  throw new ConfigError(
    `DATABASE_URL must start with mysql://, postgres://, postgresql:// or pglite: (got "${url.replace(/\/\/[^@/]*@/, '//***@')}")`,
  )
}

/** The URL with its password masked, for logs. */
export function describeDbConfig(config: DbConfig): string {
  return config.engine === 'pglite' ? `pglite:${config.dataDir}` : config.url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
}
