/**
 * Production packaging: the pm2 process file, the systemd units, the nginx example, the wrangler config and
 * infra/.env.example, checked against the code they describe, and the API started exactly as pm2 starts it.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseApiConfig } from '../../api/config.js'
import { parseDashboardOptions } from '../../api/dashboard/index.js'
import { parseDbConfig } from '../../db/config.js'
import { parseWebhookConfig } from '../../runner/webhooks/config.js'
import { parseRunnerConfig } from '../../runner/config.js'
import { parseMaintenanceConfig } from '../../db/maintenance/jobs.js'
import { describeEachEngine } from '../support/db.js'
import { waitFor } from '../support/queue-fixtures.js'
import { freePort } from '../support/free-port.js'
import { skipReason } from '../support/prerequisites.js'

const ROOT = join(import.meta.dirname, '..', '..')
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8')

interface Pm2App {
  name: string
  cwd: string
  script: string
  args: string[]
  interpreter: string
  kill_timeout: number
  instances: number
  exec_mode: string
}
const ecosystem = createRequire(import.meta.url)(join(ROOT, 'infra/ecosystem.config.cjs')) as { apps: Pm2App[] }

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const p = join(dir, name)
    return statSync(join(ROOT, p)).isDirectory() ? sourceFiles(p) : /\.tsx?$/.test(name) ? [p] : []
  })
}

/** Every environment variable the code reads: `env.NAME`, `env['NAME']`, `(env, 'NAME'` in api/, runner/, db/. */
function variablesReadByCode(): Map<string, string[]> {
  const found = new Map<string, string[]>()
  const patterns = [
    /\b(?:env|vars|process\.env)\??\.([A-Z][A-Z0-9_]+)\b/g,
    /\b(?:env|vars|process\.env)\[['"]([A-Z][A-Z0-9_]+)['"]\]/g,
    /\(env, '([A-Z][A-Z0-9_]+)'/g,
    // Lists of names the code loops over (runner/whatsapp/loopback-trust.ts).
    /_VARS = \[([^\]]+)\]/g,
  ]
  for (const file of ['api', 'runner', 'db'].flatMap(sourceFiles)) {
    const text = readFileSync(join(ROOT, file), 'utf8')
    for (const re of patterns) {
      for (const m of text.matchAll(re)) {
        for (const name of m[1]!.match(/[A-Z][A-Z0-9_]+/g) ?? []) found.set(name, [...(found.get(name) ?? []), file])
      }
    }
  }
  return found
}

/** `NAME=value` (required) and `# NAME=default` (optional) lines of .env.example. */
function documented(): Map<string, { value: string; commented: boolean }> {
  const out = new Map<string, { value: string; commented: boolean }>()
  for (const line of read('infra/.env.example').split('\n')) {
    const m = /^(#\s)?([A-Z][A-Z0-9_]+)=(.*)$/.exec(line)
    if (m) out.set(m[2]!, { value: m[3]!, commented: Boolean(m[1]) })
  }
  return out
}

// Worker bindings are objects configured in wrangler.toml, not environment variables.
const BINDINGS = ['HYPERDRIVE', 'ASSETS']

describe('infra/.env.example', () => {
  it('documents every variable the code reads (api/, runner/, db/)', () => {
    const docs = documented()
    const read = variablesReadByCode()
    expect(read.size).toBeGreaterThan(30)
    const missing = [...read.keys()].filter((n) => !docs.has(n) && !BINDINGS.includes(n))
    expect(missing, `not in infra/.env.example: ${missing.map((n) => `${n} (${read.get(n)![0]})`).join(', ')}`).toEqual([])
  })

  it('documents no variable the code does not read', () => {
    const read = variablesReadByCode()
    const stale = [...documented().keys()].filter((n) => !read.has(n))
    expect(stale).toEqual([])
  })

  it('shows each default exactly as the code applies it', () => {
    // A documented default must not change what any parser produces compared with the variable unset.
    const base = { API_SECRET: 'k'.repeat(16) }
    const parsers: Array<[string, (env: Record<string, string>) => unknown]> = [
      ['api', (env) => parseApiConfig({ ...base, ...env })],
      ['runner', (env) => parseRunnerConfig(env, { stdoutIsTty: false })],
      ['maintenance', (env) => parseMaintenanceConfig(env)],
      ['db', (env) => parseDbConfig(env)],
      ['dashboard', (env) => parseDashboardOptions(env)],
      ['webhooks', (env) => parseWebhookConfig(env)],
    ]
    // Defaults applied outside the parsers (entries or deeper factories), checked by reading the code.
    const elsewhere: Record<string, RegExp> = {
      LOG_LEVEL: /LOG_LEVEL\?\.trim\(\) \|\| 'info'|LOG_LEVEL \?\? 'info'/,
      RUNNER_METRICS_HOST: /RUNNER_METRICS_HOST\?\.trim\(\) \|\| '127\.0\.0\.1'/,
      DASHBOARD_SESSION_HOURS: /sessionTtlMs = 12 \* 60 \* 60 \* 1000/,
    }
    const code = ['api', 'runner'].flatMap(sourceFiles).map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n')
    for (const [name, { value, commented }] of documented()) {
      if (!commented || value === '') continue
      if (elsewhere[name]) {
        expect(code, name).toMatch(elsewhere[name])
        continue
      }
      for (const [what, parse] of parsers) {
        expect(parse({ [name]: value }), `${name}=${value} is not the ${what} default`).toEqual(parse({}))
      }
    }
  })

  it('leaves the required secrets empty, so a copied file refuses to start instead of running with a sample key', () => {
    const docs = documented()
    for (const name of ['API_SECRET', 'DATABASE_URL', 'AUTH_STATE_KEY']) expect(docs.get(name)).toEqual({ value: '', commented: false })
  })
})

describe('pm2 (infra/ecosystem.config.cjs)', () => {
  it('runs the runner as wa-gateway (for `pm2 logs wa-gateway`) and the API as wa-gateway-api', () => {
    expect(ecosystem.apps.map((a) => a.name)).toEqual(['wa-gateway', 'wa-gateway-api'])
    const [runner, api] = ecosystem.apps
    expect(runner!.args.at(-1)).toBe('dist/runner/main.js')
    expect(api!.args.at(-1)).toBe('dist/api/node.js')
    for (const app of ecosystem.apps) {
      expect(relative(ROOT, app.cwd)).toBe('')
      expect(existsSync(join(app.cwd, app.args.at(-1)!)), app.args.at(-1)).toBe(true)
      // node itself, not pm2's fork wrapper: the entries must see themselves as the main module.
      expect(app.script).toBe(process.execPath)
      expect(app.interpreter).toBe('none')
      // Compiled JavaScript, one process: no loader, no tsx.
      expect(app.args.slice(0, -1)).toEqual(['--env-file=.env'])
      expect(app.exec_mode).toBe('fork')
      // Longer than the 10 s graceful shutdown of both entries.
      expect(app.kill_timeout).toBeGreaterThan(10_000)
    }
  })
})

describe('systemd units (infra/systemd)', () => {
  const noSystemdAnalyze = skipReason('systemd-analyze')
  const units = readdirSync(join(ROOT, 'infra/systemd')).filter((f) => f.endsWith('.service'))

  it('has one unit per process, running the same entries as pm2 with the .env file', () => {
    expect(units.sort()).toEqual(['wa-gateway-api.service', 'wa-gateway.service'])
    for (const [unit, script] of [['wa-gateway.service', 'dist/runner/main.js'], ['wa-gateway-api.service', 'dist/api/node.js']] as const) {
      const text = read(`infra/systemd/${unit}`)
      expect(text).toMatch(new RegExp(`^ExecStart=/usr/bin/node ${script.replaceAll('.', '\\.')}$`, 'm'))
      expect(existsSync(join(ROOT, script)), script).toBe(true)
      expect(text).toMatch(/^EnvironmentFile=\/opt\/wa-gateway\/\.env$/m)
      expect(text).toMatch(/^WorkingDirectory=\/opt\/wa-gateway$/m)
      expect(text).toMatch(/^Restart=always$/m)
      expect(text).toMatch(/^KillSignal=SIGTERM$/m)
      expect(Number(/^TimeoutStopSec=(\d+)$/m.exec(text)?.[1])).toBeGreaterThan(10)
      expect(text).toMatch(/^User=wa-gateway$/m)
    }
  })

  it.skipIf(Boolean(noSystemdAnalyze))(`passes systemd-analyze verify without warnings${noSystemdAnalyze ? ` [${noSystemdAnalyze}]` : ''}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'wa-units-'))
    try {
      const envFile = join(dir, 'env')
      writeFileSync(envFile, '')
      const paths = units.map((u) => {
        // The units name /opt/wa-gateway; point them at this checkout so verify can check the paths.
        const text = read(`infra/systemd/${u}`).replaceAll('/opt/wa-gateway/.env', envFile).replaceAll('/opt/wa-gateway', ROOT)
        writeFileSync(join(dir, u), text.replace(/^User=.*$/m, 'User=root').replace(/^Group=.*$/m, 'Group=root'))
        return join(dir, u)
      })
      const res = spawnSync('systemd-analyze', ['verify', ...paths], { encoding: 'utf8' })
      expect(res.stderr.split('\n').filter((l) => l.includes(dir))).toEqual([])
      expect(res.status).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('nginx example (infra/nginx/wa-gateway.conf)', () => {
  it('proxies to the API port, redirects HTTP to HTTPS, allows 10 MB uploads and keeps /metrics private', () => {
    const conf = read('infra/nginx/wa-gateway.conf')
    expect(conf).toMatch(/proxy_pass http:\/\/127\.0\.0\.1:3000;/)
    expect(conf).toMatch(/return 301 https:\/\/\$host\$request_uri;/)
    expect(conf).toMatch(/client_max_body_size 11m;/)
    expect(conf).toMatch(/location = \/metrics \{[^}]*deny all;/)
    expect(conf).toMatch(/ssl_protocols TLSv1\.2 TLSv1\.3;/)
    // Balanced braces: a copy-paste error here breaks `nginx -t`.
    const text = conf.replace(/#.*$/gm, '')
    expect((text.match(/\{/g) ?? []).length).toBe((text.match(/\}/g) ?? []).length)
  })
})

describe('wrangler config (infra/wrangler.toml)', () => {
  const toml = read('infra/wrangler.toml')
  const lines = toml.split('\n').filter((l) => !l.trim().startsWith('#'))

  it('pins a compatibility date workerd 1.20260426 accepts, nodejs_compat, the Hyperdrive binding and a cron trigger', () => {
    const date = /^compatibility_date\s*=\s*"(\d{4}-\d{2}-\d{2})"/m.exec(toml)?.[1]
    expect(date).toBeDefined()
    expect(date! <= '2026-05-03').toBe(true)
    expect(toml).toMatch(/^compatibility_flags\s*=\s*\["nodejs_compat"\]/m)
    expect(toml).toMatch(/^main\s*=\s*"\.\.\/api\/worker\.ts"/m)
    expect(toml).toMatch(/\[\[hyperdrive\]\]\s*\nbinding\s*=\s*"HYPERDRIVE"/)
    expect(toml).toMatch(/^crons\s*=\s*\[\s*"[^"]+"/m)
  })

  it('holds no secrets: no API key, password or credentialed connection string', () => {
    // An [alias] entry names a module and its stand-in (mysql2's "../auth_plugins/sha256_password" is a module, not a
    // secret): only the names of what is not a stand-in mapping are checked for secret words.
    const standIn = /^"[^"]+"\s*=\s*"\.\/worker-stubs\/[\w.-]+"\s*$/
    for (const line of lines) {
      if (!standIn.test(line.trim())) expect(line, line).not.toMatch(/API_SECRET|AUTH_STATE_KEY|DASHBOARD_COOKIE_SECRET|password/i)
      expect(line, line).not.toMatch(/:\/\/[^/\s"]*:[^@\s"]*@/)
      expect(line, line).not.toMatch(/localConnectionString/)
    }
  })

  it('package.json bundles with npm run build:worker and runs jobs with npm run maintenance', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
    expect(pkg.scripts['build:worker']).toBe('tsx infra/build-worker.ts')
    expect(pkg.scripts.maintenance).toBe('node infra/build.mjs --if-stale && exec node dist/runner/maintenance/cli.js')
  })
})


describeEachEngine(
  'the API started as pm2 starts it',
  (ctx) => {
    it('node --env-file=<.env> dist/api/node.js (pm2\'s command line) serves /readyz from the .env settings and exits 0 on SIGTERM', async () => {
      const app = ecosystem.apps.find((a) => a.name === 'wa-gateway-api')!
      const dir = mkdtempSync(join(tmpdir(), 'wa-pm2-'))
      const port = await freePort()
      const envFile = join(dir, '.env')
      // Trust authentication ignores the password; it is there to prove it never reaches the logs.
      const url = new URL(ctx.t.url!)
      url.password = 'db-password-not-for-logs'
      writeFileSync(envFile, `API_SECRET=pm2-test-key-123456\nDATABASE_URL=${url}\nPORT=${port}\nHOST=127.0.0.1\nLOG_LEVEL=debug\n`)
      const args = app.args.map((a) => (a === '--env-file=.env' ? `--env-file=${envFile}` : a))
      const child = spawn(app.script, args, { cwd: app.cwd, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (out += d))
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
      try {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 200)
        const status = await fetch(`http://127.0.0.1:${port}/api/status`, { headers: { 'X-API-Key': 'pm2-test-key-123456' } })
        expect(status.status).toBe(200)
      } finally {
        child.kill('SIGTERM')
        rmSync(dir, { recursive: true, force: true })
      }
      expect(await exited).toBe(0)
      for (const line of out.split('\n').filter((l) => l.trim())) expect(() => JSON.parse(line), line).not.toThrow()
      // Secrets never logged, even at debug: the API key (sent on every request) and the database password.
      expect(out).toContain('"msg":"API listening"')
      expect(out).not.toContain('pm2-test-key-123456')
      expect(out).not.toContain('db-password-not-for-logs')
    }, 60_000)
  },
  { engines: ['postgres'] },
)
