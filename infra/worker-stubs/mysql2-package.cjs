// Workers bundle stand-in for mysql2's `package.json` (2.7 KiB of metadata, scripts and dependency lists), of which
// mysql2 reads only `version`, for the connection attributes it sends the server (`_client_version`).
// tests/edge/worker-stubs.test.ts checks it against the installed mysql2. See infra/wrangler.toml [alias].
'use strict'

module.exports = { version: '3.24.6' }
