/**
 * Slows down failed dashboard sign-ins, in memory (per API instance; on Workers, per isolate).
 *
 * - Every failure is answered only after `failureDelayMs` (a timer, never a busy wait).
 * - Per client address, after `freeFailures` failures inside `windowMs` the address must wait
 *   `failureDelayMs · 2^(n − freeFailures − 1)` (capped at `maxLockMs`) after that failure's answer
 *   before its next attempt is even checked; attempts during the wait get 429 with Retry-After.
 * - Globally, more than `globalFailuresPerMinute` failures in a minute add the same per-failure wait
 *   to every sign-in attempt, so spoofed X-Forwarded-For addresses gain an attacker little.
 */

export interface SignInThrottleOptions {
  failureDelayMs?: number
  freeFailures?: number
  maxLockMs?: number
  windowMs?: number
  globalFailuresPerMinute?: number
  /** Bound on remembered addresses; the oldest are forgotten first. */
  maxEntries?: number
  clock?: () => number
}

export interface SignInThrottle {
  /** How long `ip` must still wait before an attempt is checked (0 = go ahead). */
  lockedFor(ip: string): number
  /** Extra wait every attempt pays while the global failure rate is high. */
  globalDelay(): number
  /** Records a failure and returns how long to hold the answer. */
  recordFailure(ip: string): number
  recordSuccess(ip: string): void
  /** Waits without blocking the event loop. */
  sleep(ms: number): Promise<void>
}

interface Entry {
  failures: number
  firstAt: number
  lockedUntil: number
}

/** @example const t = createSignInThrottle(); if (t.lockedFor(ip) > 0) return c.text('slow down', 429) */
export function createSignInThrottle({
  failureDelayMs = 1_000,
  freeFailures = 3,
  maxLockMs = 5 * 60_000,
  windowMs = 15 * 60_000,
  globalFailuresPerMinute = 60,
  maxEntries = 10_000,
  clock = Date.now,
}: SignInThrottleOptions = {}): SignInThrottle {
  if (failureDelayMs < 0 || freeFailures < 0 || maxLockMs < 0 || windowMs <= 0 || maxEntries <= 0) {
    throw new Error('dashboard sign-in throttle: invalid options')
  }
  const entries = new Map<string, Entry>()
  let globalWindowStart = 0
  let globalFailures = 0

  const live = (ip: string): Entry | undefined => {
    const e = entries.get(ip)
    if (e && clock() - e.firstAt > windowMs && e.lockedUntil <= clock()) {
      entries.delete(ip)
      return undefined
    }
    return e
  }

  return {
    lockedFor(ip) {
      const e = live(ip)
      return e ? Math.max(0, e.lockedUntil - clock()) : 0
    },
    globalDelay() {
      if (clock() - globalWindowStart > 60_000) return 0
      return globalFailures > globalFailuresPerMinute ? failureDelayMs : 0
    },
    recordFailure(ip) {
      const now = clock()
      if (now - globalWindowStart > 60_000) {
        globalWindowStart = now
        globalFailures = 0
      }
      globalFailures++
      let e = live(ip)
      if (!e) {
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!)
        e = { failures: 0, firstAt: now, lockedUntil: 0 }
        entries.set(ip, e)
      }
      e.failures++
      if (e.failures > freeFailures) {
        const lock = Math.min(maxLockMs, failureDelayMs * 2 ** Math.min(30, e.failures - freeFailures - 1))
        // Counted from when the (delayed) answer goes out, so the wait is felt by the next attempt.
        e.lockedUntil = now + failureDelayMs + lock
      }
      return failureDelayMs
    },
    recordSuccess(ip) {
      entries.delete(ip)
    },
    sleep(ms) {
      return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve()
    },
  }
}

/**
 * The client address as the edge or reverse proxy reports it. Behind nginx set `X-Real-IP`; on
 * Workers `CF-Connecting-IP` is authoritative. Without either, all clients share one bucket, which
 * errs on the side of slowing down.
 */
export function clientAddress(headers: Headers): string {
  return (
    headers.get('cf-connecting-ip') ??
    headers.get('x-real-ip') ??
    headers.get('x-forwarded-for')?.split(',')[0]?.trim() ??
    'unknown'
  )
}
