import { availableParallelism } from 'node:os'
import { configDefaults, defineConfig } from 'vitest/config'
import { LongestFirstSequencer } from './tests/support/sequencer.js'

/**
 * Files whose assertions are about time: runner processes with 3-second leases SIGKILLed and taken over, the
 * faults soak, and `npm start` timed to ready and stopped. They run one at a time (tests/support/timed-lane.ts) at
 * normal priority, beside the other files, which run at a lower one (tests/support/lower-priority.ts): at equal
 * priority on a 2-core machine their event loops stalled past a lease's margin (the soak saw two runners hold one
 * session, multi-process runners missed their takeover windows). The other files of tests/start (file modes, the
 * banner, the console) start the same entries but assert nothing about time.
 */
const TIMED = [
  'tests/soak/soak.test.ts',
  'tests/runner/multi-process.test.ts',
  'tests/runner/groups-kill.test.ts',
  'tests/start/npm-start.test.ts',
]

export default defineConfig({
  test: {
    globalSetup: ['tests/support/global-setup.ts'],
    // Child processes, not threads: PGlite and Baileys hold global state, and SIGKILL tests spawn children.
    pool: 'forks',
    // Files share no port, database or directory (each makes its own), so they run side by side. One more worker than
    // cores: with one per core, a sixth of the 2-core CI machine's CPU sat idle while files waited on sockets, timers
    // and child processes (CI 11 m 56 s, 18 % idle); with three, 10 m 50 s at 7 % idle. The timed files keep their
    // timings because everything else runs niced. `npm test -- --maxWorkers=1` runs the files one at a time.
    maxWorkers: availableParallelism() + 1,
    sequence: { sequencer: LongestFirstSequencer },
    // A bound on a hung test, not a claim about speed: some tests open a PGlite database in their body, which with
    // files side by side on a loaded 2-core box took over 60 s (two such tests timed out in the first parallel run).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // Both projects share one pool of workers (the same group), so a timed file runs while the others go on.
    projects: [
      {
        extends: true,
        test: {
          name: 'side-by-side',
          // One worker process runs file after file, with the modules it loaded (the setup files run again for each
          // file): starting a process and importing Baileys, PGlite and Hono for each of 120 files cost a third of
          // their CPU (tests/api alone: 95 → 62 s user CPU, 69 → 50 s). So a file must leave the process as it found
          // it: environment variables restored on process.env itself (never replaced: os.tmpdir() reads the real
          // environment), servers, timers and child processes stopped.
          isolate: false,
          include: ['tests/**/*.test.ts', 'tests/**/*.test.tsx'],
          exclude: [...configDefaults.exclude, ...TIMED],
          setupFiles: ['tests/support/signal-console.ts', 'tests/support/lower-priority.ts'],
        },
      },
      { extends: true, test: { name: 'timed', include: TIMED, setupFiles: ['tests/support/signal-console.ts', 'tests/support/timed-lane.ts'] } },
    ],
  },
})
