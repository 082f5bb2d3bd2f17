import { describe, expect, it } from 'vitest'
import { growingLru } from '../../runner/whatsapp/growing-lru.js'

describe('growingLru (per-session caches: runner/README.md, Memory per session)', () => {
  it('holds at most max entries and drops the least recently used', () => {
    const cache = growingLru<string, number>(3)
    cache.set('a', 1).set('b', 2).set('c', 3)
    expect(cache.get('a')).toBe(1) // a is now the most recent
    cache.set('d', 4)
    expect(cache.size).toBe(3)
    expect(cache.has('b')).toBe(false)
    expect([...cache.keys()].sort()).toEqual(['a', 'c', 'd'])
  })

  it('forgets an entry after its TTL, false values included', async () => {
    const cache = growingLru<string, boolean>(10, 40)
    cache.set('447700900001', false)
    expect(cache.get('447700900001')).toBe(false)
    await new Promise((r) => setTimeout(r, 80))
    expect(cache.has('447700900001')).toBe(false)
  })

  it('allocates nothing up front: 200 empty 50,000-entry caches with a TTL stay under 10 MB of heap', () => {
    // With lru-cache's `max` each of these would allocate ~1.9 MB of arrays at once (about 380 MB for 200).
    const before = process.memoryUsage().heapUsed
    const caches = Array.from({ length: 200 }, () => growingLru<string, boolean>(50_000, 24 * 60 * 60_000))
    const grown = process.memoryUsage().heapUsed - before
    expect(caches).toHaveLength(200)
    expect(grown).toBeLessThan(10 * 2 ** 20)
  })
})
