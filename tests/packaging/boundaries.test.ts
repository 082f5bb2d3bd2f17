/**
 * The architecture's import rules, checked over every source file of the project (everything outside tests/,
 * node_modules/, dist/ and data/), static, re-exported, dynamic and type-only imports alike:
 *
 * - api/ and runner/ never import each other (they meet in db/); db/ imports neither;
 * - Baileys (`@whiskeysockets/baileys`) and libsignal only under runner/whatsapp/;
 * - the database drivers (`mysql2`, `postgres`, `@electric-sql/pglite`) only under db/drivers/;
 * - start.ts, at the top, is `npm start`'s composition and may import both api/ and runner/.
 *
 * Tests are exempt: they drive every side (the loopback server itself speaks Baileys).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative, sep } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scanImports } from '../support/import-scan.js'

const ROOT = join(import.meta.dirname, '..', '..')
const SKIPPED = new Set(['node_modules', 'tests', 'dist', 'data', '.git'])
const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs|jsx)$/

function sourceFiles(dir = ROOT): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || (dir === ROOT && SKIPPED.has(entry.name))) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...sourceFiles(path))
    else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(relative(ROOT, path).split(sep).join('/'))
  }
  return out
}

/** A relative specifier as a repository path (`api/x.js`); a package name as itself. */
function target(file: string, specifier: string): { kind: 'file'; path: string } | { kind: 'package'; name: string } {
  if (specifier.startsWith('.')) return { kind: 'file', path: normalize(join(dirname(file), specifier)).split(sep).join('/') }
  const parts = specifier.split('/')
  return { kind: 'package', name: specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]! }
}

const topOf = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : '.')

const PACKAGE_HOMES: Record<string, string> = {
  '@whiskeysockets/baileys': 'runner/whatsapp/',
  libsignal: 'runner/whatsapp/',
  mysql2: 'db/drivers/',
  postgres: 'db/drivers/',
  '@electric-sql/pglite': 'db/drivers/',
}

/** What `file` may not import, or null when the import is fine. */
function violation(file: string, specifier: string): string | null {
  const to = target(file, specifier)
  if (to.kind === 'package') {
    const home = PACKAGE_HOMES[to.name]
    return home && !file.startsWith(home) ? `${to.name} is imported only under ${home}` : null
  }
  if (to.path.startsWith('..')) return 'imports from outside the repository'
  const from = topOf(file)
  const into = topOf(to.path)
  if (from === 'api' && into === 'runner') return 'api/ never imports runner/ (they meet in db/)'
  if (from === 'runner' && into === 'api') return 'runner/ never imports api/ (they meet in db/)'
  if (from === 'db' && (into === 'api' || into === 'runner')) return `db/ is imported by api/ and runner/, never the other way (${into}/)`
  return null
}

describe('the import scanner', () => {
  it('finds every kind of import and nothing that only mentions one', () => {
    const source = [
      "import a from './a.js'",
      "import type { B } from '../b.js'",
      "import { type C, d as e } from 'pkg-c'",
      "import * as f from '@scope/f/sub'",
      "import './side-effect.js'",
      "export { g } from './g.js'",
      'export * from "./h.js"',
      "export type { I } from './i.js'",
      'const j = await import(\'./j.js\')',
      "const k = require('k')",
      "// import x from 'in-a-comment'",
      "/* import y from 'in-a-block' */",
      "const s = \"import z from 'in-a-string'\"",
      "const t = `import w from 'in-a-template' ${\"x\"}`",
      "const r = /import v from 'in-a-regex'/",
      'const url = import.meta.url',
      'export { local }',
      "import { after } from './after.js'",
      'const dyn = await import(name)',
    ].join('\n')
    const { imports, uncheckable } = scanImports(source)
    expect(imports.map((i) => [i.specifier, i.kind])).toEqual([
      ['./a.js', 'static'],
      ['../b.js', 'static'],
      ['pkg-c', 'static'],
      ['@scope/f/sub', 'static'],
      ['./side-effect.js', 'static'],
      ['./g.js', 'export-from'],
      ['./h.js', 'export-from'],
      ['./i.js', 'export-from'],
      ['./j.js', 'dynamic'],
      ['k', 'require'],
      ['./after.js', 'static'],
    ])
    expect(uncheckable).toEqual([19])
  })

  it('judges each rule', () => {
    expect(violation('api/worker.ts', '../runner/maintenance/jobs.js')).toMatch(/api\/ never imports runner/)
    expect(violation('runner/x/y.ts', '../../api/config.js')).toMatch(/runner\/ never imports api/)
    expect(violation('db/queries/q.ts', '../../runner/config.js')).toMatch(/db\//)
    expect(violation('api/worker.ts', '../db/maintenance/jobs.js')).toBeNull()
    expect(violation('start.ts', './runner/embedded.js')).toBeNull()
    expect(violation('start.ts', './api/embedded.js')).toBeNull()
    expect(violation('runner/runner.ts', '@whiskeysockets/baileys')).toMatch(/runner\/whatsapp/)
    expect(violation('runner/whatsapp/client.ts', '@whiskeysockets/baileys/lib/Utils/index.js')).toBeNull()
    expect(violation('api/app.ts', 'mysql2/promise')).toMatch(/db\/drivers/)
    expect(violation('db/index.ts', '@electric-sql/pglite')).toMatch(/db\/drivers/)
    expect(violation('db/drivers/pglite.ts', '@electric-sql/pglite')).toBeNull()
  })
})

describe('import boundaries of the source tree', () => {
  const files = sourceFiles()
  const scanned = files.map((file) => ({ file, ...scanImports(readFileSync(join(ROOT, file), 'utf8')) }))

  it('scans the whole tree (the rules below are not checked over nothing)', () => {
    expect(files.length).toBeGreaterThan(100)
    for (const top of ['api/', 'runner/', 'db/', 'infra/']) expect(files.some((f) => f.startsWith(top))).toBe(true)
    expect(files).toContain('start.ts')
    const importsOf = (file: string) => scanned.find((s) => s.file === file)!.imports.map((i) => i.specifier)
    expect(importsOf('start.ts')).toEqual(expect.arrayContaining(['./api/embedded.js', './runner/embedded.js']))
    expect(importsOf('db/drivers/mysql.ts').some((s) => s.startsWith('mysql2'))).toBe(true)
    expect(importsOf('runner/whatsapp/client.ts')).toContain('@whiskeysockets/baileys')
  })

  it('has no import that crosses a boundary', () => {
    const found = scanned.flatMap(({ file, imports }) =>
      imports.flatMap((i) => {
        const why = violation(file, i.specifier)
        return why ? [`${file}:${i.line} imports ${i.specifier}: ${why}`] : []
      }),
    )
    expect(found).toEqual([])
  })

  it('has no dynamic import it cannot check', () => {
    const found = scanned.flatMap(({ file, uncheckable }) => uncheckable.map((line) => `${file}:${line}`))
    expect(found).toEqual([])
  })
})
