/**
 * The built worker (`wrangler deploy --dry-run` of api/worker.ts with infra/wrangler.toml) running under workerd
 * through Miniflare, with a local Hyperdrive binding to MariaDB and to PostgreSQL (fresh migrated databases),
 * passing the same contract suite as the Node API, plus what only the edge has: per-request connections closed
 * after the response, the `scheduled()` maintenance handler, configuration errors, and the bundle's contents.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../api/app.js'
import { parseApiConfig } from '../../api/config.js'
import { DASHBOARD_ASSETS } from '../../api/dashboard/asset-files.js'
import { openMysql } from '../../db/drivers/mysql.js'
import { taskName, JOB_NAMES } from '../../db/maintenance/jobs.js'
import { publishRunnerKey, readSealedProxy } from '../../db/queries/proxy.js'
import { deriveProxyKey } from '../../runner/proxy-key.js'
import { buildWorker, kib, readMetafile, WORKER_ASSETS, workerAliases, workerVars, WORKER_GZIP_LIMIT, WRANGLER_CONFIG, type BuiltWorker } from '../../infra/build-worker.js'
import { defineContractTests, type ContractTarget } from '../support/contract.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import { TEST_MYSQL_URL } from '../support/engines.js'
import { expireLease, getSession, ownedSession, ph, waitFor } from '../support/queue-fixtures.js'

const API_KEY = 'edge-test-key-0123456789'
// Hyperdrive's local binding insists on a password; MariaDB's root has none here, so the worker logs in as this user.
const EDGE_USER = 'wa_edge'
const EDGE_PASSWORD = 'wa-edge-local-only'

const toml = readFileSync(WRANGLER_CONFIG, 'utf8')
const COMPATIBILITY_DATE = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)![1]!
const COMPATIBILITY_FLAGS = JSON.parse(/^compatibility_flags\s*=\s*(\[[^\]]*\])/m.exec(toml)![1]!) as string[]

let outdir: string
let built: BuiltWorker
beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'wa-worker-'))
  built = await buildWorker({ outdir })
  console.log(`worker bundle: raw ${kib(built.rawBytes)}, gzip ${kib(built.gzipBytes)}`)
}, 120_000)
afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true })
})

function startWorker(hyperdrive: string, bindings: Record<string, string> = { API_SECRET: API_KEY, LOG_LEVEL: 'warn' }): Miniflare {
  return new Miniflare({
    modules: true,
    // Module names are relative to modulesRoot; the default (cwd) would give "../…" names workerd refuses.
    modulesRoot: built.outdir,
    scriptPath: built.script,
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    hyperdrives: { HYPERDRIVE: hyperdrive },
    bindings,
    // infra/wrangler.toml [assets]: the API reference, written by buildWorker; the worker runs first for every request.
    assets: { directory: WORKER_ASSETS, binding: 'ASSETS', routerConfig: { invoke_user_worker_ahead_of_assets: true, has_user_worker: true } },
  })
}

/** A worker on a fresh migrated database of `engine`, reachable through a local Hyperdrive binding. */
async function workerOn(engine: 'mysql' | 'postgres'): Promise<{ mf: Miniflare; t: TestDatabase; url: string }> {
  const t = await createTestDatabase(engine)
  const dbName = new URL(t.url!).pathname.slice(1)
  let url: string
  if (engine === 'mysql') {
    const admin = await openMysql({ url: TEST_MYSQL_URL, connectionLimit: 1 })
    try {
      await admin.execute(`CREATE USER IF NOT EXISTS '${EDGE_USER}'@'127.0.0.1' IDENTIFIED BY '${EDGE_PASSWORD}'`)
      await admin.execute(`ALTER USER '${EDGE_USER}'@'127.0.0.1' IDENTIFIED BY '${EDGE_PASSWORD}'`)
      await admin.execute(`GRANT ALL PRIVILEGES ON \`${dbName}\`.* TO '${EDGE_USER}'@'127.0.0.1'`)
    } finally {
      await admin.close()
    }
    url = `mysql://${EDGE_USER}:${EDGE_PASSWORD}@127.0.0.1:3306/${dbName}`
  } else {
    // Trust authentication ignores the password, but the binding needs one.
    const u = new URL(t.url!)
    u.password = 'unused'
    url = u.toString()
  }
  return { mf: startWorker(url), t, url }
}

/**
 * `mf.dispatchFetch` with a body Miniflare's own undici understands: Node's FormData (multipart uploads) is
 * serialized here, boundary and all, through a standard Request.
 */
async function dispatch(mf: Miniflare, path: string, init: RequestInit = {}): Promise<Response> {
  const req = new Request(`http://wa.test${path}`, init)
  const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined
  // `redirect: 'manual'` carried over, so a redirect is seen as the worker answered it rather than followed.
  const res = await mf.dispatchFetch(req.url, { method: req.method, headers: Object.fromEntries(req.headers), body, ...(init.redirect ? { redirect: init.redirect } : {}) })
  return res as unknown as Response
}

const missing = unavailableEngines()

for (const engine of ['mysql', 'postgres'] as const) {
  const skip = missing[engine]
  describe.skipIf(Boolean(skip))(`the built worker on workerd, Hyperdrive → ${engine}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let mf: Miniflare
    let t: TestDatabase
    let target: ContractTarget
    beforeAll(async () => {
      ;({ mf, t } = await workerOn(engine))
      target = {
        apiKey: API_KEY,
        db: t.db,
        fetch: (path, init) => dispatch(mf, path, init),
      }
    }, 120_000)
    afterAll(async () => {
      await mf?.dispose()
      await t?.drop()
    }, 60_000)

    describe('contract', () => defineContractTests(() => target))

    it('opens one connection per request and closes it after the response (waitUntil)', async () => {
      const sessions = async () => {
        if (engine === 'mysql') {
          // This database only: another run on the same server may have its own worker logged in as the same user.
          const [r] = await t.db.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ${ph(t.db, 1)} AND DB = DATABASE()`, [EDGE_USER])
          return Number(r!.n)
        }
        const [r] = await t.db.query(`SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'wa-gateway' AND pid <> pg_backend_pid()`)
        return Number(r!.n)
      }
      // The test's own pool is also application 'wa-gateway' on Postgres: count what it holds first.
      await waitFor(async () => (await sessions()) <= (engine === 'postgres' ? 10 : 0), 10_000, 100)
      const baseline = await sessions()
      await Promise.all(Array.from({ length: 20 }, () => target.fetch('/api/status', { headers: { 'X-API-Key': API_KEY } }).then((r) => r.text())))
      await waitFor(async () => (await sessions()) <= baseline, 10_000, 100)
      expect(await sessions()).toBeLessThanOrEqual(baseline)
      // A request that needs no database opens none.
      const health = await target.fetch('/healthz')
      expect(health.status).toBe(200)
    })

    it("seals a session's proxy with workerd's WebCrypto (ECDH P-256, HKDF, AES-GCM) so that the runners' key opens it", async () => {
      const patch = (proxy: unknown) =>
        target.fetch('/api/sessions/default', { method: 'PATCH', headers: { 'X-API-Key': API_KEY, 'Content-Type': 'application/json' }, body: JSON.stringify({ proxy }) })
      const url = 'socks5://edge:Edge-Pass-991@10.0.0.9:1080'
      expect((await patch(url)).status).toBe(409)
      const key = deriveProxyKey(new Uint8Array(32).fill(7))
      await publishRunnerKey(t.db, 'proxy', key.publicKey)
      const res = await patch(url)
      const text = await res.text()
      expect(res.status, text).toBe(200)
      expect(text).not.toContain('Edge-Pass-991')
      expect((JSON.parse(text) as { settings: { proxy: string } }).settings.proxy).toBe('socks5://edge:***@10.0.0.9:1080')
      expect(key.open((await readSealedProxy(t.db, 'default'))!, 'default')).toBe(url)
      expect((await patch('ftp://h:21')).status).toBe(400)
      expect((await patch(null)).status).toBe(200)
    })

    it('serves the dashboard from the same app (sign-in page, no key needed to see it)', async () => {
      const res = await target.fetch('/dashboard', { redirect: 'manual' })
      expect(res.status).toBeLessThan(500)
      expect(res.status).not.toBe(404)
      const page = res.status >= 300 && res.status < 400 ? await target.fetch(res.headers.get('location')!.replace(/^https?:\/\/[^/]+/, '')) : res
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/html')
      expect(await page.text()).toMatch(/<form/i)
    })

    it('serves the API reference generated at build time from its assets: the document behind the key, the page without', async () => {
      expect((await target.fetch('/api/openapi.json')).status).toBe(401)
      const res = await target.fetch('/api/openapi.json', { headers: { 'X-API-Key': API_KEY } })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toContain('application/json')
      const doc = (await res.json()) as { paths: Record<string, { post?: { operationId?: string } }> }
      expect(doc.paths['/api/send']?.post?.operationId).toBe('sendText')
      // What the Node app serves for the same settings (infra/wrangler.toml's [vars]): the same declarations.
      const node = createApp({ config: parseApiConfig({ ...workerVars(), API_SECRET: API_KEY }), database: (_c, next) => next(), dashboard: false })
      expect(doc).toEqual(await (await node.request('/api/openapi.json', { headers: { 'X-API-Key': API_KEY } })).json())
      const page = await target.fetch('/docs')
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/html')
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'")
      expect(await page.text()).toContain('<code>/api/send</code>')
      // No file of the assets is reachable around the worker.
      expect((await target.fetch('/openapi.json')).status).toBe(404)
      expect((await target.fetch('/docs.html')).status).toBe(404)
    })

    it("serves the dashboard's stylesheet and scripts from its assets: the Node app's bytes and headers", async () => {
      const node = createApp({ config: parseApiConfig({ ...workerVars(), API_SECRET: API_KEY }), database: (_c, next) => next() })
      for (const { path } of Object.values(DASHBOARD_ASSETS)) {
        const edge = await target.fetch(`/dashboard${path}`)
        const local = await node.request(`/dashboard${path}`)
        expect(edge.status, path).toBe(200)
        for (const header of ['content-type', 'cache-control', 'content-security-policy', 'x-content-type-options']) {
          expect(edge.headers.get(header), `${path} ${header}`).toBe(local.headers.get(header))
        }
        expect(await edge.text(), path).toBe(await local.text())
      }
      // The files' own paths lead to the dashboard's sign-in, not to the files.
      const around = await target.fetch('/dashboard/style.css', { redirect: 'manual' })
      expect(around.status).toBe(303)
    })

    it('signs in to the dashboard with a session kept in the database, and sign-out ends it', async () => {
      // Straight to Miniflare, so its redirects are seen rather than followed.
      const send = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
        (await mf.dispatchFetch(`http://wa.test${path}`, { ...init, redirect: 'manual' })) as unknown as Response
      const form = (fields: Record<string, string>, cookie?: string) => ({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://wa.test', 'cf-connecting-ip': '203.0.113.50', ...(cookie ? { cookie } : {}) },
        body: new URLSearchParams(fields).toString(),
      })
      const res = await send('/dashboard/sign-in', form({ api_key: API_KEY }))
      expect(res.status).toBe(303)
      const cookie = res.headers.get('set-cookie')!.split(';')[0]!
      // The worker read (and on the first sign-in wrote) the secret and the session from the database.
      const [secret] = await t.db.query(`SELECT name FROM gateway_secrets`)
      expect(secret).toMatchObject({ name: 'dashboard_cookie' })
      expect((await t.db.query(`SELECT id FROM dashboard_sessions`)).length).toBeGreaterThan(0)
      const page = await send('/dashboard', { headers: { cookie } })
      expect(page.status).toBe(200)
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!
      expect((await send('/dashboard/sign-out', form({ _csrf: csrf }, cookie))).status).toBe(303)
      expect((await send('/dashboard', { headers: { cookie } })).status).toBe(303)
    })

    it('runs the maintenance jobs from scheduled(), once per slot, recorded in cron_runs', async () => {
      const expired = await ownedSession(t.db, 'runner-gone')
      await expireLease(t.db, expired.name, 20_000)
      const worker = (await mf.getWorker()) as unknown as { scheduled(o: { cron: string; scheduledTime?: Date }): Promise<{ outcome: string }> }
      const first = await worker.scheduled({ cron: '* * * * *', scheduledTime: new Date() })
      expect(first.outcome).toBe('ok')
      expect(await getSession(t.db, expired.name)).toMatchObject({ status: 'offline', owner: null, detail: 'lease expired' })
      const rows = await t.db.query<{ task: string; runner: string }>(`SELECT task, runner FROM cron_runs`)
      for (const job of JOB_NAMES) {
        const mine = rows.filter((r) => r.task === taskName(job))
        expect(mine, job).toHaveLength(1)
        expect(mine[0]!.runner).toMatch(/^worker-[0-9a-f-]{36}$/)
      }
      // A second trigger in the same slot does nothing (the prune slot is an hour; the others a minute).
      expect((await worker.scheduled({ cron: '* * * * *' })).outcome).toBe('ok')
      const again = await t.db.query(`SELECT task FROM cron_runs WHERE task = ${ph(t.db, 1)}`, [taskName('prune')])
      expect(again).toHaveLength(1)
    })
  })
}

describe.skipIf(Boolean(missing.postgres))('worker configuration', () => {
  it('answers 500 misconfigured, naming the variable, when API_SECRET is missing', async () => {
    const mf = startWorker('postgres://postgres:unused@127.0.0.1:5432/postgres', {})
    try {
      const res = await dispatch(mf, '/api/status', { headers: { 'X-API-Key': 'x' } })
      expect(res.status).toBe(500)
      const body = (await res.json()) as { code: string; error: string }
      expect(body.code).toBe('misconfigured')
      expect(body.error).toContain('API_SECRET')
    } finally {
      await mf.dispose()
    }
  })
})

describe('worker bundle', () => {
  it(`stays lean: at most ${kib(WORKER_GZIP_LIMIT)} gzip, and no sharp, PGlite, pino, Baileys, RDS certificates or legacy charsets`, () => {
    const code = readFileSync(built.script, 'utf8')
    const banned = [
      '@electric-sql/pglite', 'require("sharp")', 'libvips', '@whiskeysockets/baileys', 'sonic-boom', 'BEGIN CERTIFICATE',
      // iconv-lite's code pages, mysql2's full error table, long.js (infra/wrangler.toml [alias]).
      'big5hkscs', 'windows1251', 'ER_HASHCHK', 'Closure Library',
    ]
    for (const marker of banned) expect(code.includes(marker), marker).toBe(false)
    expect(built.gzipBytes, `gzip ${kib(built.gzipBytes)}`).toBeLessThanOrEqual(WORKER_GZIP_LIMIT)
  })

  it("reads no class's own name where it matters (keep_names = false leaves it minified): the error classes spell out theirs", () => {
    // Each module that reads `constructor.name` or `new.target.name`, and why that is harmless in this bundle.
    const known: Record<string, string> = {
      'node_modules/mysql2/lib/base/connection.js': 'a command class name, printed only with debug: true',
      'node_modules/postgres/cf/src/errors.js': "PostgresError's name, which db/drivers/postgres.ts gives back to the class",
      'node_modules/valibot/dist/index.mjs': 'the type received, in issue messages: parsed JSON and form data, the runtime\'s own classes',
    }
    const readers = Object.keys(readMetafile(built).inputs)
      .filter((path) => !path.startsWith('node-built-in-modules:'))
      .filter((path) => /\b(constructor|new\.target)\??\.name\b/.test(readFileSync(join(dirname(WRANGLER_CONFIG), path), 'utf8')))
      .map((path) => path.replace(/^(\.\.\/)+/, ''))
    expect(readers.sort()).toEqual(Object.keys(known).sort())
  })

  it("replaces only the drivers' own modules: every import of a stand-in comes from mysql2 or postgres.js", () => {
    const meta = readMetafile(built)
    const importers = new Map<string, string[]>()
    for (const [file, input] of Object.entries(meta.inputs)) {
      for (const imported of input.imports) {
        if (imported.path.includes('worker-stubs/')) importers.set(imported.path, [...(importers.get(imported.path) ?? []), file])
      }
    }
    // The aliases are in use (else the bundle would carry the originals) …
    expect([...importers.keys()].map((p) => p.split('/').pop()).sort()).toEqual(
      [...new Set(Object.values(workerAliases()).map((p) => p.split('/').pop()))].sort(),
    )
    // … and a relative alias such as "../constants/errors.js" or "./subscribe.js" caught no other package's module of
    // that name (the postgres.js stand-ins only from postgres.js, the rest only from mysql2).
    for (const [stand_in, files] of importers) {
      const owner = /postgres-/.test(stand_in) ? /node_modules\/postgres\/cf\/src\// : /node_modules\/mysql2\//
      for (const file of files) expect(file, `${file} imports ${stand_in}`).toMatch(owner)
    }
  })
})
