// Workers bundle stand-in for mysql2's `lib/tracing.js` (its diagnostics_channel tracing: `mysql2:query`,
// `mysql2:execute`, `mysql2:connect` …). Nothing in the worker subscribes to those channels, and with no subscriber
// mysql2's helpers call straight through: this is that branch alone. Checked against tracing.js in
// tests/edge/worker-stubs.test.ts. See infra/wrangler.toml [alias].
'use strict'

module.exports = {
  dc: undefined,
  hasTracingChannel: false,
  shouldTrace: () => false,
  queryChannel: undefined,
  executeChannel: undefined,
  connectChannel: undefined,
  poolConnectChannel: undefined,
  getServerContext(config) {
    return config.socketPath
      ? { serverAddress: config.socketPath, serverPort: undefined }
      : { serverAddress: config.host || 'localhost', serverPort: config.port || 3306 }
  },
  traceCallback: (channel, fn, position, context, thisArg, ...args) => fn.apply(thisArg, args),
  tracePromise: (channel, fn) => fn(),
}
