import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** A runner child process (tests/support/runner-entry.ts: `npm run runner`'s process with the test hooks) and its JSON log lines. */
export interface RunnerProcess {
  child: ChildProcess
  lines: Record<string, unknown>[]
  /** Sessions whose lease this process took, in order. */
  acquired(): string[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export const authKeyHex = () => randomBytes(32).toString('hex')

/** The JSON log lines a child writes to stdout, as they arrive (other output, e.g. libsignal's dumps, is skipped). */
export function collectJsonLines(child: ChildProcess): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      // not a log line
    }
  })
  return lines
}

/** Starts `node --import tsx tests/support/runner-entry.ts` with short test timings and the loopback env. */
export function spawnRunner(env: Record<string, string>): RunnerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/runner-entry.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      LOG_LEVEL: 'info',
      THROTTLE_MIN_MS: '200',
      THROTTLE_MAX_MS: '600',
      PRESENCE: 'off',
      LEASE_TTL_SECONDS: '3',
      LEASE_RENEW_SECONDS: '1',
      LEASE_FENCE_MARGIN_SECONDS: '0.5',
      RUNNER_POLL_MS: '200',
      RECONNECT_MAX_MS: '1000',
      WA_TEST_TIMERS: '1',
      PRINT_QR: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines = collectJsonLines(child)
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
    if (process.env.TEST_LOG) process.stderr.write(d)
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      if (code && code !== 0 && process.env.TEST_LOG) console.error(`runner exited ${code}: ${stderr}`)
      resolve({ code, signal })
    })
  })
  return {
    child,
    lines,
    acquired: () => lines.filter((l) => l.msg === 'lease acquired').map((l) => String(l.session)),
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}
