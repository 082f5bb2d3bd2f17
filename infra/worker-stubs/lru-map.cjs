// Workers bundle stand-in for `lru.min` (~2 KiB minified: a least-recently-used cache over parallel arrays, with
// resizing and iterators), whose caches mysql2 keeps of text decoders (by charset, one or two here: utf8mb4) and of
// prepared statements (none: the worker has no binary protocol). A Map kept in use order does the same for the calls
// mysql2 makes (get, set, has, delete, clear, size), onEviction included; tests/edge/worker-stubs.test.ts checks them
// against lru.min. See infra/wrangler.toml [alias].
'use strict'

exports.createLRU = ({ max, onEviction }) => {
  if (!(Number.isInteger(max) && max > 0)) throw new TypeError('`max` must be a positive integer')
  // Least recently used first.
  const entries = new Map()
  const evict = (key) => {
    onEviction?.(key, entries.get(key))
    entries.delete(key)
  }
  return {
    set(key, value) {
      if (key === undefined) return
      if (entries.has(key)) evict(key)
      else if (entries.size === max) evict(entries.keys().next().value)
      entries.set(key, value)
    },
    get(key) {
      if (!entries.has(key)) return undefined
      const value = entries.get(key)
      entries.delete(key)
      entries.set(key, value)
      return value
    },
    has: (key) => entries.has(key),
    delete(key) {
      if (!entries.has(key)) return false
      evict(key)
      return true
    },
    clear() {
      for (const key of [...entries.keys()]) onEviction?.(key, entries.get(key))
      entries.clear()
    },
    get size() {
      return entries.size
    },
  }
}
