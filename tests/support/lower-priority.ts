/**
 * Setup file of the "side-by-side" project (vitest.config.ts): this test file's process, and every process it
 * starts (runners, servers, browsers inherit it), runs at a lower CPU priority (nice 10).
 *
 * Why: the files of the "timed" project assert things that hold only when their processes get the CPU on time —
 * runners with 3-second leases SIGKILLed and taken over, the faults soak, `npm start` timed to ready and stopped.
 * Beside other files at equal priority on a 2-core machine their event loops stalled past a lease's margin, so they
 * used to run after everything else, one at a time, with a core idle (about 4 of CI's 10 minutes). With the other
 * files niced, the scheduler gives a timed file's processes the CPU whenever they want it, and the rest of the suite
 * uses what they leave. Raising one's own nice value needs no privilege; nothing here can lower it again.
 */
import { setPriority } from 'node:os'

setPriority(10)
