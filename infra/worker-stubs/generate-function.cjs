// Workers bundle stand-in for `generate-function` (and the Unicode tables of `is-property` it pulls in, ~13 KiB).
// mysql2 uses it only to compile row parsers with `new Function`, which workerd forbids; the worker opens its
// connections with `disableEval: true` (api/worker.ts), so mysql2 takes its static parsers and never calls this.
// See infra/wrangler.toml [alias].
'use strict'

module.exports = function generateFunction() {
  throw new Error('generate-function is not available in the Workers build: open mysql2 with disableEval: true')
}
