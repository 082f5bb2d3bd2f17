/**
 * `npm run build:worker [-- --outdir <dir>]`: bundles `api/worker.ts` for Cloudflare Workers with
 * `wrangler deploy --dry-run --outdir` (no account needed, nothing uploaded) and prints the bundle
 * size, raw and gzipped, against the limit, with the modules that weigh most (from esbuild's metafile).
 * The edge tests build through `buildWorker()` too.
 *
 * Wrangler runs quietly and non-interactively: no telemetry, no account lookups, and no
 * stdin, so a start-up error cannot leave it waiting at a "report this error?" prompt.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { createApp } from '../api/app.js'
import { REFERENCE_PARTS } from '../api/app-core.js'
import { DASHBOARD_ASSETS } from '../api/dashboard/asset-files.js'
import { parseApiConfig } from '../api/config.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const WRANGLER_CONFIG = join(ROOT, 'infra', 'wrangler.toml')

/** Environment that keeps wrangler offline and silent. */
export const QUIET_WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  // No colours or update banner in logs.
  FORCE_COLOR: '0',
  WRANGLER_LOG: 'warn',
} as const

/**
 * The most the worker bundle may weigh, gzipped (tests/edge/worker.test.ts). Every request of a cold isolate waits
 * for the script to load, and the bundle was once 386 KiB, mostly code the edge never runs (infra/wrangler.toml [alias]).
 */
export const WORKER_GZIP_LIMIT = 150 * 1024

export interface BuiltWorker {
  outdir: string
  /** The bundle's main module. */
  script: string
  rawBytes: number
  gzipBytes: number
  /** esbuild's metafile of the build: every input module, what it imports and its bytes in the output. */
  metafile: string
}

/** One input module's share of the minified bundle. */
export interface BundleInput {
  path: string
  bytes: number
}

interface Metafile {
  inputs: Record<string, { imports: Array<{ path: string; original?: string }> }>
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>
}

export function readMetafile(built: BuiltWorker): Metafile {
  return JSON.parse(readFileSync(built.metafile, 'utf8')) as Metafile
}

/** The bundle's input modules, largest first, by their bytes in the minified script. */
export function largestInputs(built: BuiltWorker): BundleInput[] {
  const meta = readMetafile(built)
  const script = Object.entries(meta.outputs).find(([name]) => name.endsWith('worker.js'))?.[1]
  if (!script) return []
  return Object.entries(script.inputs)
    // Paths are relative to infra/ (wrangler's working directory): shown from the repository root instead.
    .map(([path, v]) => ({ path: path.replace(/^(\.\.\/)+/, '').replace(/^.*node_modules\//, 'node_modules/'), bytes: v.bytesInOutput }))
    .sort((a, b) => b.bytes - a.bytes)
}

/**
 * The `[alias]` table of infra/wrangler.toml (import specifier → stand-in), with absolute paths, for other
 * wrangler configurations that bundle the same code (the dashboard's workerd test). Each line is `"key" = "path"`.
 */
export function workerAliases(config = WRANGLER_CONFIG): Record<string, string> {
  const section = /^\[alias\]\n([\s\S]*?)(?=^\[)/m.exec(readFileSync(config, 'utf8'))?.[1] ?? ''
  const aliases: Record<string, string> = {}
  for (const m of section.matchAll(/^"([^"]+)"\s*=\s*"([^"]+)"/gm)) aliases[m[1]!] = resolve(dirname(config), m[2]!)
  return aliases
}

/**
 * The worker's static assets (`[assets]` of infra/wrangler.toml): the API reference's files and the dashboard's
 * stylesheet and scripts, which the worker serves instead of carrying them in its script.
 */
export const WORKER_ASSETS = join(ROOT, 'dist', 'worker-assets')

/** The `[vars]` table of a wrangler configuration: the worker's plain settings. */
export function workerVars(config = WRANGLER_CONFIG): Record<string, string> {
  const section = /^\[vars\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(readFileSync(config, 'utf8'))?.[1] ?? ''
  const vars: Record<string, string> = {}
  for (const m of section.matchAll(/^([A-Z0-9_]+)\s*=\s*"([^"]*)"/gm)) vars[m[1]!] = m[2]!
  return vars
}

/** The app route each part of the reference answers (its file name in the assets is REFERENCE_PARTS's). */
const REFERENCE_ROUTES = { document: '/api/openapi.json', page: '/docs', stylesheet: '/docs/style.css' } as const

/** Every file of the worker's static assets, by the app route whose answer it holds. */
export const WORKER_ASSET_ROUTES: ReadonlyArray<{ path: string; file: string }> = [
  ...(Object.keys(REFERENCE_ROUTES) as (keyof typeof REFERENCE_ROUTES)[]).map((part) => ({ path: REFERENCE_ROUTES[part], file: REFERENCE_PARTS[part].file })),
  ...Object.values(DASHBOARD_ASSETS).map(({ path, file }) => ({ path: `/dashboard${path}`, file })),
]

/**
 * Writes the worker's static assets as the Node app answers them with the worker's [vars]: `/api/openapi.json`,
 * `/docs` and its stylesheet (limits such as MESSAGE_MAX_CHARS appear in the document), generated from the same route
 * declarations, and the dashboard's stylesheet and scripts, from the same text. The worker serves them from its
 * static assets, so neither the generator nor that text is in its script. The key is a stand-in for the request; no
 * key appears in any of them.
 */
export async function writeWorkerAssets(config = WRANGLER_CONFIG, dir = WORKER_ASSETS): Promise<void> {
  const key = 'assets-build-stand-in-key'
  const app = createApp({
    config: parseApiConfig({ ...workerVars(config), API_SECRET: key }),
    database: () => Promise.reject(new Error('the static assets read no database')),
  })
  for (const { path, file } of WORKER_ASSET_ROUTES) {
    const res = await app.request(path, { headers: { 'X-API-Key': key } })
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`)
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    writeFileSync(join(dir, file), await res.text())
  }
}

/** Runs wrangler's dry-run bundler into `outdir` (after writing the worker's static assets) and measures the result. */
export async function buildWorker(options: { outdir?: string; config?: string } = {}): Promise<BuiltWorker> {
  const outdir = resolve(options.outdir ?? join(ROOT, 'dist', 'worker'))
  const wrangler = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
  const metafile = join(outdir, 'bundle-meta.json')
  await writeWorkerAssets()
  const args = [wrangler, 'deploy', '--dry-run', '--outdir', outdir, '--metafile', metafile, '--config', options.config ?? WRANGLER_CONFIG]
  const output = await new Promise<string>((done, fail) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...QUIET_WRANGLER_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let text = ''
    child.stdout.on('data', (d) => (text += d))
    child.stderr.on('data', (d) => (text += d))
    child.on('error', fail)
    child.on('close', (code) => (code === 0 ? done(text) : fail(new Error(`wrangler exited with ${code}:\n${text}`))))
  })
  const script = join(outdir, 'worker.js')
  let bytes: Buffer
  try {
    bytes = readFileSync(script)
  } catch {
    throw new Error(`wrangler did not write ${script}:\n${output}`)
  }
  return { outdir, script, rawBytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length, metafile }
}

export const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--outdir')
  const outdir = i > 0 ? process.argv[i + 1] : undefined
  try {
    const built = await buildWorker({ outdir })
    const shown = relative(process.cwd(), built.script)
    console.log(`worker bundle: ${shown.startsWith('..') ? built.script : shown}`)
    console.log(`  raw  ${kib(built.rawBytes)} (minified)`)
    const verdict = built.gzipBytes <= WORKER_GZIP_LIMIT ? 'within' : 'OVER'
    console.log(`  gzip ${kib(built.gzipBytes)} (${verdict} the ${kib(WORKER_GZIP_LIMIT)} limit)`)
    console.log('  largest modules (minified):')
    for (const input of largestInputs(built).slice(0, 10)) console.log(`    ${kib(input.bytes).padStart(10)}  ${input.path}`)
    if (built.gzipBytes > WORKER_GZIP_LIMIT) process.exitCode = 1
  } catch (err) {
    console.error(`build:worker failed: ${(err as Error).message}`)
    process.exit(1)
  }
}
