/**
 * The runner process the tests start (tests/runner/processes.ts; the soak through it): production's
 * `runRunnerProcess` (runner/process.ts, what `npm run runner` runs) with the test hooks put in through its seams:
 *
 *   WA_TEST_TIMERS=1                 short Baileys timers (tests/support/runner-hooks.ts)
 *   QUEUE_CRASH_AT=<point>           SIGKILL at a crash window: before-commit | after-claim | after-send
 *   QUEUE_CRASH_ON=<n>               … of the n-th claimed message (default 1)
 *
 * Run with tsx: `node --import tsx tests/support/runner-entry.ts`. Everything else comes from the environment,
 * exactly as for `npm run runner` (the loopback server's `info.env` points the sockets at it).
 */
import { runRunnerProcess } from '../../runner/process.js'
import { createWhatsAppFactory } from '../../runner/whatsapp/client.js'
import { crashPoints, isCrashPoint, whatsAppWithTestTimers } from './runner-hooks.js'

const env = process.env
const crashAt = env.QUEUE_CRASH_AT?.trim() || null
if (crashAt !== null && !isCrashPoint(crashAt)) {
  console.error(`runner-entry: QUEUE_CRASH_AT must be before-commit, after-claim or after-send (got "${crashAt}")`)
  process.exit(2)
}
const crashOn = Number(env.QUEUE_CRASH_ON?.trim() || '1')
if (!Number.isInteger(crashOn) || crashOn < 1) {
  console.error(`runner-entry: QUEUE_CRASH_ON must be a whole number ≥ 1 (got "${env.QUEUE_CRASH_ON}")`)
  process.exit(2)
}
const crash = crashAt !== null && isCrashPoint(crashAt) ? crashPoints(crashAt, crashOn) : null
const makeWhatsApp = env.WA_TEST_TIMERS === '1' ? whatsAppWithTestTimers : createWhatsAppFactory

await runRunnerProcess({
  env,
  stdoutIsTty: Boolean(process.stdout.isTTY),
  ...(crash
    ? {
        db: (db) => crash.wrapDb(db),
        makeWhatsApp: async (options) => crash.wrapWhatsApp(await makeWhatsApp(options)),
      }
    : { makeWhatsApp }),
})
