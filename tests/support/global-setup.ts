import type { TestProject } from 'vitest/node'
import type { Engine } from '../../db/driver.js'
import { engineProblem } from './db.js'
import { isCI, selectedEngines } from './engines.js'

/**
 * Probes the database engines once for the whole run and says which ones the suite runs on.
 * Under CI=true an unreachable engine fails the run instead of skipping its tests.
 */
export default async function setup(project: TestProject): Promise<void> {
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
