/**
 * `npm run runner` as an operator starts it (pm2 and systemd run the same entry): the private port answers
 * /healthz and /metrics, the maintenance schedule runs inside it, logs are JSON lines, and SIGTERM stops it cleanly.
 * No WhatsApp server is reachable here, so the default session simply waits; that is all this test needs.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { describeEachEngine } from '../support/db.js'
import { waitFor } from '../support/queue-fixtures.js'
import { freePort } from '../support/free-port.js'

const ROOT = join(import.meta.dirname, '..', '..')

/** Trust authentication ignores the password; it is there to prove it never reaches the logs. */
function withPassword(url: string): string {
  const u = new URL(url)
  u.password = 'db-password-not-for-logs'
  return u.toString()
}


describeEachEngine(
  'runner process',
  (ctx) => {
    it('serves /healthz and /metrics on RUNNER_METRICS_PORT, runs maintenance, logs JSON without secrets, stops on SIGTERM', async () => {
      const port = await freePort()
      const authKey = randomBytes(32).toString('hex')
      // `npm run runner` is `node dist/runner/main.js` after the build check, as pm2 and systemd run it.
      const child = spawn(process.execPath, [join(ROOT, 'dist/runner/main.js')], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: withPassword(ctx.t.url!), AUTH_STATE_KEY: authKey, RUNNER_METRICS_PORT: String(port), LOG_LEVEL: 'debug', PRINT_QR: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (out += d))
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
      try {
        const base = `http://127.0.0.1:${port}`
        await waitFor(async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200, 30_000, 200)
        const health = await (await fetch(`${base}/healthz`)).json()
        expect(health).toMatchObject({ ok: true })
        await waitFor(async () => /maintenance sweep done/.test(out), 30_000, 200)
        const text = await (await fetch(`${base}/metrics`)).text()
        expect(text).toContain('# TYPE wa_gateway_runner_sessions gauge')
        expect(text).toMatch(/^wa_gateway_maintenance_runs_total\{job="sweep",outcome="ran"\} 1$/m)
        for (const line of out.split('\n').filter((l) => l.trim())) expect(() => JSON.parse(line), line).not.toThrow()
        expect(out).not.toContain(authKey)
        expect(out).not.toContain('db-password-not-for-logs')
      } finally {
        child.kill('SIGTERM')
      }
      expect(await exited).toBe(0)
      expect(out).toMatch(/"msg":"runner stopped"/)
    }, 60_000)
  },
  { engines: ['postgres'] },
)
