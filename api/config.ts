/**
 * API configuration, parsed from a plain record (Node's `process.env` or Workers bindings) by
 * `parseApiConfig`. Pure: it reads nothing else, so both entries and the tests share it.
 */
import { ConfigError, intSetting as int } from '../db/shared/settings.js'
import { parseWebhookUrlPolicy, type WebhookUrlPolicy } from '../db/shared/url-guard.js'
import { parseMediaUrlPolicy, type MediaUrlPolicy } from './media-fetch.js'

export interface ApiConfig {
  /** Accepted `X-API-Key` values; several during a rotation (`API_SECRET=new,old`). */
  apiKeys: string[]
  /** `MESSAGE_MAX_CHARS`: longest text message, in Unicode characters (code points). */
  messageMaxChars: number
  /** Longest image caption, in characters (WhatsApp's own limit is about 1024). */
  captionMaxChars: number
  /** `JSON_BODY_LIMIT`: bytes accepted on JSON routes other than send-batch. */
  jsonBodyLimit: number
  /** `BATCH_BODY_LIMIT`: bytes accepted on `POST /api/send-batch`. */
  batchBodyLimit: number
  /** Most items in one `send-batch`. */
  batchMaxItems: number
  /** Largest image file, bytes (the guide's 10 MB). */
  imageMaxBytes: number
  /** Largest image, pixels (width × height, read from the file header). */
  imageMaxPixels: number
  /** `DOCUMENT_MAX_BYTES`: largest document or audio file (default 64 MB). */
  documentMaxBytes: number
  /** `VIDEO_MAX_BYTES`: largest video (default 16 MB, what WhatsApp itself sends as video). */
  videoMaxBytes: number
  /** `MEDIA_ALLOW_HOSTS` / `MEDIA_ALLOW_PRIVATE`: which private hosts media URLs may name. */
  mediaUrlPolicy: MediaUrlPolicy
  /** `MEDIA_RETENTION_DAYS`: an identical upload younger than half of this reuses the stored bytes. */
  mediaRetentionDays: number
  /** `SEND_COALESCE_MS`: how long an idle API waits for company before a single send's INSERT (0 = until the end of the event-loop turn; sends arriving while an INSERT runs always share the next one). */
  coalesceMs: number
  /** `SEND_COALESCE_MAX`: most sends in one multi-row INSERT. */
  coalesceMax: number
  /** `SEND_COALESCE_INFLIGHT`: multi-row INSERTs running at once (1: fewer, larger batches, measured fastest). */
  coalesceInFlight: number
  /** `SESSION_CACHE_MS`: how long this process trusts "session exists and is not being deleted". */
  sessionCacheMs: number
  /** `PAIRING_CODE_WAIT_MS`: how long `POST /api/sessions/:name/pairing-code` waits for a runner's code. */
  pairingCodeWaitMs: number
  /** `NUMBER_CHECK_PER_MINUTE`: checks a session may ask WhatsApp per minute (GET /api/sessions/:name/check/:phone). */
  numberCheckPerMinute: number
  /** `WEBHOOK_ALLOW_HOSTS` / `WEBHOOK_ALLOW_PRIVATE`: which private targets webhook URLs may name. */
  webhookUrlPolicy: WebhookUrlPolicy
  /** `PORT` (Node entry only). */
  port: number
  /** `HOST` (Node entry only); undefined = all interfaces. */
  host: string | undefined
}

const MB = 1024 * 1024

function webhookPolicy(env: Record<string, string | undefined>): WebhookUrlPolicy {
  try {
    return parseWebhookUrlPolicy(env.WEBHOOK_ALLOW_HOSTS, env.WEBHOOK_ALLOW_PRIVATE)
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
}

/** Shortest accepted API key. */
export const MIN_API_KEY_LENGTH = 16

/** Splits `API_SECRET` on commas; blanks are dropped. */
export function parseApiKeys(value: string | undefined): string[] {
  return (value ?? '').split(',').map((k) => k.trim()).filter((k) => k.length > 0)
}

/**
 * Reads the API settings. Throws `ConfigError` with a message meant for the operator when
 * `API_SECRET` is empty or holds a key shorter than 16 characters, or a number is out of range.
 * @example const config = parseApiConfig(process.env)
 */
export function parseApiConfig(env: Record<string, string | undefined>): ApiConfig {
  const apiKeys = parseApiKeys(env.API_SECRET)
  if (apiKeys.length === 0) {
    throw new ConfigError(
      'API_SECRET is empty: set it to a long random string (several comma-separated keys are accepted during a rotation), ' +
        'e.g. API_SECRET=$(openssl rand -hex 24). Clients send it in the X-API-Key header.',
    )
  }
  for (const [i, key] of apiKeys.entries()) {
    if (!/^[\x21-\x7E]+$/.test(key)) {
      throw new ConfigError('API_SECRET keys must be printable ASCII without spaces (HTTP headers cannot carry anything else)')
    }
    // The key is the only thing between the internet and sending WhatsApp messages, and the dashboard's
    // sign-in form accepts it too: a short one is guessed.
    if (key.length < MIN_API_KEY_LENGTH) {
      throw new ConfigError(
        `API_SECRET keys must be at least ${MIN_API_KEY_LENGTH} characters long (key ${i + 1} of ${apiKeys.length} has ${key.length}); ` +
          'generate one with e.g. API_SECRET=$(openssl rand -hex 24)',
      )
    }
  }
  const messageMaxChars = int(env, 'MESSAGE_MAX_CHARS', 4096, 1, 65_536)
  // Worst case per character in JSON: a surrogate pair written as two \uXXXX escapes (12 bytes).
  const jsonFloor = Math.max(64 * 1024, messageMaxChars * 12 + 4096)
  return {
    apiKeys,
    messageMaxChars,
    captionMaxChars: 1024,
    jsonBodyLimit: int(env, 'JSON_BODY_LIMIT', jsonFloor, 1024, 16 * MB),
    batchBodyLimit: int(env, 'BATCH_BODY_LIMIT', 8 * MB, 1024, 64 * MB),
    batchMaxItems: 1000,
    imageMaxBytes: 10 * MB,
    imageMaxPixels: 50_000_000,
    documentMaxBytes: int(env, 'DOCUMENT_MAX_BYTES', 64 * MB, 1024, 100 * MB),
    videoMaxBytes: int(env, 'VIDEO_MAX_BYTES', 16 * MB, 1024, 100 * MB),
    mediaUrlPolicy: parseMediaUrlPolicy(env),
    // Same default as the pruner's (db/maintenance/jobs.ts): the media retention follows RETENTION_DAYS.
    mediaRetentionDays: int(env, 'MEDIA_RETENTION_DAYS', int(env, 'RETENTION_DAYS', 30, 1, 3650), 1, 3650),
    coalesceMs: int(env, 'SEND_COALESCE_MS', 0, 0, 100),
    coalesceMax: int(env, 'SEND_COALESCE_MAX', 256, 1, 1000),
    coalesceInFlight: int(env, 'SEND_COALESCE_INFLIGHT', 1, 1, 64),
    sessionCacheMs: int(env, 'SESSION_CACHE_MS', 1000, 0, 60_000),
    pairingCodeWaitMs: int(env, 'PAIRING_CODE_WAIT_MS', 15_000, 100, 60_000),
    numberCheckPerMinute: int(env, 'NUMBER_CHECK_PER_MINUTE', 10, 1, 1000),
    webhookUrlPolicy: webhookPolicy(env),
    port: int(env, 'PORT', 3000, 0, 65_535),
    host: env.HOST?.trim() || undefined,
  }
}
