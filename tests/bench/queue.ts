/**
 * `npm run bench -- queue [--quick]`: the queue's figures, measured side by side in one run on MariaDB, then the
 * same on PostgreSQL, each on fresh databases (createTestDatabase):
 *
 *  (a) single-row enqueue rate through `enqueueMessage` vs. a raw mysql2 (resp. postgres) INSERT loop with the same
 *      columns at the same concurrency, and their ratio;
 *  (b) claim + finalize rate across 100 sessions with throttle 0 (one runner, one loop per session);
 *  (c) claim latency with 1,000 vs 1,000,000 pending rows in the claimed session, and their ratio (should stay ≈ 1:
 *      the claim reads the first entry of idx_messages_claim).
 *
 * `--quick` divides the sizes by 10 (100,000 instead of 1,000,000 in (c)), for a smoke run.
 */
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import type { Db, Engine } from '../../db/driver.js'
import { acquireSessionLeases } from '../../db/queries/leases.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { claimNextMessage } from '../../db/lifecycle/claim.js'
import { finalizeSent } from '../../db/lifecycle/settle.js'
import { createTestDatabase, engineProblem, type TestDatabase } from '../support/db.js'
import { fakeWaId, insertSessions } from '../support/queue-fixtures.js'
import { SimRunner } from '../support/queue-runner.js'

interface Options {
  enqueueCount: number
  enqueueConcurrency: number
  claimSessions: number
  claimPerSession: number
  bigPending: number
  latencySamples: number
}

const FULL: Options = { enqueueCount: 4_000, enqueueConcurrency: 16, claimSessions: 100, claimPerSession: 60, bigPending: 1_000_000, latencySamples: 300 }

const RAW_INSERT = {
  mysql: `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NOW(6) + INTERVAL ? * 1000 MICROSECOND, NOW(6), NOW(6))`,
  postgres: `INSERT INTO messages (session, phone, type, body, media_id, idempotency_key, request_hash, wa_message_id,
                      available_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + $9 * interval '1 millisecond', now(), now())
RETURNING id`,
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

/** Runs `count` calls of `one(i)` with `concurrency` workers; returns calls per second. */
async function rate(count: number, concurrency: number, one: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await one(i)
    }),
  )
  return count / ((performance.now() - started) / 1000)
}

/** (a) enqueueMessage vs the raw driver, alternating twice so neither side gets only the warm or cold half. */
async function benchEnqueue(t: TestDatabase, o: Options): Promise<void> {
  const url = t.url!
  const ours = await t.openAnother({ poolSize: o.enqueueConcurrency })
  const phone = (i: number) => `9617${String(i % 10_000_000).padStart(7, '0')}`
  let rawInsert: (i: number) => Promise<unknown>
  let closeRaw: () => Promise<void>
  if (t.engine === 'mysql') {
    const pool = mysql.createPool({ uri: url, connectionLimit: o.enqueueConcurrency, charset: 'utf8mb4_unicode_ci', timezone: 'Z' })
    rawInsert = (i) => pool.query(RAW_INSERT.mysql, ['default', phone(i), 'text', 'bench message', null, null, null, fakeWaId(), 0])
    closeRaw = () => pool.end()
  } else {
    const sql = postgres(url, { max: o.enqueueConcurrency, onnotice: () => {} })
    rawInsert = (i) => sql.unsafe(RAW_INSERT.postgres, ['default', phone(i), 'text', 'bench message', null, null, null, fakeWaId(), 0], { prepare: true })
    closeRaw = () => sql.end({ timeout: 5 })
  }
  const viaEnqueue = (i: number) => enqueueMessage(ours, { session: 'default', phone: phone(i), type: 'text', body: 'bench message' })
  // Warm both pools and statement caches.
  await rate(200, o.enqueueConcurrency, rawInsert)
  await rate(200, o.enqueueConcurrency, viaEnqueue)
  const raw: number[] = []
  const enq: number[] = []
  for (let round = 0; round < 2; round++) {
    raw.push(await rate(o.enqueueCount / 2, o.enqueueConcurrency, rawInsert))
    enq.push(await rate(o.enqueueCount / 2, o.enqueueConcurrency, viaEnqueue))
  }
  await closeRaw()
  const r = raw.reduce((a, b) => a + b) / raw.length
  const e = enq.reduce((a, b) => a + b) / enq.length
  console.log(`  (a) single-row enqueue, ${o.enqueueConcurrency} concurrent, ${fmt(o.enqueueCount)} rows each side:`)
  console.log(`      raw ${t.engine === 'mysql' ? 'mysql2' : 'postgres'} INSERT ${fmt(r)} rows/s · enqueueMessage ${fmt(e)} rows/s · ratio ${fmt(e / r, 2)}`)
}

/** (b) One runner with 100 session loops, throttle 0, fake send: claim + finalize per second. */
async function benchClaimFinalize(t: TestDatabase, o: Options): Promise<void> {
  const db = await t.openAnother({ poolSize: 20 })
  const names = Array.from({ length: o.claimSessions }, (_, i) => `b${String(i).padStart(3, '0')}`)
  await insertSessions(db, names)
  await db.execute(`UPDATE sessions SET owner = 'parked', lease_until = '2999-01-01 00:00:00' WHERE name = 'default'`)
  await seedPending(db, names, o.claimPerSession)
  const runner = new SimRunner({
    db, owner: 'bench-runner', capacity: o.claimSessions, ttlSeconds: 600, gapMinMs: 0, gapMaxMs: 0, stopWhenIdle: true,
    newWaId: fakeWaId, send: async () => {}, onError: (err) => console.error('  runner error:', err),
  })
  const started = performance.now()
  while ((await runner.acquireTick()) > 0) { /* ≤ 2 sessions per tick */ }
  await runner.drained()
  const seconds = (performance.now() - started) / 1000
  await runner.stop()
  console.log(`  (b) claim + finalize, ${o.claimSessions} sessions × ${o.claimPerSession}, throttle 0, one runner (pool 20):`)
  console.log(`      ${fmt(runner.finalized)} messages in ${fmt(seconds, 1)} s = ${fmt(runner.finalized / seconds)} msg/s`)
}

/** Inserts `perSession` pending rows for each session in one INSERT … SELECT per session (no round trip per row). */
async function seedPending(db: Db, sessions: string[], perSession: number): Promise<void> {
  for (const s of sessions) {
    if (db.dialect === 'mysql') {
      await db.execute(`INSERT INTO messages (session, phone, type, body, available_at, created_at, updated_at)
SELECT ?, CONCAT('9617', LPAD(n % 10000000, 7, '0')), 'text', 'bench', NOW(6) - INTERVAL 1 SECOND, NOW(6), NOW(6)
  FROM (${digitsUpTo(perSession)}) x`, [s])
    } else {
      await db.execute(`INSERT INTO messages (session, phone, type, body, available_at, created_at, updated_at)
SELECT $1, '9617' || lpad((n % 10000000)::text, 7, '0'), 'text', 'bench', now() - interval '1 second', now(), now()
  FROM generate_series(0, $2 - 1) n`, [s, perSession])
    }
  }
}

/** `SELECT n` for n in [0, count) on MySQL/MariaDB, by cross joins of a digit table (no recursion limit). */
function digitsUpTo(count: number): string {
  const d = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)'
  const places = Math.max(1, Math.ceil(Math.log10(count)))
  const terms = Array.from({ length: places }, (_, k) => `t${k}.d * ${10 ** k}`).join(' + ')
  const from = Array.from({ length: places }, (_, k) => `${d} t${k}`).join(', ')
  return `SELECT n FROM (SELECT ${terms} AS n FROM ${from}) y WHERE n < ${count}`
}

/** (c) Median claim latency (claim transaction only) with `pending` rows in the claimed session. */
async function claimLatency(engine: Engine, pending: number, samples: number): Promise<{ median: number; p95: number; seedSeconds: number }> {
  const t = await createTestDatabase(engine, { poolSize: 4 })
  try {
    const db = t.db
    await insertSessions(db, ['lat'])
    const seedStart = performance.now()
    await seedPending(db, ['lat'], pending)
    // Postgres: VACUUM too, as autovacuum would after a bulk load, so the claim does not pay for setting the hint
    // bits of freshly inserted rows (or race an autovacuum started by the load).
    await db.execute(db.dialect === 'mysql' ? 'ANALYZE TABLE messages' : 'VACUUM (ANALYZE) messages')
    const seedSeconds = (performance.now() - seedStart) / 1000
    await db.execute(`UPDATE sessions SET owner = 'parked', lease_until = '2999-01-01 00:00:00' WHERE name = 'default'`)
    const [lease] = await acquireSessionLeases(db, { owner: 'lat-runner', ttlSeconds: 600, max: 1, minGapMs: 0 })
    const times: number[] = []
    for (let i = 0; i < samples + 20; i++) {
      const a = performance.now()
      const r = await claimNextMessage(db, { session: 'lat', owner: 'lat-runner', epoch: lease!.leaseEpoch, gapMs: 0, optInMode: 'open', newWaId: fakeWaId })
      const ms = performance.now() - a
      if (r.kind !== 'claimed') throw new Error(`expected a claim, got ${r.kind}`)
      if (i >= 20) times.push(ms) // the first 20 warm the connection and plan caches
      await finalizeSent(db, { id: r.message.id, session: 'lat', owner: 'lat-runner', epoch: lease!.leaseEpoch, minGapMs: 0 })
    }
    times.sort((x, y) => x - y)
    return { median: percentile(times, 0.5), p95: percentile(times, 0.95), seedSeconds }
  } finally {
    await t.drop()
  }
}

async function benchLatency(engine: Engine, o: Options): Promise<void> {
  const small = await claimLatency(engine, 1_000, o.latencySamples)
  const big = await claimLatency(engine, o.bigPending, o.latencySamples)
  console.log(`  (c) claim latency (claim transaction, ${o.latencySamples} claims, sequential), pending rows in the session:`)
  console.log(`      ${fmt(1_000)}: median ${fmt(small.median, 2)} ms, p95 ${fmt(small.p95, 2)} ms`)
  console.log(`      ${fmt(o.bigPending)}: median ${fmt(big.median, 2)} ms, p95 ${fmt(big.p95, 2)} ms (seeded in ${fmt(big.seedSeconds, 1)} s)`)
  console.log(`      ratio of medians ${fmt(big.median / small.median, 2)}`)
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick')
  const o: Options = quick
    ? { ...FULL, enqueueCount: 400, claimPerSession: 6, bigPending: 100_000, latencySamples: 100 }
    : FULL
  for (const engine of ['mysql', 'postgres'] as const) {
    const problem = await engineProblem(engine)
    if (problem) {
      console.log(`${engine}: skipped (${problem})`)
      continue
    }
    const t = await createTestDatabase(engine, { poolSize: 2 })
    console.log(`${engine === 'mysql' ? 'MariaDB/MySQL' : 'PostgreSQL'} ${t.db.serverVersion}`)
    try {
      await benchEnqueue(t, o)
      await benchClaimFinalize(t, o)
    } finally {
      await t.drop()
    }
    await benchLatency(engine, o)
  }
}
