// Workers bundle stand-in for mysql2's binary protocol: the prepare, execute and close-statement commands and their
// packets, binary rows and their parser, the parameter encoders (`encode_parameter.js`, `typed_parameter.js`, which the
// text protocol needs only for query attributes, never sent here) and mysql2/promise's PreparedStatementInfo. The
// gateway's driver uses the binary protocol only to send a value of more than 256 KiB, and the worker opens it with
// `textProtocolOnly` (api/worker.ts, db/drivers/mysql.ts), so every statement of the edge goes through `query`.
// See infra/wrangler.toml [alias].
'use strict'

function binaryProtocolUnavailable() {
  throw new Error(
    "mysql2's binary protocol (execute, prepare, query attributes) is not part of the Workers build: the worker opens " +
      'mysql2 with textProtocolOnly, and every statement goes through query',
  )
}

// One function serves every module it replaces: `new Commands.Execute(…)`, `new Packets.PrepareStatement(…)`,
// `BinaryRow.toPacket(…)`, encode_parameter's `toParameter(…)` and mysql2/promise's `TypedParameter` getter all fail.
module.exports = binaryProtocolUnavailable
module.exports.toPacket = binaryProtocolUnavailable
module.exports.fromPacket = binaryProtocolUnavailable
module.exports.toParameter = binaryProtocolUnavailable
Object.defineProperty(module.exports, 'types', { get: binaryProtocolUnavailable })
