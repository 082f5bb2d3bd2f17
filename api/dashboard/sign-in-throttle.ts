/**
 * Slows down failed dashboard sign-ins, in memory (per API process; on Workers, per isolate).
 *
 * - Every attempt reserves its place before anything slow happens (`attempt`), synchronously: it counts as a
 *   failure until it succeeds, so concurrent guesses from one address cannot all slip past the lock while the
 *   first ones are still being checked. A success clears the address.
 * - Per client address, after `freeFailures` failures inside `windowMs` the address must wait
 *   `failureDelayMs · 2^(n − freeFailures − 1)` (capped at `maxLockMs`) after that failure's answer before its
 *   next attempt is even checked; attempts during the wait are refused (the caller answers 429 with Retry-After).
 * - Every failure is answered only after `failureDelayMs` (a timer, never a busy wait).
 * - Globally, more than `globalFailuresPerMinute` failures in a minute add the same per-failure wait to every
 *   sign-in attempt, so an attacker spread over many addresses gains little.
 * - At most `maxEntries` addresses are remembered (least recently used forgotten first). Keys are normalised
 *   addresses (client-address.ts), so memory stays bounded whatever the requests carry.
 */

export interface SignInThrottleOptions {
  failureDelayMs?: number
  freeFailures?: number
  maxLockMs?: number
  windowMs?: number
  globalFailuresPerMinute?: number
  /** Bound on remembered addresses; the least recently used are forgotten first. */
  maxEntries?: number
  clock?: () => number
}

/** One reserved attempt: report how it went. */
export interface SignInAttempt {
  /** The key was wrong: returns how long to hold the answer. */
  failed(): number
  /** The key was right: the address starts afresh. */
  succeeded(): void
}

export interface SignInThrottle {
  /**
   * Reserves an attempt for `address`, or says how long it must still wait (ms) before one is checked.
   * Synchronous on purpose: check and record are one step.
   */
  attempt(address: string): SignInAttempt | { retryAfterMs: number }
  /** How long `address` must still wait before an attempt is checked (0 = go ahead). */
  lockedFor(address: string): number
  /** Extra wait every attempt pays while the global failure rate is high. */
  globalDelay(): number
  /** Addresses remembered now. */
  readonly size: number
  /** Waits without blocking the event loop. */
  sleep(ms: number): Promise<void>
}

interface Entry {
  failures: number
  firstAt: number
  lockedUntil: number
}

/** @example const t = createSignInThrottle(); const a = t.attempt(ip); if ('retryAfterMs' in a) return c.text('slow down', 429) */
export function createSignInThrottle({
  failureDelayMs = 1_000,
  freeFailures = 3,
  maxLockMs = 5 * 60_000,
  windowMs = 15 * 60_000,
  globalFailuresPerMinute = 60,
  maxEntries = 10_000,
  clock = Date.now,
}: SignInThrottleOptions = {}): SignInThrottle {
  if (failureDelayMs < 0 || freeFailures < 0 || maxLockMs < 0 || windowMs <= 0 || !(maxEntries > 0)) {
    throw new Error('dashboard sign-in throttle: invalid options')
  }
  const entries = boundedMap<Entry>(maxEntries)
  let globalWindowStart = 0
  let globalFailures = 0

  const live = (address: string): Entry | undefined => {
    const e = entries.get(address)
    if (e && clock() - e.firstAt > windowMs && e.lockedUntil <= clock()) {
      entries.delete(address)
      return undefined
    }
    return e
  }
  const lockedFor = (address: string) => {
    const e = live(address)
    return e ? Math.max(0, e.lockedUntil - clock()) : 0
  }

  return {
    attempt(address) {
      const wait = lockedFor(address)
      if (wait > 0) return { retryAfterMs: wait }
      const now = clock()
      let e = live(address)
      if (!e) {
        e = { failures: 0, firstAt: now, lockedUntil: 0 }
        entries.set(address, e)
      }
      e.failures++
      if (e.failures > freeFailures) {
        const lock = Math.min(maxLockMs, failureDelayMs * 2 ** Math.min(30, e.failures - freeFailures - 1))
        // Counted from when the (delayed) answer goes out, so the wait is felt by the next attempt.
        e.lockedUntil = now + failureDelayMs + lock
      }
      return {
        failed() {
          const t = clock()
          if (t - globalWindowStart > 60_000) {
            globalWindowStart = t
            globalFailures = 0
          }
          globalFailures++
          return failureDelayMs
        },
        succeeded() {
          entries.delete(address)
        },
      }
    },
    lockedFor,
    globalDelay() {
      if (clock() - globalWindowStart > 60_000) return 0
      return globalFailures > globalFailuresPerMinute ? failureDelayMs : 0
    },
    get size() {
      return entries.size
    },
    sleep(ms) {
      return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve()
    },
  }
}

/**
 * A map that forgets its least recently used entry past `max`. A Map keeps insertion order, so re-inserting on each
 * read is all the bookkeeping an LRU needs. Hand-written because lru-cache alone took 18.6 KiB of the Workers
 * bundle's 150 KiB budget for the four operations used here.
 */
function boundedMap<V>(max: number) {
  const map = new Map<string, V>()
  return {
    get(key: string): V | undefined {
      const value = map.get(key)
      if (value !== undefined) {
        map.delete(key)
        map.set(key, value)
      }
      return value
    },
    set(key: string, value: V): void {
      map.delete(key)
      map.set(key, value)
      if (map.size > max) map.delete(map.keys().next().value!)
    },
    delete(key: string): void {
      map.delete(key)
    },
    get size(): number {
      return map.size
    },
  }
}
