// Workers bundle stand-in for the mysql2 commands and packets the gateway's client never sends, which
// `lib/commands/index.js` and `lib/packets/index.js` load at start-up: the server side of the handshake (mysql2's
// createServer), replication (`register_slave`, `binlog_dump` and the binlog event parser) and `changeUser`. The
// worker opens one connection per request as one user and runs statements on it. See infra/wrangler.toml [alias].
'use strict'

// One constructor serves every module it replaces: `new Commands.ChangeUser(…)`, `new Packets.BinlogDump(…)` … fail.
module.exports = function commandUnavailable() {
  throw new Error("this mysql2 command (server handshake, replication or changeUser) is not part of the Workers build")
}
