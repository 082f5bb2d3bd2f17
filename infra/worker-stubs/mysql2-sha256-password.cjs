// Workers bundle stand-in for mysql2's `sha256_password` authentication plugin, which MySQL 8.0 deprecated in favour
// of caching_sha2_password (its default) and MySQL 9 removed; MariaDB never had it. The worker authenticates with
// caching_sha2_password or mysql_native_password (Hyperdrive's), and a server asking for this one gets a connection
// error naming the fix. See infra/wrangler.toml [alias].
'use strict'

// As the plugin: `(pluginOptions) => ({ connection, command }) => (data) => reply`; mysql2 turns the rejection into
// the connection's error.
module.exports = () => () => () =>
  Promise.reject(
    new Error(
      'the database account authenticates with sha256_password, which the Workers build does not support: ' +
        'ALTER USER … IDENTIFIED WITH caching_sha2_password',
    ),
  )
