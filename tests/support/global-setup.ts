import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import type { Engine } from '../../db/driver.js'
import { engineProblem } from './db.js'
import { isCI, selectedEngines } from './engines.js'

const ROOT = join(import.meta.dirname, '..', '..')

/**
 * Builds dist/ when a source is newer than it (the tests that start `npm start`, `npm run runner` or pm2's
 * command line run the compiled code, as users do), once for the whole run rather than racing in each file.
 * Probes the database engines once for the whole run and says which ones the suite runs on.
 * Under CI=true an unreachable engine fails the run instead of skipping its tests.
 */
export default async function setup(project: TestProject): Promise<void> {
  const build = spawnSync(process.execPath, [join(ROOT, 'infra/build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'inherit' })
  if (build.status !== 0) throw new Error('npm run build failed: the tests of the compiled entries cannot run')
  const unavailable: Partial<Record<Engine, string>> = {}
  const lines: string[] = []
  for (const engine of selectedEngines()) {
    const problem = await engineProblem(engine)
    if (problem) unavailable[engine] = problem
    lines.push(`${engine}: ${problem ? `UNAVAILABLE (${problem})` : 'ok'}`)
  }
  console.log(`database engines for this run — ${lines.join(', ')}`)
  if (isCI && Object.keys(unavailable).length > 0) {
    throw new Error(`CI=true requires every database engine; unreachable: ${Object.keys(unavailable).join(', ')}`)
  }
  project.provide('unavailableEngines', unavailable)
}
