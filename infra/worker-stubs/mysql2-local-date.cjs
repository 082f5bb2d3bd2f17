// Workers bundle stand-in for mysql2's `lib/parsers/local_date.js`, which builds the Date of a DATE, DATETIME or
// TIMESTAMP read in the local time zone (`timezone: 'local'`) faster than `new Date(y, m, d …)` by caching each hour's
// offset. The gateway reads dates with `timezone: 'Z'` (db/drivers/mysql.ts), and workerd's local time is UTC: the
// constructor itself gives the same Date, and with no cache there is nothing to reset when TZ changes. Checked against
// local_date.js in tests/edge/worker-stubs.test.ts. See infra/wrangler.toml [alias].
'use strict'

module.exports = {
  localDate: (year, month, day, hours, minutes, seconds, milliseconds) =>
    new Date(year, month - 1, day, hours, minutes, seconds, milliseconds),
  checkTimezone() {},
  // Only decides whether checkTimezone runs first, which has nothing to do here.
  usesLocalDate: () => false,
}
