/**
 * The queue under concurrent runners: exactly once, ≤ 1 `sending` per session, and the throttle gap
 * per session, including across a takeover after a crash.
 *
 * Runners are in-process `SimRunner`s, each on its own pool (independent connections) on MariaDB and PostgreSQL.
 * PGlite has one connection, so there the same runners share it and interleave as concurrent in-process claimers.
 *
 * Sizing. 20 sessions × 2,000 messages at a 50 ms minimum gap would take ≥ 2,000 × 50 ms = 100 s however many
 * runners there are (the gap is per session). So exactly-once runs with the gap set to 0, and the gap is proven in
 * a separate run of 20 sessions × 25 messages with a 50–100 ms drawn gap, a runner crash and a takeover.
 * Even at gap 0, claim + finalize is two fsynced commits per message: on the 2-CPU CI box that is ~500 msg/s on
 * MariaDB, ~700 on PostgreSQL and ~330 on PGlite with 20 loops, so the full 40,000 take 1–2 minutes per engine
 * (measured: 48 s MariaDB, 36 s PostgreSQL, 114 s PGlite). That is the default, the size the foundation issue asks
 * for; QUEUE_SOAK_PER_SESSION=500 runs a quicker 10,000 locally.
 *
 * One test file per engine (concurrency-<engine>.test.ts) runs this suite, so the three engines' minutes run side by
 * side in the parallel test run instead of one after another.
 */
import { describe, expect, it } from 'vitest'
import type { Db, Engine, Queryable } from '../../db/driver.js'
import type { ClaimedMessage } from '../../db/lifecycle/claim.js'
import { describeEachEngine, type EngineContext } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import { dbNow, fakeWaId, insertMessages, insertSessions } from '../support/queue-fixtures.js'
import { SimRunner } from '../support/queue-runner.js'

interface SendLog {
  id: number
  session: string
  waMessageId: string
  owner: string
  epoch: number
  at: Date | null
}

const SOAK_SESSIONS = 20
const SOAK_PER_SESSION = Number(process.env.QUEUE_SOAK_PER_SESSION ?? 2000)

const SAMPLE_DOUBLE_SENDING = `SELECT session FROM messages WHERE status = 'sending' GROUP BY session HAVING COUNT(*) > 1`

/** Every 10 ms, asks the database for a session with two `sending` rows, until stopped. */
function startSampler(db: Queryable): { stop: () => Promise<{ samples: number; violations: string[] }> } {
  let running = true
  let samples = 0
  const violations: string[] = []
  const done = (async () => {
    while (running) {
      const rows = await db.query<{ session: string }>(SAMPLE_DOUBLE_SENDING)
      samples += 1
      for (const r of rows) violations.push(r.session)
      await new Promise((r) => setTimeout(r, 10))
    }
  })()
  return {
    async stop() {
      running = false
      await done
      return { samples, violations }
    },
  }
}

/** Acquire ticks across runners in turn until every session is held (or nobody takes anything). */
async function distribute(runners: SimRunner[]): Promise<void> {
  for (;;) {
    let taken = 0
    for (const r of runners) taken += await r.acquireTick()
    if (taken === 0) return
  }
}

/** Per session, the smallest time between consecutive values of `column` (µs, by the database). */
async function minGapMicros(db: Queryable, column: 'claimed_at' | 'sent_at', sessionPrefix: string): Promise<number | null> {
  const diff =
    db.dialect === 'mysql'
      ? `TIMESTAMPDIFF(MICROSECOND, prev, ${column})`
      : `extract(epoch FROM ${column} - prev) * 1000000`
  const p = db.dialect === 'mysql' ? '?' : '$1'
  const [row] = await db.query<{ g: unknown }>(
    `SELECT MIN(${diff}) AS g FROM (
       SELECT ${column}, LAG(${column}) OVER (PARTITION BY session ORDER BY ${column}) AS prev
         FROM messages WHERE session LIKE ${p} AND ${column} IS NOT NULL) x
      WHERE prev IS NOT NULL`,
    [`${sessionPrefix}%`],
  )
  return row?.g === null || row?.g === undefined ? null : Number(row.g)
}

/** Per session, consecutive claims never overlap: each claim starts after the previous one was finalized. */
async function overlappingClaims(db: Queryable, sessionPrefix: string): Promise<number> {
  const p = db.dialect === 'mysql' ? '?' : '$1'
  const [row] = await db.query<{ n: unknown }>(
    `SELECT COUNT(*) AS n FROM (
       SELECT claimed_at, LAG(sent_at) OVER (PARTITION BY session ORDER BY claimed_at) AS prev_sent
         FROM messages WHERE session LIKE ${p}) x
      WHERE prev_sent IS NOT NULL AND claimed_at < prev_sent`,
    [`${sessionPrefix}%`],
  )
  return Number(row!.n)
}

async function statusCounts(db: Queryable, sessionPrefix: string): Promise<Record<string, number>> {
  const p = db.dialect === 'mysql' ? '?' : '$1'
  const rows = await db.query<{ status: string; n: unknown }>(`SELECT status, COUNT(*) AS n FROM messages WHERE session LIKE ${p} GROUP BY status`, [`${sessionPrefix}%`])
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]))
}

async function runnerPools(ctx: EngineContext, n: number, poolSize: number): Promise<Db[]> {
  if (ctx.engine === 'pglite') return Array(n).fill(ctx.db)
  return Promise.all(Array.from({ length: n }, () => ctx.t.openAnother({ poolSize })))
}

/** The suite on `engine` (skipped, with the reason, when TEST_ENGINES leaves it out). */
export function describeConcurrentRunners(engine: Engine): void {
  if (!selectedEngines().includes(engine)) {
    describe.skip(`queue under concurrent runners [${engine}: not in TEST_ENGINES]`, () => {})
    return
  }
  describeEachEngine('queue under concurrent runners', suite, { engines: [engine] })
}

function suite(ctx: EngineContext): void {
  it(`claims each of ${SOAK_SESSIONS * SOAK_PER_SESSION} messages exactly once across 4 runners × ${SOAK_SESSIONS} sessions, never two sending rows in a session (gap 0)`, async () => {
    const SESSIONS = SOAK_SESSIONS
    const PER_SESSION = SOAK_PER_SESSION
    const prefix = 'x1_'
    const sessions = Array.from({ length: SESSIONS }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`)
    await insertSessions(ctx.db, sessions)
    // Only these sessions are acquirable: park `default`.
    await ctx.db.execute(`UPDATE sessions SET owner = 'parked', lease_until = '2999-01-01 00:00:00' WHERE name = 'default'`)
    const seeds = sessions.flatMap((session) => Array.from({ length: PER_SESSION }, (_, k) => ({ session, phone: `9617${String(k).padStart(7, '0')}`, availableInMs: -1_000 })))
    await insertMessages(ctx.db, seeds)

    const log: SendLog[] = []
    const errors: unknown[] = []
    const pools = await runnerPools(ctx, 4, 6)
    // Two samplers. In-band: every 10th send checks while its own row is `sending` (on PGlite the only kind that can
    // run: back-to-back PGlite calls resolve as microtasks, so no timer fires until the runners pause). Out-of-band,
    // server engines only: an independent connection every 10 ms.
    const inBand = { samples: 0, violations: [] as string[] }
    let sends = 0
    const runners = pools.map(
      (db, i) =>
        new SimRunner({
          db, owner: `runner-${i}`, capacity: 5, ttlSeconds: 600, gapMinMs: 0, gapMaxMs: 0, stopWhenIdle: true,
          newWaId: fakeWaId, onError: (e) => errors.push(e),
          send: async (m: ClaimedMessage, owner) => {
            log.push({ id: m.id, session: m.session, waMessageId: m.waMessageId, owner, epoch: m.claimEpoch, at: null })
            if (++sends % 10 === 0) {
              inBand.samples += 1
              for (const r of await db.query<{ session: string }>(SAMPLE_DOUBLE_SENDING)) inBand.violations.push(r.session)
            }
          },
        }),
    )
    const sampler = ctx.engine === 'pglite' ? null : startSampler(await ctx.t.openAnother({ poolSize: 1 }))
    const started = Date.now()
    await distribute(runners)
    expect(runners.map((r) => r.owned.size)).toEqual([5, 5, 5, 5])
    await Promise.all(runners.map((r) => r.drained()))
    const elapsed = Date.now() - started
    const outOfBand = (await sampler?.stop()) ?? { samples: 0, violations: [] }
    await Promise.all(runners.map((r) => r.stop()))

    expect(errors).toEqual([]) // markSending never raised a unique violation, nothing else failed
    expect(inBand.violations).toEqual([])
    expect(outOfBand.violations).toEqual([])
    expect(inBand.samples).toBeGreaterThan(100)
    if (ctx.engine !== 'pglite') expect(outOfBand.samples).toBeGreaterThan(100)
    const total = SESSIONS * PER_SESSION
    expect(log).toHaveLength(total)
    expect(new Set(log.map((l) => l.id)).size).toBe(total)
    expect(new Set(log.map((l) => l.waMessageId)).size).toBe(total)
    expect(await statusCounts(ctx.db, prefix)).toEqual({ sent: total })
    const [attempts] = await ctx.db.query<{ lo: unknown; hi: unknown }>(`SELECT MIN(attempts) AS lo, MAX(attempts) AS hi FROM messages WHERE session LIKE 'x1_%'`)
    expect([Number(attempts!.lo), Number(attempts!.hi)]).toEqual([1, 1])
    expect(await overlappingClaims(ctx.db, prefix)).toBe(0)
    console.log(`[${ctx.engine}] exactly-once run: ${total} messages in ${elapsed} ms (${Math.round(total / (elapsed / 1000))} msg/s), ${inBand.samples} + ${outOfBand.samples} samples`)
  }, 600_000)

  it('keeps sends of each session at least the 50 ms minimum apart (50–100 ms drawn gap), across a crash and takeover', async () => {
    const SESSIONS = 20
    const PER_SESSION = 25
    const GAP_MIN = 50
    const prefix = 'g1_'
    const sessions = Array.from({ length: SESSIONS }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`)
    await insertSessions(ctx.db, sessions)
    await insertMessages(ctx.db, sessions.flatMap((session) => Array.from({ length: PER_SESSION }, () => ({ session, availableInMs: -1_000 }))))
    // The first test's sessions are drained but still acquirable: park everything that is not ours.
    await ctx.db.execute(`UPDATE sessions SET owner = 'parked', lease_until = '2999-01-01 00:00:00' WHERE name NOT LIKE 'g1_%'`)

    const log: SendLog[] = []
    const errors: unknown[] = []
    const pools = await runnerPools(ctx, 4, 6)
    const clockDb = ctx.engine === 'pglite' ? ctx.db : await ctx.t.openAnother({ poolSize: 2 })
    const runners = pools.map(
      (db, i) =>
        new SimRunner({
          db, owner: `gap-runner-${i}`, capacity: 7, ttlSeconds: 2, gapMinMs: GAP_MIN, gapMaxMs: 100, stopWhenIdle: false, idleMs: 20,
          newWaId: fakeWaId, onError: (e) => errors.push(e),
          send: async (m: ClaimedMessage, owner) => {
            // The fake transport stamps each send with the database clock, on its own connection.
            log.push({ id: m.id, session: m.session, waMessageId: m.waMessageId, owner, epoch: m.claimEpoch, at: await dbNow(clockDb) })
          },
        }),
    )
    // Round-robin acquire ticks (≤ 2 each): 6, 6, 4, 4 sessions; capacity 7 leaves the survivors room for a takeover.
    await distribute(runners)
    expect(runners.map((r) => r.owned.size)).toEqual([6, 6, 4, 4])

    const victim = runners.find((r) => r.owned.size > 0)!
    const victimSessions = [...victim.owned.keys()]
    const survivors = runners.filter((r) => r !== victim)
    // Background ticks for the survivors: renew every 300 ms, acquire every 100 ms (they take over the victim's sessions).
    let ticking = true
    const ticks = (async () => {
      let n = 0
      while (ticking) {
        for (const r of survivors) {
          if (n % 3 === 0) await r.renewTick()
          await r.acquireTick()
        }
        n += 1
        await new Promise((res) => setTimeout(res, 100))
      }
    })()
    // Crash the victim once it has sent a few messages.
    await waitForCondition(() => log.filter((l) => l.owner === victim.owner).length >= 10)
    victim.crash()
    const crashedAt = log.length

    const expected = SESSIONS * PER_SESSION
    await waitForCondition(async () => (await statusCounts(ctx.db, prefix)).sent === expected, 60_000)
    ticking = false
    await ticks
    await Promise.all(survivors.map((r) => r.stop()))
    await victim.stop()

    expect(errors).toEqual([])
    expect(crashedAt).toBeLessThan(expected)
    expect(await statusCounts(ctx.db, prefix)).toEqual({ sent: expected })
    // The victim's sessions were taken over with a higher epoch.
    const taken = log.filter((l) => victimSessions.includes(l.session) && l.owner !== victim.owner)
    expect(taken.length).toBeGreaterThan(0)
    // At-least-once across the crash: a copy is added only under the same WhatsApp id, at most once.
    const copies = new Map<string, number>()
    for (const l of log) copies.set(l.waMessageId, (copies.get(l.waMessageId) ?? 0) + 1)
    expect(Math.max(...copies.values())).toBeLessThanOrEqual(2)
    expect(new Set(log.map((l) => l.id)).size).toBe(expected)

    // The gap, three ways: the send log (database clock), claimed_at and sent_at, per session.
    for (const session of sessions) {
      const sends = log.filter((l) => l.session === session)
      for (let i = 1; i < sends.length; i++) {
        expect(sends[i]!.at!.getTime() - sends[i - 1]!.at!.getTime()).toBeGreaterThanOrEqual(GAP_MIN)
        // Every send of epoch e precedes every send of e + 1.
        expect(sends[i]!.epoch).toBeGreaterThanOrEqual(sends[i - 1]!.epoch)
      }
    }
    expect(await minGapMicros(ctx.db, 'claimed_at', prefix)).toBeGreaterThanOrEqual(GAP_MIN * 1000)
    expect(await minGapMicros(ctx.db, 'sent_at', prefix)).toBeGreaterThanOrEqual(GAP_MIN * 1000)
  }, 120_000)
}

async function waitForCondition(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
