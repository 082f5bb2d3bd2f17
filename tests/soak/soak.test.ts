/**
 * The 2-minute variant of the soak-and-fault suite (the full one is `npm run soak`, tests/soak/cli.ts): 2 runner
 * processes with real Baileys, 10 sessions on the loopback WhatsApp server, ~300 text and image messages through the
 * HTTP API over one minute, while it SIGKILLs a runner once, cuts the database for 10 s through a TCP proxy (the
 * shared server is never stopped), drops one connection (428), restarts one stream (515), loses acks for a while,
 * restricts one session with 463 and has contacts reply STOP. Then every rule of tests/soak/report.ts must hold.
 */
import { describe, expect, it } from 'vitest'
import type { Engine } from '../../db/driver.js'
import { unavailableEngines } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import { runSoak } from './harness.js'
import { checkReport, formatReport } from './report.js'

const engine = (['mysql', 'postgres'] as Engine[]).find((e) => selectedEngines().includes(e) && !unavailableEngines()[e]) as 'mysql' | 'postgres' | undefined
const d = engine ? describe : describe.skip

d(`soak with faults, 2-minute variant [${engine ?? 'no server engine'}]`, () => {
  it('keeps every message accounted for through a SIGKILL, a database outage, 428, 515, lost acks, 463 and STOP', async () => {
    const report = await runSoak({
      engine: engine!,
      minutes: 1,
      messages: 300,
      sessions: 10,
      runners: 2,
      contacts: 40,
      stopContacts: 3,
      throttleMinMs: 300,
      throttleMaxMs: 600,
      // Production's 30 s lease with a 5 s margin, scaled down; the margin is 1 s because a runner starting several
      // Baileys sockets at once can stall its event loop that long on a busy 2-core machine (its fence timer fired
      // 0.65 s late with a 0.5 s margin), and a stall does not scale down with the lease.
      leaseTtlSeconds: 4,
      leaseRenewSeconds: 1,
      leaseFenceMarginSeconds: 1,
      killEveryMs: [30_000, 40_000],
      maxKills: 1,
      outage: { mode: 'proxy', atFraction: 0.4, durationMs: 10_000 },
      close428: 1,
      restart515: 1,
      dropAcks: 1,
      dropAcksMs: 8_000,
      nack463: true,
      drainTimeoutMs: 60_000,
      log: process.env.TEST_LOG ? (l) => console.log(l) : () => {},
    })
    const violations = checkReport(report)
    console.log(formatReport(report, violations))
    expect(report.faults.sigkill).toBe(1)
    expect(report.faults['db-down']).toBe(1)
    expect(report.faults['nack-463']).toBe(1)
    expect(violations).toEqual([])
  }, 240_000)
})
