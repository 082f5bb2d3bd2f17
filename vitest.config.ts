import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'
import { LongestFirstSequencer } from './tests/support/sequencer.js'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'tests/**/*.test.tsx'],
    globalSetup: ['tests/support/global-setup.ts'],
    // Separate processes: PGlite and Baileys hold global state, and SIGKILL tests spawn children.
    pool: 'forks',
    // Files share no port, database or directory (each makes its own), so they run side by side. Most of a file's
    // time is waiting (on database commits, child processes, throttle gaps), so twice as many files as cores keep
    // the cores busy; vitest's default (cores - 1) runs one file at a time on a 2-core CI box. The cap keeps the
    // connections the files open well under the database servers' limits.
    maxWorkers: Math.min(6, 2 * availableParallelism()),
    sequence: { sequencer: LongestFirstSequencer },
    // A bound on a hung test, not a claim about speed: some tests open a PGlite database in their body, which with
    // files side by side on a loaded 2-core box took over 60 s (two such tests timed out in the first parallel run).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
})
