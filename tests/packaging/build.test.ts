/**
 * The build: `npm run build` compiles api/, runner/, db/ and start.ts to dist/ (infra/build.mjs), every entry script
 * runs the compiled JavaScript with plain node, and `--if-stale` rebuilds exactly when a source changed, so
 * `npm install && npm start` works on a fresh clone and after an edit or a `git pull`.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadMigrations } from '../../db/migrate.js'

const ROOT = join(import.meta.dirname, '..', '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(name) ? [p] : []
  })
}

describe('npm scripts', () => {
  it('run each entry as compiled JavaScript with node (exec: one process that gets npm\'s SIGTERM), after the build check', () => {
    const entries = { start: 'start', api: 'api/node', runner: 'runner/main', migrate: 'db/migrate-cli', maintenance: 'runner/maintenance/cli' }
    for (const [script, entry] of Object.entries(entries)) {
      expect(pkg.scripts[script]).toBe(`node infra/build.mjs --if-stale && exec node dist/${entry}.js`)
      expect(existsSync(join(ROOT, 'dist', `${entry}.js`)), entry).toBe(true)
      expect(existsSync(join(ROOT, `${entry}.ts`)), entry).toBe(true)
    }
    expect(pkg.scripts.build).toBe('node infra/build.mjs')
    // Compilers are for development; nothing compiles at run time.
    for (const tool of ['tsx', 'typescript']) {
      expect(pkg.dependencies[tool], tool).toBeUndefined()
      expect(pkg.devDependencies[tool], tool).toBeDefined()
    }
  })
})

describe('dist/', () => {
  it('imports only runtime dependencies and Node built-ins (it runs after npm ci --omit=dev)', () => {
    const js = files(join(ROOT, 'dist'), /\.js$/).filter((f) => !relative(ROOT, f).startsWith(join('dist', 'worker')))
    expect(js.length).toBeGreaterThan(50)
    const builtins = new Set(builtinModules)
    const imported = new Set<string>()
    for (const file of js) {
      const text = readFileSync(file, 'utf8')
      expect(text, file).not.toMatch(/from ['"][^'"]+\.tsx?['"]/)
      const specifiers = [
        ...text.matchAll(/^(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm),
        ...text.matchAll(/^import\s*['"]([^'"]+)['"]/gm),
        ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ]
      for (const m of specifiers) {
        const spec = m[1]!
        if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!)
      }
    }
    expect(imported.has('hono')).toBe(true)
    const notRuntime = [...imported].filter((name) => !pkg.dependencies[name])
    expect(notRuntime).toEqual([])
  })

  it('holds the SQL migrations the compiled code reads, identical to the sources', async () => {
    const compiled = (await import(pathToFileURL(join(ROOT, 'dist/db/migrate.js')).href)) as typeof import('../../db/migrate.js')
    for (const dialect of ['mysql', 'postgres'] as const) {
      const fromDist = compiled.loadMigrations(dialect)
      expect(fromDist.length).toBeGreaterThan(0)
      expect(fromDist).toEqual(loadMigrations(dialect))
    }
  })
})

describe('node infra/build.mjs --if-stale', () => {
  it('builds a fresh clone, then does nothing until a source changes, then builds again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wa-build-'))
    try {
      for (const p of ['api', 'runner', 'db', 'start.ts', 'tsconfig.json', 'package.json', 'infra/build.mjs']) {
        cpSync(join(ROOT, p), join(dir, p), { recursive: true })
      }
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
      const run = () => spawnSync(process.execPath, ['infra/build.mjs', '--if-stale'], { cwd: dir, encoding: 'utf8' })

      const first = run()
      expect(first.status, first.stderr).toBe(0)
      expect(first.stderr).toContain('building dist/ (first start)')
      expect(existsSync(join(dir, 'dist/start.js'))).toBe(true)
      expect(existsSync(join(dir, 'dist/db/migrations/postgres/0001_init.sql'))).toBe(true)

      const again = run()
      expect(again.status).toBe(0)
      expect(again.stderr).toBe('')

      // An edited (or pulled) source is newer than the build: rebuilt, and the change is in dist/.
      const source = join(dir, 'api/routes/health.ts')
      const text = readFileSync(source, 'utf8').replace("status: 'ok'", "status: 'ok-edited'")
      expect(text).toContain('ok-edited')
      writeFileSync(source, text)
      const later = new Date(Date.now() + 2000)
      utimesSync(source, later, later)
      const rebuilt = run()
      expect(rebuilt.status, rebuilt.stderr).toBe(0)
      expect(rebuilt.stderr).toContain('sources changed')
      expect(readFileSync(join(dir, 'dist/api/routes/health.js'), 'utf8')).toContain('ok-edited')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
