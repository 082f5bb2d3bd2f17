// Workers bundle stand-in for mysql2's `lib/constants/charsets.js` (~7 KiB minified: the number of every MySQL
// collation by name). mysql2 reads it to turn the `charset` option into the collation number of the handshake and
// to recognise binary columns (63). The gateway connects with utf8mb4_unicode_ci only (db/drivers/mysql.ts), so the
// utf8mb4 collations and BINARY are kept; for any other name mysql2 itself throws "Unknown charset '…'".
// Numbers checked against mysql2's table in tests/edge/worker-stubs.test.ts. See infra/wrangler.toml [alias].
'use strict'

exports.UTF8MB4_GENERAL_CI = 45
exports.UTF8MB4_BIN = 46
exports.BINARY = 63
exports.UTF8MB4_UNICODE_CI = 224
exports.UTF8MB4_0900_AI_CI = 255
exports.UTF8MB4 = exports.UTF8MB4_GENERAL_CI
