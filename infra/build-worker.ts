/**
 * `npm run build:worker [-- --outdir <dir>]`: bundles `api/worker.ts` for Cloudflare Workers with
 * `wrangler deploy --dry-run --outdir` (no account needed, nothing uploaded) and prints the bundle
 * size, raw and gzipped. The edge tests build through `buildWorker()` too.
 *
 * Wrangler runs quietly and non-interactively: no telemetry, no account lookups, and no
 * stdin, so a start-up error cannot leave it waiting at a "report this error?" prompt.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'

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

export interface BuiltWorker {
  outdir: string
  /** The bundle's main module. */
  script: string
  rawBytes: number
  gzipBytes: number
}

/** Runs wrangler's dry-run bundler into `outdir` and measures the result. */
export async function buildWorker(options: { outdir?: string; config?: string } = {}): Promise<BuiltWorker> {
  const outdir = resolve(options.outdir ?? join(ROOT, 'dist', 'worker'))
  const wrangler = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
  const args = [wrangler, 'deploy', '--dry-run', '--outdir', outdir, '--config', options.config ?? WRANGLER_CONFIG]
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
  return { outdir, script, rawBytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length }
}

export const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--outdir')
  const outdir = i > 0 ? process.argv[i + 1] : undefined
  try {
    const built = await buildWorker({ outdir })
    const shown = relative(process.cwd(), built.script)
    console.log(`worker bundle: ${shown.startsWith('..') ? built.script : shown}`)
    console.log(`  raw  ${kib(built.rawBytes)}`)
    console.log(`  gzip ${kib(built.gzipBytes)}`)
  } catch (err) {
    console.error(`build:worker failed: ${(err as Error).message}`)
    process.exit(1)
  }
}
