import { ConfigError } from './shared/settings.js'

export { ConfigError }

/** Which engine the gateway talks to, parsed from `DATABASE_URL` and `DATA_DIR`. */
export type DbConfig =
  | { engine: 'mysql'; url: string }
  | { engine: 'postgres'; url: string }
  | { engine: 'pglite'; dataDir: string }


const ENCODE_HINT = 'percent-encode special characters in the user name and password (/ as %2F, @ as %40, : as %3A, # as %23, ? as %3F, % as %25)'

/**
 * `mysql://…` → mysql2; `postgres://` / `postgresql://` → postgres; unset or `pglite:<dir>` →
 * embedded PGlite (default directory `DATA_DIR`, itself defaulting to `./data`).
 *
 * A server URL must parse as a URL here: the drivers parse it with `new URL()` too, and Node's "Invalid URL" error
 * carries the whole input, password included, into whatever prints the error. A password with `/`, `?`, `#` or a
 * second `:` has to be percent-encoded anyway for the drivers to read it.
 */
export function parseDbConfig(env: Record<string, string | undefined>): DbConfig {
  const url = env.DATABASE_URL?.trim()
  const dataDir = env.DATA_DIR?.trim() || './data'
  if (!url) return { engine: 'pglite', dataDir }
  if (/^pglite:/i.test(url)) return { engine: 'pglite', dataDir: url.slice('pglite:'.length) || dataDir }
  const engine = /^mysql:\/\//i.test(url) ? 'mysql' : /^postgres(ql)?:\/\//i.test(url) ? 'postgres' : null
  if (!engine) {
    throw new ConfigError(`DATABASE_URL must start with mysql://, postgres://, postgresql:// or pglite: (got "${maskDatabaseUrl(url)}")`)
  }
  if (!URL.canParse(url)) {
    throw new ConfigError(`DATABASE_URL is not a valid URL ("${maskDatabaseUrl(url)}"): ${ENCODE_HINT}`)
  }
  return { engine, url }
}

/**
 * `url` with its password replaced by `***`, for logs and error messages. A URL that parses is masked through the
 * parser's own fields, so what is hidden is exactly what a driver would send as the password. One that does not parse
 * (or has an `@` after the host, where an unencoded password character ended the host early) is masked from `//` to
 * its last `@`: more than the password, never less.
 * @example maskDatabaseUrl('mysql://root:Pa%40ss@db:3306/wa') // 'mysql://root:***@db:3306/wa'
 */
export function maskDatabaseUrl(url: string): string {
  const start = url.indexOf('//')
  const lastAt = url.lastIndexOf('@')
  const maskAll = () => (start >= 0 && lastAt > start ? `${url.slice(0, start + 2)}***${url.slice(lastAt)}` : url)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return maskAll()
  }
  if (`${parsed.pathname}${parsed.search}${parsed.hash}`.includes('@')) return maskAll()
  if (parsed.password) parsed.password = '***'
  return parsed.href
}

/** The URL with its password masked, for logs. */
export function describeDbConfig(config: DbConfig): string {
  return config.engine === 'pglite' ? `pglite:${config.dataDir}` : maskDatabaseUrl(config.url)
}

/**
 * Runs a driver's set-up on `url` so that no error it throws carries the URL: Node's "Invalid URL" error keeps the
 * whole input (password included) in `err.input`, and a crash prints it. Such an error becomes a `ConfigError` naming
 * the masked URL, with no `cause`.
 * @example const pool = withoutUrlInErrors(url, () => mysql.createPool({ uri: url }))
 */
export function withoutUrlInErrors<T>(url: string, open: () => T): T {
  try {
    return open()
  } catch (err) {
    const e = err as { code?: string; input?: unknown; message?: unknown }
    const password = passwordOf(url)
    const carries = (v: unknown) => typeof v === 'string' && ((url !== '' && v.includes(url)) || (password !== '' && v.includes(password)))
    if (e?.code === 'ERR_INVALID_URL' || carries(e?.input) || carries(e?.message)) {
      throw new ConfigError(`DATABASE_URL is not a valid URL ("${maskDatabaseUrl(url)}"): ${ENCODE_HINT}`)
    }
    throw err
  }
}

/** The password as written in the URL (between the user's `:` and the last `@`), or '' when there is none. */
function passwordOf(url: string): string {
  const start = url.indexOf('//')
  const lastAt = url.lastIndexOf('@')
  if (start < 0 || lastAt <= start) return ''
  const userinfo = url.slice(start + 2, lastAt)
  const colon = userinfo.indexOf(':')
  return colon < 0 ? '' : userinfo.slice(colon + 1)
}
