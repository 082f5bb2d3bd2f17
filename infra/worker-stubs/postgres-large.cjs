// Workers bundle stand-in for postgres.js's `large.js` (large objects: `sql.largeObject`), which postgres() binds
// into every client it makes; the gateway never uses it, so calling it fails loudly. See infra/wrangler.toml [alias].
'use strict'

module.exports = function largeObject() {
  throw new Error('postgres.js largeObject is not part of the Workers build (the gateway does not use it)')
}
