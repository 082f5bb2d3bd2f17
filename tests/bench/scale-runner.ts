/**
 * One runner process of the scale benchmark (tests/bench/scale.ts): production's `runRunnerProcess`
 * (runner/process.ts, what `npm run runner` runs) with two things put in through its seams, nothing else changed:
 *
 * - WhatsApp is the simulated client (tests/bench/simulated-whatsapp.ts): `SCALE_ACK_MS`, `SCALE_FAIL_RATE`;
 * - the database handle counts what the runner sends it: statements (by text), transactions, and the duration of each
 *   claim transaction (the one that starts with the claim's session lock, db/queries/send-slot.ts).
 *
 * The parent asks for the counters over the IPC channel (`'stats'`); the claim durations are handed over once each.
 * Run with tsx: `node --import tsx tests/bench/scale-runner.ts`, configured by the environment like `npm run runner`.
 */
import type { Db, Queryable } from '../../db/driver.js'
import { LOCK_SESSION_FOR_CLAIM_SQL } from '../../db/queries/send-slot.js'
import { runRunnerProcess } from '../../runner/process.js'
import { overrideDb } from '../support/db-seam.js'
import { simulatedWhatsApp } from './simulated-whatsapp.js'

export interface ScaleRunnerStats {
  pid: number
  statements: number
  transactions: number
  /** Statements by their text's first 90 characters (whitespace collapsed). */
  byText: Record<string, number>
  /** Claim transaction durations (ms) since the previous report. */
  claimMs: number[]
}

const env = process.env
const stats: ScaleRunnerStats = { pid: process.pid, statements: 0, transactions: 0, byText: {}, claimMs: [] }
const keys = new Map<string, string>()

function count(sql: string): void {
  stats.statements++
  let key = keys.get(sql)
  if (key === undefined) keys.set(sql, (key = sql.replace(/\s+/g, ' ').trim().slice(0, 90)))
  stats.byText[key] = (stats.byText[key] ?? 0) + 1
}

function counted(db: Db): Db {
  let claimSql = ''
  const countedQueries = (q: Queryable, first?: { sql: string | null }): Partial<Queryable> => ({
    query: (sql, params) => {
      if (first) first.sql ??= sql
      count(sql)
      return q.query(sql, params)
    },
    execute: (sql, params) => {
      if (first) first.sql ??= sql
      count(sql)
      return q.execute(sql, params)
    },
  })
  return overrideDb(db, {
    ...countedQueries(db),
    async transaction(fn, options) {
      claimSql ||= LOCK_SESSION_FOR_CLAIM_SQL[db.dialect]
      const started = performance.now()
      const first: { sql: string | null } = { sql: null }
      try {
        return await db.transaction((tx) => {
          first.sql = null
          return fn(overrideDb(tx, countedQueries(tx, first)))
        }, options)
      } finally {
        stats.transactions++
        if (first.sql === claimSql) stats.claimMs.push(performance.now() - started)
      }
    },
  })
}

process.on('message', (m) => {
  if (m !== 'stats' || !process.send) return
  process.send({ ...stats })
  stats.claimMs = []
})

await runRunnerProcess({
  env,
  db: counted,
  makeWhatsApp: async () =>
    simulatedWhatsApp({ ackMs: Number(env.SCALE_ACK_MS ?? 50), failRate: Number(env.SCALE_FAIL_RATE ?? 0) }),
})
