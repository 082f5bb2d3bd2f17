// `npm run build`: compiles the Node entries (api/, runner/, db/, start.ts) to dist/, one JavaScript file per
// TypeScript file, and copies the files the compiled code reads at run time (the SQL migrations).
// `node infra/build.mjs --if-stale` (run before `npm start`, `npm run api`, …) builds only when a source is
// newer than the last build, so a fresh clone, a `git pull` or an edit is picked up without a separate step.
//
// esbuild, not tsc: the build only strips types (each file on its own, as tsx does for the tests), which takes
// about a second where tsc's emit took 25–40 s on the 2-core CI machine — the first `npm start` of a fresh clone
// waits for it. Checking the types is `npm run typecheck`'s job (CI runs it on every change).
// Plain JavaScript on purpose: it must run where nothing compiles TypeScript yet.
import { cpSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
const DIST = join(ROOT, 'dist')
// Written last: its age is the age of a complete build (an interrupted one leaves it missing or old).
const STAMP = join(DIST, '.build-stamp')
const SOURCES = ['api', 'runner', 'db', 'start.ts', 'tsconfig.json', 'infra/build.mjs']
// What a build writes; dist/worker (npm run build:worker) is left alone.
const OUTPUTS = ['api', 'runner', 'db', 'start.js', '.build-stamp']

/** The newest modification time among the sources, in ms. */
function newestSource(path = ROOT, names = SOURCES) {
  let newest = 0
  for (const name of names) {
    const p = join(path, name)
    const st = statSync(p, { throwIfNoEntry: false })
    if (!st) continue
    newest = Math.max(newest, st.mtimeMs, st.isDirectory() ? newestSource(p, readdirSync(p)) : 0)
  }
  return newest
}

export function isStale() {
  const built = statSync(STAMP, { throwIfNoEntry: false })
  return !built || built.mtimeMs < newestSource()
}

/** Every TypeScript file under the compiled folders (the Workers entry excepted: `npm run build:worker` bundles it). */
function entryPoints(dir = ROOT, names = ['api', 'runner', 'db', 'start.ts']) {
  const files = []
  for (const name of names) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) files.push(...entryPoints(p, readdirSync(p)))
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts') && p !== join(ROOT, 'api/worker.ts')) files.push(p)
  }
  return files
}

export async function build() {
  let esbuild
  try {
    esbuild = await import('esbuild')
  } catch (err) {
    throw new Error('dist/ is missing or older than the sources, and esbuild is not installed to build it: run `npm ci && npm run build` (then `npm prune --omit=dev` if you want the development packages gone)', { cause: err })
  }
  for (const out of OUTPUTS) rmSync(join(DIST, out), { recursive: true, force: true })
  try {
    await esbuild.build({
      entryPoints: entryPoints(),
      outdir: DIST,
      outbase: ROOT,
      // One output file per source, imports left as written (they already name the .js files).
      bundle: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // The dashboard's JSX, as tsconfig.json compiles it for the type checker and tsx.
      jsx: 'automatic',
      jsxImportSource: 'hono/jsx',
      tsconfig: join(ROOT, 'tsconfig.json'),
      logLevel: 'error',
    })
  } catch (err) {
    throw new Error(`esbuild failed (${err.message.split('\n')[0]}); dist/ was not updated`, { cause: err })
  }
  cpSync(join(ROOT, 'db/migrations'), join(DIST, 'db/migrations'), { recursive: true, filter: (src) => statSync(src).isDirectory() || src.endsWith('.sql') })
  writeFileSync(STAMP, `${new Date().toISOString()}\n`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale')
  try {
    if (!ifStale || isStale()) {
      const started = Date.now()
      if (ifStale) console.error(existsSync(STAMP) ? 'wa-gateway: sources changed; building dist/ …' : 'wa-gateway: building dist/ (first start) …')
      await build()
      console.error(`wa-gateway: built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    }
  } catch (err) {
    console.error(`wa-gateway: ${err.message}`)
    process.exit(1)
  }
}
