/**
 * `npm run runner`: the runner as its own process (runner/process.ts), configured by the environment. pm2 and
 * systemd run this file. The only runner file that reads `process.env`.
 */
import { runRunnerProcess } from './process.js'

await runRunnerProcess({ env: process.env, stdoutIsTty: Boolean(process.stdout.isTTY) })
