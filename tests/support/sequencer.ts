import { relative } from 'node:path'
import { BaseSequencer, type TestSpecification } from 'vitest/node'

/**
 * The files that take minutes, in the order they start. The test files run side by side, so the run lasts at least
 * as long as its longest file: starting these first lets the short files fill in around them instead of one of these
 * starting last. Vitest orders by the durations it cached on an earlier run, but a fresh clone (CI) has none.
 * The timed files (vitest.config.ts) run one at a time: the soak starts beside the PGlite proof, which works in its
 * own process, rather than beside the two server-engine proofs that keep the database servers busy; the multi-process
 * runners come a few short files later, as the soak ends (a worker that took them at once would sit waiting for the
 * lane), the group kills and `npm start` later still, so that a timed file rarely waits for the lane.
 */
export const LONGEST_FIRST = [
  'tests/db/concurrency-pglite.test.ts',
  'tests/soak/soak.test.ts',
  'tests/dashboard/browser.test.ts',
  'tests/runner/fake-queue.test.ts',
  'tests/runner/document-kill.test.ts',
  'tests/runner/multi-process.test.ts',
  'tests/db/concurrency-mysql.test.ts',
  'tests/db/concurrency-postgres.test.ts',
  'tests/runner/groups-kill.test.ts',
  'tests/db/queue.test.ts',
  'tests/db/webhooks.test.ts',
  'tests/start/npm-start.test.ts',
  'tests/api/batch-image.test.ts',
  'tests/maintenance/jobs.test.ts',
  // Files of 15–40 s, ahead of the hundred short ones: the last of them ran alone at the end of the run, one core idle.
  'tests/runner/presence-e2e-pglite.test.ts',
  'tests/db/message-controls.test.ts',
  'tests/api/contacts.test.ts',
  'tests/runner/pairing-limits-e2e.test.ts',
  'tests/hostile/sign-in-wire.test.ts',
  'tests/wa-loopback/many-sessions.test.ts',
  'tests/db/cron.test.ts',
  'tests/db/explain-scale.test.ts',
  'tests/start/data-dir-permissions.test.ts',
  'tests/packaging/runner-process.test.ts',
  'tests/runner/number-check-e2e.test.ts',
  'tests/hostile/hostile.test.ts',
]

export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const rank = (spec: TestSpecification) => {
      const i = LONGEST_FIRST.indexOf(relative(spec.project.config.root, spec.moduleId).split('\\').join('/'))
      return i === -1 ? LONGEST_FIRST.length : i
    }
    // Array.prototype.sort is stable: the other files keep the base sequencer's order.
    return sorted.sort((a, b) => rank(a) - rank(b))
  }
}
