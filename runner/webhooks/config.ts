/**
 * Webhook delivery settings of the runner (`WEBHOOK_*`), parsed from an environment record like the rest of the
 * runner's configuration. The URL policy (`WEBHOOK_ALLOW_HOSTS`, `WEBHOOK_ALLOW_PRIVATE`) is shared with the API,
 * which checks URLs when webhooks are created; the runner checks them again, with DNS, before every call.
 */
import { parseWebhookUrlPolicy, type WebhookUrlPolicy } from '../../db/shared/url-guard.js'
import { ConfigError, numberSetting as num, switchSetting, type Env } from '../../db/shared/settings.js'

export interface WebhookConfig {
  /** `WEBHOOKS`: off = this runner delivers none (others still do; events are written either way). */
  enabled: boolean
  /** Whole call (connect, send, answer) must finish within this (ms). */
  timeoutMs: number
  /** A delivery keeps being retried this long after its first attempt, then it is dead (ms). */
  retryWindowMs: number
  /** First retry after this (ms); doubles per attempt up to `backoffMaxMs`, ±20 % jitter. */
  backoffBaseMs: number
  backoffMaxMs: number
  /** A claimed delivery whose runner died is claimed again after this (ms); must exceed the timeout. */
  lockMs: number
  /** Calls in flight at once per runner. */
  concurrency: number
  /** How often an idle runner looks for due deliveries (ms). */
  pollMs: number
  urlPolicy: WebhookUrlPolicy
}


/**
 * Parses and checks the webhook settings.
 * @example const webhooks = parseWebhookConfig(process.env)
 */
export function parseWebhookConfig(env: Env): WebhookConfig {
  const timeoutMs = num(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000)
  const lockMs = num(env, 'WEBHOOK_LOCK_SECONDS', 60, 1, 3600) * 1000
  if (lockMs <= timeoutMs) {
    throw new ConfigError(`WEBHOOK_LOCK_SECONDS (${lockMs / 1000}) must be longer than WEBHOOK_TIMEOUT_MS (${timeoutMs} ms), or a slow call would be claimed twice`)
  }
  const backoffBaseMs = num(env, 'WEBHOOK_BACKOFF_BASE_MS', 10_000, 10, 3_600_000)
  const backoffMaxMs = num(env, 'WEBHOOK_BACKOFF_MAX_MS', 3_600_000, 10, 86_400_000)
  if (backoffMaxMs < backoffBaseMs) throw new ConfigError('WEBHOOK_BACKOFF_MAX_MS must not be below WEBHOOK_BACKOFF_BASE_MS')
  let urlPolicy: WebhookUrlPolicy
  try {
    urlPolicy = parseWebhookUrlPolicy(env.WEBHOOK_ALLOW_HOSTS, env.WEBHOOK_ALLOW_PRIVATE)
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
  return {
    enabled: switchSetting(env, 'WEBHOOKS', true),
    timeoutMs,
    retryWindowMs: Math.round(num(env, 'WEBHOOK_RETRY_HOURS', 24, 0.0001, 24 * 30) * 3_600_000),
    backoffBaseMs,
    backoffMaxMs,
    lockMs,
    concurrency: Math.floor(num(env, 'WEBHOOK_CONCURRENCY', 8, 1, 256)),
    pollMs: num(env, 'WEBHOOK_POLL_MS', 1000, 10, 60_000),
    urlPolicy,
  }
}

/** The defaults, with overrides (tests). */
export function webhookConfig(overrides: Partial<WebhookConfig> = {}): WebhookConfig {
  return { ...parseWebhookConfig({}), ...overrides }
}
