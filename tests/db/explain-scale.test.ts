/**
 * What every runner runs on every poll and renewal, whatever it holds, uses an index at 10,000 sessions and 1,000,000
 * messages (db/README.md, How many sessions): no full scan of `sessions` or `messages` and no filesort on
 * MySQL/MariaDB; on PostgreSQL an index scan on the expected index, no Seq Scan on either table and no Sort in the
 * *generic* plan of the prepared statement (as in explain.test.ts). Server engines only: the embedded database holds
 * one runner and a handful of sessions.
 */
import { beforeAll, expect, it } from 'vitest'
import type { Db, Queryable } from '../../db/driver.js'
import { flatten, type MysqlExplainRow, type PgPlanNode } from '../support/explain.js'
import { RENEW_LEASES_SQL, SELECT_ACQUIRABLE_SQL } from '../../db/queries/leases.js'
import { PROBE_DUE_SQL, SELECT_NEXT_PENDING_SQL } from '../../db/queries/message-claim.js'
import { FIND_NUMBER_CHECKS_SQL } from '../../db/queries/number-checks.js'
import { LOCK_SESSION_FOR_CLAIM_SQL } from '../../db/queries/send-slot.js'
import { FIND_SESSION_REQUESTS_SQL } from '../../db/queries/session-reports.js'
import type { Statement } from '../../db/sql.js'
import { describeEachEngine } from '../support/db.js'

const SESSIONS = 10_000
const MESSAGES = 1_000_000
const RUNNERS = 20
const CHECKS = 100_000

const DIGITS = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)'

/**
 * 10,000 sessions held by 20 runners (500 each, leases live for the hour the test may take; every 100th with a request from the API waiting), and
 * 1,000,000 messages, 100 per session: 10 % pending (a tenth of those due), the rest sent; 100,000 answered number
 * checks over the last day. One INSERT … SELECT each.
 */
async function seed(db: Queryable): Promise<void> {
  if (db.dialect === 'mysql') {
    const n = (k: number) => `(SELECT ${Array.from({ length: k }, (_, i) => `d${i}.d * ${10 ** i}`).join(' + ')} AS n FROM ${Array.from({ length: k }, (_, i) => `${DIGITS} d${i}`).join(', ')})`
    await db.execute(`INSERT INTO sessions (name, owner, lease_until, status, reconnect_requested_at)
SELECT CONCAT('e', n), CONCAT('r', n % ${RUNNERS}), NOW(6) + INTERVAL 1 HOUR, 'online', IF(n % 100 = 0, NOW(6), NULL)
  FROM ${n(5)} x WHERE n > 0 AND n <= ${SESSIONS}`)
    await db.execute(`INSERT INTO messages (session, phone, type, body, status, available_at, sent_at, created_at, updated_at)
SELECT CONCAT('e', 1 + n % ${SESSIONS}), CONCAT('9617', LPAD(n % 5000, 7, '0')), 'text', 'x',
       IF(n % 10 = 0, 'pending', 'sent'),
       IF(n % 100 = 0, NOW(6) - INTERVAL 1 SECOND, NOW(6) + INTERVAL (n % 1000) SECOND),
       IF(n % 10 = 0, NULL, NOW(6) - INTERVAL (n % 30) DAY), NOW(6), NOW(6)
  FROM ${n(6)} x`)
    await db.execute(`INSERT INTO number_checks (session, phone, requested_at, answered_at)
SELECT CONCAT('e', 1 + n % ${SESSIONS}), CONCAT('9617', LPAD(n, 7, '0')), NOW(6) - INTERVAL (n % 86400) SECOND, NOW(6)
  FROM ${n(5)} x`)
    await db.query('ANALYZE TABLE sessions, messages, number_checks')
    return
  }
  await db.execute(`INSERT INTO sessions (name, owner, lease_until, status, reconnect_requested_at)
SELECT 'e' || n, 'r' || (n % ${RUNNERS}), now() + interval '1 hour', 'online', CASE WHEN n % 100 = 0 THEN now() END
  FROM generate_series(1, ${SESSIONS}) n`)
  // In ten statements: one would outlast the driver's 30 s statement timeout on a busy machine.
  for (let from = 0; from < MESSAGES; from += MESSAGES / 10) {
    await db.execute(`INSERT INTO messages (session, phone, type, body, status, available_at, sent_at, created_at, updated_at)
SELECT 'e' || (1 + n % ${SESSIONS}), '9617' || lpad((n % 5000)::text, 7, '0'), 'text', 'x',
       CASE WHEN n % 10 = 0 THEN 'pending' ELSE 'sent' END,
       CASE WHEN n % 100 = 0 THEN now() - interval '1 second' ELSE now() + (n % 1000) * interval '1 second' END,
       CASE WHEN n % 10 <> 0 THEN now() - (n % 30) * interval '1 day' END, now(), now()
  FROM generate_series(${from}, ${from + MESSAGES / 10 - 1}) n`)
  }
  await db.execute(`INSERT INTO number_checks (session, phone, requested_at, answered_at)
SELECT 'e' || (1 + n % ${SESSIONS}), '9617' || lpad(n::text, 7, '0'), now() - (n % 86400) * interval '1 second', now()
  FROM generate_series(0, ${CHECKS - 1}) n`)
  for (const t of ['sessions', 'messages', 'number_checks']) await db.execute(`ANALYZE ${t}`)
}

let prepared = 0
/** The generic plan of `statement` prepared on one connection, as a flat list of plan nodes (nothing is executed). */
async function genericPlan(db: Db, statement: Statement, args: string): Promise<PgPlanNode[]> {
  const name = `explain_scale_${process.pid}_${++prepared}`
  return db.transaction(async (tx) => {
    await tx.execute('SET LOCAL plan_cache_mode = force_generic_plan')
    await tx.execute(`PREPARE ${name} AS ${statement.postgres}`)
    try {
      const [row] = await tx.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}(${args})`)
      const raw = row!['QUERY PLAN']
      return flatten(((typeof raw === 'string' ? JSON.parse(raw) : raw) as [{ Plan: PgPlanNode }])[0].Plan)
    } finally {
      await tx.execute(`DEALLOCATE ${name}`)
    }
  })
}

describeEachEngine('runner poll and renewal plans at 10,000 sessions and 1,000,000 messages', (ctx) => {
  beforeAll(async () => {
    await seed(ctx.db)
  }, 600_000)

  if (ctx.engine === 'mysql') {
    const explain = (text: string, params: unknown[]) => ctx.db.query<MysqlExplainRow>(`EXPLAIN ${text}`, params)
    /** `table` is read through `key`, and no table of the plan is scanned in full or sorted. */
    const expectIndexed = (rows: MysqlExplainRow[], table: string, key: string) => {
      const summary = JSON.stringify(rows.map((r) => [r.table, r.type, r.key, r.Extra]))
      expect(rows.find((r) => r.table === table)?.key, summary).toBe(key)
      for (const r of rows) {
        expect(r.type, summary).not.toBe('ALL')
        expect(String(r.Extra ?? ''), summary).not.toMatch(/filesort|temporary/i)
      }
    }

    it('renewLeases (with last_seen) walks idx_sessions_owner', async () => {
      expectIndexed(await explain(RENEW_LEASES_SQL.mysql, [30, 'r3']), 'sessions', 'idx_sessions_owner')
    })

    it('findSessionRequests reads only the rows with a request, through idx_sessions_requests', async () => {
      const rows = await explain(FIND_SESSION_REQUESTS_SQL.mysql, ['r3'])
      expectIndexed(rows, 'sessions', 'idx_sessions_requests')
      expect(rows.find((r) => r.type !== null)?.type).toBe('ref')
    })

    it('findNumberChecks starts from the recent requests and reads sessions by primary key', async () => {
      const rows = await explain(FIND_NUMBER_CHECKS_SQL.mysql, ['r3'])
      expectIndexed(rows, 'c', 'idx_number_checks_requested')
      expect(rows.find((r) => r.table === 's')?.key).toBe('PRIMARY')
    })

    it('probeDue walks the owner\'s sessions and one idx_messages_claim entry each', async () => {
      const rows = await explain(PROBE_DUE_SQL.mysql, ['r3'])
      expectIndexed(rows, 's', 'idx_sessions_owner')
      expect(rows.find((r) => r.table === 'm')?.key).toBe('idx_messages_claim')
    })

    it('the acquire select, the claim lock and the next-message select use their indexes', async () => {
      expectIndexed(await explain(SELECT_ACQUIRABLE_SQL.mysql, [1000]), 'sessions', 'idx_sessions_lease')
      expectIndexed(await explain(LOCK_SESSION_FOR_CLAIM_SQL.mysql, ['e7', 'r7', 0]), 'sessions', 'PRIMARY')
      expectIndexed(await explain(SELECT_NEXT_PENDING_SQL.mysql, ['e7']), 'messages', 'idx_messages_claim')
    })
  } else {
    const expectIndexScan = (nodes: PgPlanNode[], ...indexes: string[]) => {
      const summary = JSON.stringify(nodes.map((n) => [n['Node Type'], n['Index Name'] ?? n['Relation Name']]))
      for (const index of indexes) {
        expect(nodes.some((n) => /Index( Only)? Scan/.test(n['Node Type']) && n['Index Name'] === index), summary).toBe(true)
      }
      expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name']), summary).toEqual([])
      expect(nodes.map((n) => n['Node Type']), summary).not.toContainEqual(expect.stringMatching(/Sort/))
    }

    it('renewLeases (with last_seen) is an index scan on idx_sessions_owner, under a generic plan', async () => {
      expectIndexScan(await genericPlan(ctx.db, RENEW_LEASES_SQL, `'r3', 30`), 'idx_sessions_owner')
    })

    it('findSessionRequests reads only the rows with a request, through idx_sessions_requests', async () => {
      expectIndexScan(await genericPlan(ctx.db, FIND_SESSION_REQUESTS_SQL, `'r3'`), 'idx_sessions_requests')
    })

    it('findNumberChecks starts from the recent requests and reads each one\'s session by name', async () => {
      const nodes = await genericPlan(ctx.db, FIND_NUMBER_CHECKS_SQL, `'r3'`)
      expectIndexScan(nodes, 'idx_number_checks_requested')
      // The primary key, or idx_sessions_owner (owner, name) with both columns bound: one entry either way.
      const scan = nodes.find((n) => n['Relation Name'] === 'sessions')
      expect(String(scan?.['Index Cond'] ?? ''), JSON.stringify(nodes)).toMatch(/name =/)
    })

    it('probeDue walks the owner\'s sessions and one idx_messages_claim entry each', async () => {
      expectIndexScan(await genericPlan(ctx.db, PROBE_DUE_SQL, `'r3'`), 'idx_sessions_owner', 'idx_messages_claim')
    })

    it('the claim lock finds its row by name even under statistics taken while no session had an owner', async () => {
      // A fresh deployment: ANALYZE ran before any runner took a session, so an owner "matches one row". On
      // idx_sessions_owner (owner) alone the generic plan walked every session of the runner (migration 0017).
      await ctx.db.execute('UPDATE sessions SET owner = NULL')
      await ctx.db.execute('ANALYZE sessions')
      await ctx.db.execute(`UPDATE sessions SET owner = 'r' || (substr(name, 2)::int % ${RUNNERS}) WHERE name <> 'default'`)
      const nodes = await genericPlan(ctx.db, LOCK_SESSION_FOR_CLAIM_SQL, `'e7', 'r7', 0`)
      const scan = nodes.find((n) => n['Relation Name'] === 'sessions' && /Index/.test(n['Node Type']))
      expect(scan, JSON.stringify(nodes)).toBeDefined()
      expect(String(scan!['Index Cond'] ?? ''), JSON.stringify(scan)).toMatch(/name =/)
    })

    it('the acquire select, the claim lock and the next-message select use their indexes', async () => {
      expectIndexScan(await genericPlan(ctx.db, SELECT_ACQUIRABLE_SQL, '1000'), 'idx_sessions_lease')
      expectIndexScan(await genericPlan(ctx.db, SELECT_NEXT_PENDING_SQL, `'e7'`), 'idx_messages_claim')
    })
  }
}, { engines: ['mysql', 'postgres'] })
