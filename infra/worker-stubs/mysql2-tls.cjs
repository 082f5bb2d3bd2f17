// Workers bundle stand-in for mysql2's `lib/tls_session_cache.js` (TLS session resumption), which mysql2 reaches only
// when it upgrades a connection to TLS (the `ssl` option). The worker gives mysql2 no `ssl` (api/worker.ts: it reaches
// the database through Hyperdrive, or a DATABASE_URL read into host, port, user, password and database), so a TLS
// upgrade fails loudly here. See infra/wrangler.toml [alias].
'use strict'

module.exports = function tlsUnavailable() {
  throw new Error('mysql2 over TLS (the ssl option) is not part of the Workers build: the worker reaches MySQL through Hyperdrive')
}
