// Workers bundle stand-in for mysql2's `lib/constants/errors.js` (~145 KiB minified: every MySQL 8 error number
// with its name, both ways). mysql2 reads it for three things: `err.code` (the name of the server's error number),
// the pool's read-only checks, and its server-side handshake (unused by a client). This table keeps the names
// mysql2 itself asks for and those the gateway's driver reacts to (db/drivers/mysql.ts) or an operator is likely
// to search the logs for; any other error still carries its `errno`, `sqlState` and the server's message, only
// `err.code` is undefined. tests/edge/worker-stubs.test.ts checks every number against mysql2's own table.
// See infra/wrangler.toml [alias] (the key is the literal path mysql2's modules require).
'use strict'

const names = {
  HA_ERR_INTERNAL_ERROR: 122,
  ER_CON_COUNT_ERROR: 1040,
  ER_ACCESS_DENIED_ERROR: 1045,
  ER_BAD_NULL_ERROR: 1048,
  ER_BAD_DB_ERROR: 1049,
  ER_SERVER_SHUTDOWN: 1053,
  ER_BAD_FIELD_ERROR: 1054,
  ER_DUP_ENTRY: 1062,
  ER_PARSE_ERROR: 1064,
  ER_NO_SUCH_TABLE: 1146,
  ER_NET_PACKET_TOO_LARGE: 1153,
  ER_NET_READ_ERROR: 1158,
  ER_NET_READ_INTERRUPTED: 1159,
  ER_NET_ERROR_ON_WRITE: 1160,
  ER_NET_WRITE_INTERRUPTED: 1161,
  ER_LOCK_WAIT_TIMEOUT: 1205,
  ER_LOCK_DEADLOCK: 1213,
  ER_WARN_DEPRECATED_SYNTAX: 1287,
  ER_OPTION_PREVENTS_STATEMENT: 1290,
  ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: 1366,
  ER_DATA_TOO_LONG: 1406,
  ER_ROW_IS_REFERENCED_2: 1451,
  ER_NO_REFERENCED_ROW_2: 1452,
  ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: 1792,
  ER_READ_ONLY_MODE: 1836,
  ER_QUERY_TIMEOUT: 3024,
  ER_CLIENT_INTERACTION_TIMEOUT: 4031,
}

// Same shape as mysql2's module: `exports.ER_DUP_ENTRY = 1062` and `exports[1062] = 'ER_DUP_ENTRY'`.
for (const [name, number] of Object.entries(names)) {
  exports[name] = number
  exports[number] = name
}
