// Workers bundle stand-in for mysql2's compressed protocol (`lib/compressed_protocol.js`, which brings node:zlib
// streams along). mysql2 loads it only for `compress: true`, which the gateway never sets (db/drivers/mysql.ts):
// Hyperdrive sits next to the worker, so compressing the wire buys nothing. See infra/wrangler.toml [alias].
'use strict'

module.exports = {
  enableCompression() {
    throw new Error('mysql2 compression (compress: true) is not part of the Workers build')
  },
}
