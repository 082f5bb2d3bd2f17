// Workers bundle stand-in for `named-placeholders`, which mysql2 loads for the `namedPlaceholders` option
// (`:name` instead of `?`). The gateway writes every statement with `?` and passes its values as an array
// (db/drivers/mysql.ts), so the option is never set. See infra/wrangler.toml [alias].
'use strict'

module.exports = function namedPlaceholdersUnavailable() {
  throw new Error("mysql2's namedPlaceholders option is not part of the Workers build (the gateway binds with ?)")
}
