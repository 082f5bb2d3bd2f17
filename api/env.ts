import type { Db } from '../db/driver.js'
import type { ApiConfig } from './config.js'

type LogFn = (objOrMsg: unknown, msg?: string, ...args: unknown[]) => void

/** What the app needs from a logger; pino satisfies it. Never log API keys or message bodies at info. */
export interface Logger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  child(bindings: Record<string, unknown>): Logger
  /** pino's: lets a per-request debug line skip building its fields when debug is off. */
  isLevelEnabled?(level: 'debug' | 'info' | 'warn' | 'error'): boolean
}

/** A logger that drops everything (tests, scripts). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger
  },
}

/** Hono environment of the API: per-request variables set by middleware. */
export interface AppEnv {
  Variables: {
    db: Db
    config: ApiConfig
    log: Logger
    requestId: string
    /** `api:key-N`: which API_SECRET key the request carried (set by the key check), for audit rows. */
    apiKeyId: string
  }
}
