import { LRUCache } from 'lru-cache'

/**
 * An LRU cache of at most `max` entries whose storage grows with what it holds, for caches made once per session.
 *
 * lru-cache's `max` option allocates its arrays for `max` entries up front (keys, values, links, and with a TTL two
 * more for the times): a 50,000-entry cache with a TTL is about 2 MB while still empty. Made per session, such caches
 * were most of an idle runner's memory (runner/README.md, Memory per session). `maxSize` with a size of 1 per entry
 * bounds the count the same way without that up-front allocation (lru-cache's README, "Storage Bounds Safety").
 * Process-wide caches (one per runner) keep `max`: allocated once, it is the faster option.
 * @example const seen = growingLru<string, true>(10_000) // seen.set(id, true); seen.has(id)
 */
export function growingLru<K extends NonNullable<unknown>, V extends NonNullable<unknown>>(max: number, ttlMs?: number): LRUCache<K, V> {
  return new LRUCache<K, V>({ maxSize: max, sizeCalculation: () => 1, ...(ttlMs ? { ttl: ttlMs } : {}) })
}
