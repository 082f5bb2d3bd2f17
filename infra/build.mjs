// `npm run build`: compiles the Node entries (api/, runner/, db/, start.ts) to dist/ with the project's own
// TypeScript, and copies the files the compiled code reads at run time (the SQL migrations).
// `node infra/build.mjs --if-stale` (run before `npm start`, `npm run api`, …) builds only when a source is
// newer than the last build, so a fresh clone, a `git pull` or an edit is picked up without a separate step.
//
// Plain JavaScript on purpose: it must run where nothing compiles TypeScript yet.
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
const DIST = join(ROOT, 'dist')
// Written last: its age is the age of a complete build (an interrupted one leaves it missing or old).
const STAMP = join(DIST, '.build-stamp')
const SOURCES = ['api', 'runner', 'db', 'start.ts', 'tsconfig.json', 'infra/tsconfig.build.json', 'infra/build.mjs']
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

export function build() {
  let tsc
  try {
    tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc')
  } catch {
    throw new Error('dist/ is missing or older than the sources, and TypeScript is not installed to build it: run `npm ci && npm run build` (then `npm prune --omit=dev` if you want the development packages gone)')
  }
  for (const out of OUTPUTS) rmSync(join(DIST, out), { recursive: true, force: true })
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'infra/tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' })
  if (result.status !== 0) throw new Error(`TypeScript failed (exit ${result.status ?? result.signal}); dist/ was not updated`)
  cpSync(join(ROOT, 'db/migrations'), join(DIST, 'db/migrations'), { recursive: true, filter: (src) => statSync(src).isDirectory() || src.endsWith('.sql') })
  writeFileSync(STAMP, `${new Date().toISOString()}\n`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale')
  try {
    if (!ifStale || isStale()) {
      const started = Date.now()
      if (ifStale) console.error(existsSync(STAMP) ? 'wa-gateway: sources changed; building dist/ …' : 'wa-gateway: building dist/ (first start) …')
      build()
      console.error(`wa-gateway: built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    }
  } catch (err) {
    console.error(`wa-gateway: ${err.message}`)
    process.exit(1)
  }
}
