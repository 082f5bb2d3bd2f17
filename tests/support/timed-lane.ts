/**
 * Setup file of the "timed" project (vitest.config.ts): its files run one at a time, never two at once, while the
 * rest of the suite runs beside them at a lower priority (tests/support/lower-priority.ts). Two timed files together
 * would compete for the CPU as equals, which is what makes their lease and stop timings fail.
 *
 * The lane is a directory created atomically (`mkdir` fails if it exists) holding the owner's pid; a lane whose
 * owner died (a worker killed mid-file) is taken over, so one crash cannot hang the run.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { getPriority } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, inject } from 'vitest'

const POLL_MS = 250

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function enterLane(lane: string): Promise<void> {
  for (;;) {
    try {
      await mkdir(lane)
      await writeFile(join(lane, 'owner'), String(process.pid))
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const owner = Number(await readFile(join(lane, 'owner'), 'utf8').catch(() => ''))
    // No pid yet: the owner is between mkdir and writeFile. A dead pid: its file ended without leaving the lane.
    if (owner > 0 && !isAlive(owner)) await rm(lane, { recursive: true, force: true })
    else await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

const lane = join(inject('scratchDir'), 'timed-lane')

// A timed file's worker runs at vitest's own priority; one that ran a niced file before (a worker shared between the
// projects) would make every timing below meaningless, so it says so instead.
if (getPriority() > getPriority(process.ppid)) {
  throw new Error(`a timed file runs at nice ${getPriority()}: its worker ran a niced file before (vitest.config.ts)`)
}

// Waiting may take as long as another timed file runs (the soak: ~2.5 minutes).
let entered = false
beforeAll(async () => {
  await enterLane(lane)
  entered = true
}, 15 * 60_000)
// Only the owner leaves: a file whose wait timed out must not free another file's lane.
afterAll(() => (entered ? rm(lane, { recursive: true, force: true }) : undefined))

declare module 'vitest' {
  export interface ProvidedContext {
    /** A directory of this test run's own, removed when it ends. */
    scratchDir: string
  }
}
