import { isValidTimeZone, parseQuietHours } from '../db/local-time.js'
import { ConfigError, intSetting as int, numberSetting as num, textSetting as text, type Env } from '../db/shared/settings.js'
import type { LimitDefaults } from '../db/lifecycle/limit-plan.js'
import type { PresenceSetting } from '../db/types.js'

/**
 * Runner configuration: one pure parser over an environment record (the entries, runner/main.ts and
 * start.ts, read `process.env` and hand it down). Every value is validated here, so a bad setting
 * stops the process at startup with a message that names the variable, never on the first send.
 */

export type OptInMode = 'open' | 'confirm'

export interface RunnerConfig {
  /** Random gap between two sends of one session, in ms (db/README.md, Claim and throttle). */
  throttleMinMs: number
  throttleMaxMs: number
  /** Sessions one runner holds at most. */
  capacity: number
  /** Attempts before a transiently failing message becomes `failed`. */
  maxAttempts: number
  leaseTtlSeconds: number
  leaseRenewSeconds: number
  leaseFenceMarginSeconds: number
  optInMode: OptInMode
  stopConfirmation: string
  startConfirmation: string
  consentRequest: string
  pauseOn463Hours: number
  /** How often the runner looks for due messages, new sessions and commands (ms; ≤ 2000 by contract). */
  pollMs: number
  /** Backoff ceiling between reconnects (ms). */
  reconnectMaxMs: number
  /** A connection must stay open this long before the reconnect backoff resets (ms). */
  stableAfterMs: number
  /** Print QR codes to the terminal (stdout is a TTY, or `PRINT_QR=1`). */
  printQr: boolean
  /** Optional private port for /healthz and /metrics (runner/metrics.ts serves them). */
  metricsPort: number | null
  /**
   * Default sending limits of every session (a session's own settings win): DAILY_CAP, WARMUP_START,
   * WARMUP_DAYS, FIRST_CONTACT_DAILY_CAP, CIRCUIT_BREAKER_FAILURES, CIRCUIT_BREAKER_PAUSE_MINUTES, QUIET_HOURS,
   * QUIET_HOURS_TZ. Caps and the breaker are off (0) unless set.
   */
  limits: LimitDefaults
  /**
   * `PRESENCE` (on | off, default on): show "typing…" / "recording…" before each text / voice note (runner/README.md,
   * Typing before each send). The default of every session; a session's own `presence` wins.
   */
  presence: PresenceSetting
  /**
   * `INBOUND_MEDIA_MAX_BYTES` (default 16 MB, at most 100 MB; 0 = never download): the largest received file the
   * runner downloads and stores; a larger one is stored without its bytes (runner/README.md, Inbound media).
   */
  inboundMediaMaxBytes: number
  /**
   * `RUNNER_DB_POOL_SIZE` (default 10): database connections this runner opens at most. Many runners on one server
   * share its `max_connections` (db/README.md, How many sessions).
   */
  dbPoolSize: number
}

export const DEFAULT_STOP_CONFIRMATION =
  'You have been unsubscribed and will not receive further messages. Reply YES to subscribe again.'
export const DEFAULT_START_CONFIRMATION = 'You are subscribed. Reply STOP at any time to unsubscribe.'
export const DEFAULT_CONSENT_REQUEST =
  'We would like to send you notifications on WhatsApp. Reply YES to receive them, or STOP to opt out.'

/**
 * Parses and checks the runner's settings.
 * @example const config = parseRunnerConfig(process.env, { stdoutIsTty: process.stdout.isTTY })
 */
export function parseRunnerConfig(env: Env, options: { stdoutIsTty?: boolean } = {}): RunnerConfig {
  const throttleMinMs = int(env, 'THROTTLE_MIN_MS', 8000, 0)
  const throttleMaxMs = int(env, 'THROTTLE_MAX_MS', 22_000, 0)
  if (throttleMaxMs < throttleMinMs) {
    throw new ConfigError(`THROTTLE_MAX_MS (${throttleMaxMs}) must not be below THROTTLE_MIN_MS (${throttleMinMs})`)
  }
  const leaseTtlSeconds = num(env, 'LEASE_TTL_SECONDS', 30, 1, 3600)
  const leaseRenewSeconds = num(env, 'LEASE_RENEW_SECONDS', 10, 0.1, 3600)
  const leaseFenceMarginSeconds = num(env, 'LEASE_FENCE_MARGIN_SECONDS', 5, 0, 3600)
  if (leaseRenewSeconds + leaseFenceMarginSeconds >= leaseTtlSeconds) {
    throw new ConfigError(
      `LEASE_RENEW_SECONDS (${leaseRenewSeconds}) + LEASE_FENCE_MARGIN_SECONDS (${leaseFenceMarginSeconds}) must be ` +
        `below LEASE_TTL_SECONDS (${leaseTtlSeconds}), or every lease would fence itself before its renewal`,
    )
  }
  const mode = (env.OPT_IN_MODE?.trim() || 'open').toLowerCase()
  if (mode !== 'open' && mode !== 'confirm') {
    throw new ConfigError(`OPT_IN_MODE must be "open" or "confirm" (got "${env.OPT_IN_MODE}")`)
  }
  const presence = (env.PRESENCE?.trim() || 'on').toLowerCase()
  if (presence !== 'on' && presence !== 'off') {
    throw new ConfigError(`PRESENCE must be "on" or "off" (got "${env.PRESENCE}")`)
  }
  const metricsRaw = env.RUNNER_METRICS_PORT?.trim()
  const quietHours = env.QUIET_HOURS?.trim() || 'off'
  try {
    parseQuietHours(quietHours)
  } catch (err) {
    throw new ConfigError(`QUIET_HOURS: ${(err as Error).message}`)
  }
  const timeZone = env.QUIET_HOURS_TZ?.trim() || 'UTC'
  if (!isValidTimeZone(timeZone)) {
    throw new ConfigError(`QUIET_HOURS_TZ must be an IANA time zone such as "Asia/Beirut" or "UTC" (got "${timeZone}")`)
  }
  const limits: LimitDefaults = {
    dailyCap: int(env, 'DAILY_CAP', 0, 0, 100_000),
    warmupStart: int(env, 'WARMUP_START', 20, 0, 100_000),
    warmupDays: int(env, 'WARMUP_DAYS', 14, 0, 365),
    firstContactCap: int(env, 'FIRST_CONTACT_DAILY_CAP', 0, 0, 100_000),
    breakerFailures: int(env, 'CIRCUIT_BREAKER_FAILURES', 0, 0, 1000),
    breakerPauseMinutes: int(env, 'CIRCUIT_BREAKER_PAUSE_MINUTES', 30, 1, 7 * 24 * 60),
    quietHours,
    timeZone,
  }
  return {
    throttleMinMs,
    throttleMaxMs,
    capacity: int(env, 'RUNNER_CAPACITY', 200, 1, 100_000),
    maxAttempts: int(env, 'MAX_ATTEMPTS', 5, 1, 100),
    leaseTtlSeconds,
    leaseRenewSeconds,
    leaseFenceMarginSeconds,
    optInMode: mode,
    stopConfirmation: text(env, 'STOP_CONFIRMATION', DEFAULT_STOP_CONFIRMATION),
    startConfirmation: text(env, 'START_CONFIRMATION', DEFAULT_START_CONFIRMATION),
    consentRequest: text(env, 'CONSENT_REQUEST', DEFAULT_CONSENT_REQUEST),
    pauseOn463Hours: num(env, 'PAUSE_ON_463_HOURS', 24, 0, 24 * 365),
    pollMs: int(env, 'RUNNER_POLL_MS', 1000, 50, 2000),
    reconnectMaxMs: int(env, 'RECONNECT_MAX_MS', 60_000, 100, 60_000),
    stableAfterMs: int(env, 'RECONNECT_STABLE_MS', 600_000, 100, 3_600_000),
    printQr: env.PRINT_QR === '1' || (env.PRINT_QR !== '0' && Boolean(options.stdoutIsTty)),
    metricsPort: metricsRaw ? int(env, 'RUNNER_METRICS_PORT', 0, 1, 65535) : null,
    limits,
    presence,
    inboundMediaMaxBytes: int(env, 'INBOUND_MEDIA_MAX_BYTES', 16 * 1024 * 1024, 0, 100 * 1024 * 1024),
    dbPoolSize: int(env, 'RUNNER_DB_POOL_SIZE', 10, 1, 100),
  }
}

/** The defaults, with overrides (tests and in-process embedding). */
export function runnerConfig(overrides: Partial<RunnerConfig> = {}): RunnerConfig {
  return { ...parseRunnerConfig({}), ...overrides }
}
