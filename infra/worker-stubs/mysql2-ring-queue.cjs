// Workers bundle stand-in for mysql2's `lib/ring_queue.js` (a ring buffer after denque, ~3 KiB minified), the queue of
// a connection's commands and of a pool's connections and waiting callers. The worker's pool holds one connection
// (api/worker.ts) and its queues a handful of entries, where an array does the same in a few lines. Only the methods
// mysql2 calls are kept (length, push, shift, pop, get, removeOne); tests/edge/worker-stubs.test.ts checks them
// against ring_queue.js. See infra/wrangler.toml [alias].
'use strict'

module.exports = class Queue extends Array {
  get(index) {
    return index >= 0 ? this[index] : this[this.length + index]
  }

  removeOne(index) {
    // A negative index counts from the back; splice does the same.
    return index === (index | 0) && index < this.length && index >= -this.length ? this.splice(index, 1)[0] : undefined
  }
}
