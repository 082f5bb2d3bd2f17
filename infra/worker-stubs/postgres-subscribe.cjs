// Workers bundle stand-in for postgres.js's `subscribe.js` (logical replication: `sql.subscribe`). postgres() wires
// it into every client it makes, so the stand-in returns a function, but the gateway never subscribes: calling it
// fails loudly. See infra/wrangler.toml [alias] (postgres-large.cjs does the same for large objects).
'use strict'

function unavailable(what) {
  return function () {
    throw new Error(`postgres.js ${what} is not part of the Workers build (the gateway does not use it)`)
  }
}

// subscribe.js: `Subscribe(Postgres, options)` runs when a client is made and returns `sql.subscribe`.
module.exports = function Subscribe() {
  return unavailable('subscribe (logical replication)')
}
