/**
 * The webhook deliverer: a runner service (`{ start, stop, runOnce }`) that claims due deliveries
 * (db/queries/webhook-claims.ts, `FOR UPDATE SKIP LOCKED` plus a claim expiry) and POSTs each event, signed, to its
 * endpoint. Several runners share the work; a runner killed mid-call leaves its claims to expire and be taken again
 * (at-least-once: receivers de-duplicate on `X-Event-Id`).
 *
 * The request:
 * ```
 * POST <url>
 * Content-Type: application/json
 * User-Agent: WA-Gateway-Webhooks/1
 * X-Webhook-Id: 3            X-Event-Id: <uuid, the same on every attempt>
 * X-Event-Type: message.sent X-Delivery-Attempt: 1
 * X-Timestamp: 1747000000    (unix seconds of this attempt)
 * X-Signature: sha256=<hex HMAC-SHA256(secret, `${X-Timestamp}.${body}`)>
 *
 * {"id":"<uuid>","type":"message.sent","created_at":"2025-05-11 14:00:00","data":{…}}
 * ```
 * 2xx = delivered. Anything else (another status, a redirect, no answer within the timeout, a refused address) is a
 * failure: retried after `base · 2^(n−1)` (capped, ±20 % jitter) until the retry window since the first attempt is
 * over, then dead with the last error. Redirects are never followed.
 */
import { createHmac, randomBytes } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { Logger } from 'pino'
import type { Db } from '../../db/driver.js'
import type { ClaimedDelivery } from '../../db/queries/webhook-claims.js'
import * as webhookClaims from '../../db/queries/webhook-claims.js'
import { addressRefusal, checkWebhookUrl } from '../../db/shared/url-guard.js'
import type { WebhookConfig } from './config.js'
import { AddressRefusedError, guardedLookup, postOnce, systemResolver, type PostResult, type Resolver } from './http.js'

export type DeliveryOutcome = 'delivered' | 'retry' | 'dead' | 'lost'

export interface WebhookDelivererOptions {
  db: Db
  config: WebhookConfig
  log: Logger
  /** Names the claims (`locked_by`): the runner id. */
  owner: string
  /** Called once per attempt (metrics). `lost`: the claim expired meanwhile and another runner took the row. */
  onOutcome?: (outcome: DeliveryOutcome, seconds: number) => void
  /** DNS (tests resolve made-up names). */
  resolver?: Resolver
  random?: () => number
  /** Unix seconds for `X-Timestamp` (tests). */
  now?: () => number
}

export interface WebhookDeliverer {
  /** Runs claim → call → record until stopped; sleeps `pollMs` when nothing is due. */
  start(): void
  /** Claims what is due (up to the concurrency) and delivers it; resolves with how many were attempted. */
  runOnce(): Promise<number>
  /** Stops claiming, aborts calls in flight (they are retried) and waits for them to be recorded. */
  stop(): Promise<void>
}

/** `sha256=<hex>` over `${timestamp}.${body}`: what receivers recompute (README, "Webhooks"). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/** The JSON body of a delivery: the same bytes on every attempt. */
export function webhookBody(d: Pick<ClaimedDelivery, 'eventId' | 'type' | 'createdAt' | 'payload'>): string {
  let data: unknown
  try {
    data = JSON.parse(d.payload)
  } catch {
    data = d.payload
  }
  return JSON.stringify({ id: d.eventId, type: d.type, created_at: d.createdAt.toISOString().slice(0, 19).replace('T', ' '), data })
}

/** Delay before retry `attempts` (1 = after the first failure), ±20 % jitter. */
export function webhookBackoffMs(attempts: number, config: Pick<WebhookConfig, 'backoffBaseMs' | 'backoffMaxMs'>, random: () => number = Math.random): number {
  const base = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** Math.max(0, Math.min(30, attempts - 1)))
  return Math.round(base * (0.8 + 0.4 * random()))
}

/**
 * `last_error` for a non-2xx answer. Only a public receiver's words are kept (the start of its body, a redirect's
 * target): a private one is reached only through the allow-list, and echoing what it answered would let whoever can
 * create webhooks read an internal service's pages through the deliveries API. Its status line is all that is kept.
 */
export function failedAnswerError(res: Pick<PostResult, 'status' | 'statusText' | 'snippet' | 'location' | 'remoteAddress'>): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is stripped from the receiver's text
  const statusLine = `HTTP ${res.status}${res.statusText ? ` ${res.statusText.replace(/[\u0000-\u001f\u007f]/g, '')}` : ''}`
  const publicReceiver = res.remoteAddress !== null && addressRefusal(res.remoteAddress) === null
  if (res.status >= 300 && res.status < 400) {
    const target = publicReceiver && res.location ? ` (to ${res.location.slice(0, 200)})` : ''
    return `${statusLine}: redirects are not followed${target}; configure the final URL`
  }
  const words = publicReceiver ? res.snippet.replace(/\s+/g, ' ').trim().slice(0, 300) : ''
  return words ? `${statusLine}: ${words}` : statusLine
}

export function createWebhookDeliverer(options: WebhookDelivererOptions): WebhookDeliverer {
  const { db, config, log } = options
  const random = options.random ?? Math.random
  const now = options.now ?? (() => Math.floor(Date.now() / 1000))
  const resolver = options.resolver ?? systemResolver
  // One claim token per process start: a restarted runner with the same id must not complete an old claim.
  const owner = `${options.owner}:${randomBytes(4).toString('hex')}`.slice(0, 64)
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) }
  const abort = new AbortController()
  const inFlight = new Set<Promise<void>>()
  let stopped = false
  let loop: Promise<void> | null = null
  let wake: (() => void) | null = null

  async function record(d: ClaimedDelivery, started: number, result: { ok: true; status: number } | { ok: false; status: number | null; error: string; permanent?: boolean }) {
    const seconds = (performance.now() - started) / 1000
    const claim = { id: d.id, owner, attempts: d.attempts }
    let outcome: DeliveryOutcome
    if (result.ok) {
      outcome = (await webhookClaims.markDelivered(db, { ...claim, httpStatus: result.status })) ? 'delivered' : 'lost'
    } else {
      const status = await webhookClaims.markFailed(db, {
        ...claim,
        httpStatus: result.status,
        error: result.error,
        backoffMs: webhookBackoffMs(d.attempts, config, random),
        windowMs: config.retryWindowMs,
        permanent: result.permanent ?? false,
      })
      outcome = status === null ? 'lost' : status === 'dead' ? 'dead' : 'retry'
      const level = outcome === 'dead' ? 'warn' : 'info'
      log[level]({ delivery: d.id, webhook: d.webhookId, event: d.eventId, attempt: d.attempts, error: result.error, outcome }, 'webhook call failed')
    }
    options.onOutcome?.(outcome, seconds)
  }

  async function deliver(d: ClaimedDelivery): Promise<void> {
    const started = performance.now()
    if (d.url === null || d.secret === null) {
      return record(d, started, { ok: false, status: null, error: 'the webhook was deleted', permanent: true })
    }
    const check = checkWebhookUrl(d.url, config.urlPolicy)
    if (!check.ok) return record(d, started, { ok: false, status: null, error: `refused: the URL ${check.reason}`, permanent: true })
    const body = webhookBody(d)
    const timestamp = now()
    const headers = {
      'Content-Type': 'application/json',
      'User-Agent': 'WA-Gateway-Webhooks/1',
      'X-Webhook-Id': String(d.webhookId),
      'X-Event-Id': d.eventId,
      'X-Event-Type': d.type,
      'X-Delivery-Attempt': String(d.attempts),
      'X-Timestamp': String(timestamp),
      'X-Signature': signWebhook(d.secret, timestamp, body),
    }
    const checkAddresses = !(check.allowListed || config.urlPolicy.allowPrivate)
    try {
      const res = await postOnce(check.url, body, {
        headers, timeoutMs: config.timeoutMs, lookup: guardedLookup(resolver, checkAddresses), agents, signal: abort.signal,
      })
      if (res.status >= 200 && res.status < 300) return await record(d, started, { ok: true, status: res.status })
      return await record(d, started, { ok: false, status: res.status, error: failedAnswerError(res) })
    } catch (err) {
      const e = err as Error & { code?: string }
      if (e instanceof AddressRefusedError || e.cause instanceof AddressRefusedError) {
        return record(d, started, { ok: false, status: null, error: `refused: ${(e.cause as Error | undefined)?.message ?? e.message}`, permanent: true })
      }
      const why = abort.signal.aborted ? 'interrupted: the runner stopped during the call' : `${e.code ? `${e.code}: ` : ''}${e.message}`
      return record(d, started, { ok: false, status: null, error: why })
    }
  }

  /** Claims what fits in the free slots and starts the calls; returns them. */
  async function claimAndStart(): Promise<Promise<void>[]> {
    const room = config.concurrency - inFlight.size
    if (stopped || room <= 0) return []
    const claimed = await webhookClaims.claimDeliveries(db, { owner, limit: room, lockMs: config.lockMs })
    return claimed.map((d) => {
      const p: Promise<void> = deliver(d)
        .catch((err) => log.error({ err, delivery: d.id }, 'recording a webhook outcome failed; the claim expires and it is retried'))
        .finally(() => {
          inFlight.delete(p)
          wake?.()
        })
      inFlight.add(p)
      return p
    })
  }

  async function runOnce(): Promise<number> {
    const tasks = await claimAndStart()
    await Promise.all(tasks)
    return tasks.length
  }

  // A slow receiver holds one slot for at most the timeout; the others keep claiming.
  async function run(): Promise<void> {
    while (!stopped) {
      let started = 0
      try {
        started = (await claimAndStart()).length
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'claiming webhook deliveries failed; retrying')
      }
      if (stopped) break
      if (started === 0 || inFlight.size >= config.concurrency) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, config.pollMs)
          wake = () => {
            clearTimeout(t)
            resolve()
          }
        })
        wake = null
      }
    }
  }

  return {
    start() {
      if (loop || !config.enabled) return
      loop = run()
    },
    runOnce,
    async stop() {
      stopped = true
      wake?.()
      abort.abort()
      await loop
      await Promise.all([...inFlight])
      agents.http.destroy()
      agents.https.destroy()
    },
  }
}
