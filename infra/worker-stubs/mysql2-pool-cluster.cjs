// Workers bundle stand-in for mysql2's PoolCluster modules (`lib/pool_cluster.js`, `lib/create_pool_cluster.js`,
// `lib/promise/pool_cluster.js`), which `mysql2/promise` loads at start-up. A pool cluster spreads queries over
// several servers; the worker opens one connection per request through Hyperdrive and never builds one.
// See infra/wrangler.toml [alias].
'use strict'

// One function serves all three modules: `createPoolCluster(opts)`, `new PoolCluster()` and
// `new PoolNamespace()` all fail loudly. mysql2/promise.js only inspects PoolCluster.prototype at load time.
module.exports = function poolClusterUnavailable() {
  throw new Error('mysql2 PoolCluster is not part of the Workers build (the worker uses one connection per request)')
}
