import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { ALL_ENGINES, isCI, selectedEngines } from './engines.js'
import { engineProblem } from './db.js'
import { writePgliteTemplate } from './pglite-template.js'
import { makeServerTemplate, type ServerTemplates } from './db-templates.js'
import { howToEnable, toolProblem, type Tool } from './prerequisites.js'
import type { Engine } from '../../db/driver.js'

const TOOLS: Tool[] = ['chromium', 'systemd-analyze', 'ffmpeg', 'proxies']

const ROOT = join(import.meta.dirname, '..', '..')

/**
 * Builds dist/ when a source is newer than it (the tests that start `npm start`, `npm run runner` or pm2's
 * command line run the compiled code, as users do), once for the whole run rather than racing in each file.
 * Probes the database engines and tools once for the whole run and says which ones the suite runs with. Without
 * CI=true a missing one skips the tests that need it, and the run names each skip and how to enable it, at the start
 * and again at the end. Under CI=true nothing may be skipped: anything missing fails the run here.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Each project of vitest.config.ts runs its global setup; the work is done once, in the main process, for both.
  const shared = globalThis as { [SHARED]?: { prepared: Promise<Prepared>; users: number } }
  const entry = (shared[SHARED] ??= { prepared: prepare(), users: 0 })
  entry.users += 1
  const { provided, teardown } = await entry.prepared
  for (const [key, value] of Object.entries(provided)) project.provide(key as keyof Provided, value)
  return async () => {
    entry.users -= 1
    if (entry.users > 0) return
    delete shared[SHARED]
    await teardown()
  }
}

const SHARED = Symbol.for('wa-gateway.test-global-setup')

type Provided = Pick<import('vitest').ProvidedContext, 'unavailableEngines' | 'missingTools' | 'pgliteTemplate' | 'serverTemplates' | 'scratchDir'>
interface Prepared {
  provided: Provided
  teardown: () => Promise<void>
}

async function prepare(): Promise<Prepared> {
  const build = spawnSync(process.execPath, [join(ROOT, 'infra/build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'inherit' })
  if (build.status !== 0) throw new Error('npm run build failed: the tests of the compiled entries cannot run')
  const unavailable: Partial<Record<Engine, string>> = {}
  const missingTools: Partial<Record<Tool, string>> = {}
  const skips: string[] = []
  const lines: string[] = []
  const selected = selectedEngines()
  for (const engine of ALL_ENGINES) {
    if (!selected.includes(engine)) {
      lines.push(`${engine}: not selected`)
      skips.push(`${engine}: not in TEST_ENGINES=${process.env.TEST_ENGINES} (to run it: add ${engine} there, or unset it)`)
      continue
    }
    const problem = await engineProblem(engine)
    if (problem) {
      unavailable[engine] = problem
      skips.push(`${engine}: ${problem} (to run it: ${howToEnable(engine as Exclude<Engine, 'pglite'>)})`)
    }
    lines.push(`${engine}: ${problem ? `UNAVAILABLE (${problem})` : 'ok'}`)
  }
  for (const tool of TOOLS) {
    const problem = toolProblem(tool)
    if (problem) {
      missingTools[tool] = problem
      skips.push(`${tool}: ${problem} (to run it: ${howToEnable(tool)})`)
    }
  }
  console.log(`database engines for this run — ${lines.join(', ')}`)
  if (isCI && skips.length > 0) {
    throw new Error(`CI=true runs everything, but these would be skipped:\n  ${skips.join('\n  ')}`)
  }
  const report = () => {
    if (skips.length) console.log(`Skipped tests need what this machine lacks:\n  ${skips.join('\n  ')}`)
  }
  report()

  const scratch = await mkdtemp(join(tmpdir(), 'wa-test-run-'))
  // Migrated templates the test databases are copied from (tests/support/db-templates.ts), made once for the run.
  const template = selected.includes('pglite') ? await writePgliteTemplate(scratch) : null
  const serverTemplates: ServerTemplates = { postgres: null, mysql: null }
  const dropTemplates: Array<() => Promise<void>> = []
  for (const engine of ['postgres', 'mysql'] as const) {
    if (!selected.includes(engine) || unavailable[engine]) continue
    const made = await makeServerTemplate(engine)
    Object.assign(serverTemplates, made.template)
    dropTemplates.push(made.drop)
  }
  return {
    provided: { unavailableEngines: unavailable, missingTools, pgliteTemplate: template, serverTemplates, scratchDir: scratch },
    async teardown() {
      report()
      for (const drop of dropTemplates) await drop().catch((err) => console.warn(`could not drop a template database: ${(err as Error).message}`))
      await rm(scratch, { recursive: true, force: true })
    },
  }
}
