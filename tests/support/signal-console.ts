/**
 * Setup file of every test file (vitest.config.ts): libsignal, under Baileys in the loopback's contacts and in the
 * in-process clients, prints whole Signal session records (private, root and chain keys) through `console` on
 * ordinary events. Production routes every console line of the runner through its log with objects left out
 * (runner/console-to-log.ts); here only those records are: the line keeps its text and names the object, and
 * everything else a test prints stays as it is.
 */
import { describeConsoleCall } from '../../runner/console-to-log.js'

/** The messages libsignal prints a session record after (node_modules/libsignal/src/session_record.js). */
const SESSION_RECORD = /^(Closing session|Opening session|Removing old closed session|Session already closed)\b/

/** Marks the console already wrapped: a worker runs file after file (vitest.config.ts), and this file with each. */
const WRAPPED = Symbol.for('wa-gateway.signal-console')

const marked = console as Console & { [WRAPPED]?: true }
if (!marked[WRAPPED]) {
  marked[WRAPPED] = true
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method].bind(console)
    console[method] = (...args: unknown[]) =>
      typeof args[0] === 'string' && SESSION_RECORD.test(args[0]) ? original(describeConsoleCall(args)) : original(...args)
  }
}
