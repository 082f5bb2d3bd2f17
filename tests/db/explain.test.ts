/**
 * The hot statements use their index at 100,000 messages (db/README.md, Tables): no filesort and no full scan on
 * MySQL/MariaDB, and on Postgres/PGlite an index scan on the expected index and no Sort node in the *generic* plan
 * of the prepared statement (`plan_cache_mode = force_generic_plan`), which is the plan a pooled prepared statement
 * ends up with. The statement texts are the ones the query functions run.
 */
import { beforeAll, expect, it } from 'vitest'
import type { Db, Queryable } from '../../db/driver.js'
import { flatten, type MysqlExplainRow, type PgPlanNode } from '../support/explain.js'
import { DELETE_PRUNABLE_MESSAGES_PG, SELECT_PRUNABLE_MESSAGES_MYSQL } from '../../db/queries/cron.js'
import { SELECT_ACQUIRABLE_SQL } from '../../db/queries/leases.js'
import { MARK_PENDING_OPTED_OUT_SQL, PROBE_DUE_SQL, SELECT_NEXT_PENDING_SQL } from '../../db/queries/message-claim.js'
import { listMessages, type MessageFilter } from '../../db/queries/messages.js'
import type { Statement } from '../../db/sql.js'
import { describeEachEngine } from '../support/db.js'

const MESSAGES = 100_000
const SESSIONS = 5_000

const DIGITS = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)'

/**
 * 5,000 sessions (half leased to 10 runners, half free with distinct past lease_until and the rest at 1970), and
 * 100,000 messages over 50 sessions: 10 % pending, 10 % failed, 80 % sent up to 60 days ago. One INSERT … SELECT each.
 */
async function seed(db: Queryable): Promise<void> {
  if (db.dialect === 'mysql') {
    // Cross joins of a digit table instead of a recursive CTE: MySQL 8 stops recursion at 1,000 by default.
    const n5 = `(SELECT a.d + b.d * 10 + c.d * 100 + e.d * 1000 + f.d * 10000 AS n FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e, ${DIGITS} f)`
    await db.execute(`INSERT INTO sessions (name, owner, lease_until)
SELECT CONCAT('e', n), IF(n % 2 = 0, CONCAT('r', n % 10), NULL),
       IF(n % 2 = 0, NOW(6) + INTERVAL 30 SECOND, IF(n % 4 = 1, NOW(6) - INTERVAL n SECOND, '1970-01-01 00:00:00'))
  FROM ${n5} x WHERE n < ${SESSIONS}`)
    await db.execute(`INSERT INTO messages (session, phone, type, body, status, available_at, sent_at, created_at, updated_at)
SELECT CONCAT('e', n % 50), CONCAT('9617', LPAD(n % 5000, 7, '0')), 'text', 'x',
       CASE WHEN n % 10 = 0 THEN 'pending' WHEN n % 10 = 1 THEN 'failed' ELSE 'sent' END,
       NOW(6) - INTERVAL (n % 1000) SECOND,
       CASE WHEN n % 10 > 1 THEN NOW(6) - INTERVAL (n % 60) DAY END, NOW(6), NOW(6)
  FROM ${n5} x WHERE n < ${MESSAGES}`)
    await db.query('ANALYZE TABLE sessions, messages')
    return
  }
  await db.execute(`INSERT INTO sessions (name, owner, lease_until)
SELECT 'e' || n, CASE WHEN n % 2 = 0 THEN 'r' || (n % 10) END,
       CASE WHEN n % 2 = 0 THEN now() + interval '30 seconds' WHEN n % 4 = 1 THEN now() - n * interval '1 second' ELSE '1970-01-01 00:00:00+00' END
  FROM generate_series(0, ${SESSIONS - 1}) n`)
  await db.execute(`INSERT INTO messages (session, phone, type, body, status, available_at, sent_at, created_at, updated_at)
SELECT 'e' || (n % 50), '9617' || lpad((n % 5000)::text, 7, '0'), 'text', 'x',
       CASE WHEN n % 10 = 0 THEN 'pending' WHEN n % 10 = 1 THEN 'failed' ELSE 'sent' END,
       now() - (n % 1000) * interval '1 second',
       CASE WHEN n % 10 > 1 THEN now() - (n % 60) * interval '1 day' END, now(), now()
  FROM generate_series(0, ${MESSAGES - 1}) n`)
  await db.execute('ANALYZE sessions')
  await db.execute('ANALYZE messages')
}

/** 2,000 more messages to 20 groups (their JID in `phone`, db/README.md, Groups), copied from the first rows. */
async function seedGroupMessages(db: Queryable): Promise<void> {
  const jid = db.dialect === 'mysql' ? `CONCAT('12036340', LPAD(id % 20, 10, '0'), '@g.us')` : `'12036340' || lpad((id % 20)::text, 10, '0') || '@g.us'`
  await db.execute(`INSERT INTO messages (session, phone, type, body, status, available_at, sent_at, created_at, updated_at)
SELECT session, ${jid}, type, body, status, available_at, sent_at, created_at, updated_at
  FROM messages WHERE id <= 2000`)
  await db.query(db.dialect === 'mysql' ? 'ANALYZE TABLE messages' : 'ANALYZE messages')
}

/** The statement `listMessages` runs for `filter` (its text is built from the filters given), and its parameters. */
async function listingStatement(dialect: 'mysql' | 'postgres', filter: MessageFilter): Promise<{ sql: string; params: unknown[] }> {
  let seen: { sql: string; params: unknown[] } | undefined
  const capture = { dialect, query: async (sql: string, params: unknown[] = []) => ((seen = { sql, params }), []) } as unknown as Queryable
  await listMessages(capture, filter)
  return seen!
}

let prepared = 0
/** The generic plan of `statement` prepared on one connection, as a flat list of plan nodes. */
async function genericPlan(db: Db, statement: Statement, args: string): Promise<PgPlanNode[]> {
  const name = `explain_${process.pid}_${++prepared}`
  const run = async (tx: Queryable) => {
    await tx.execute('SET LOCAL plan_cache_mode = force_generic_plan')
    await tx.execute(`PREPARE ${name} AS ${statement.postgres}`)
    try {
      const [row] = await tx.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}(${args})`)
      const raw = row!['QUERY PLAN']
      const json = (typeof raw === 'string' ? JSON.parse(raw) : raw) as [{ Plan: PgPlanNode }]
      return flatten(json[0].Plan)
    } finally {
      await tx.execute(`DEALLOCATE ${name}`)
    }
  }
  return db.transaction(run)
}

describeEachEngine('query plans at 100,000 messages', (ctx) => {
  beforeAll(async () => {
    await seed(ctx.db)
    await seedGroupMessages(ctx.db)
  }, 120_000)

  if (ctx.engine === 'mysql') {
    async function explain(text: string, params: unknown[]): Promise<MysqlExplainRow[]> {
      return ctx.db.query<MysqlExplainRow>(`EXPLAIN ${text}`, params)
    }
    const expectIndexed = (rows: MysqlExplainRow[], table: string, key: string) => {
      const row = rows.find((r) => r.table === table)!
      expect(row, JSON.stringify(rows)).toBeDefined()
      expect(row.key).toBe(key)
      expect(row.type).not.toBe('ALL')
      expect(String(row.Extra ?? '')).not.toMatch(/filesort|temporary/i)
    }

    it('selectNextPending reads idx_messages_claim with no filesort', async () => {
      expectIndexed(await explain(SELECT_NEXT_PENDING_SQL.mysql, ['e7']), 'messages', 'idx_messages_claim')
    })

    it('the acquire select reads idx_sessions_lease in (lease_until, name) order with no filesort', async () => {
      expectIndexed(await explain(SELECT_ACQUIRABLE_SQL.mysql, [2]), 'sessions', 'idx_sessions_lease')
    })

    it('selectPrunableMessages reads idx_messages_prune with no filesort', async () => {
      expectIndexed(await explain(SELECT_PRUNABLE_MESSAGES_MYSQL, [30, 1000]), 'messages', 'idx_messages_prune')
    })

    it('probeDue reads each session\'s MIN(available_at) from idx_messages_claim', async () => {
      const rows = await explain(PROBE_DUE_SQL.mysql, ['r3'])
      const sub = rows.find((r) => r.table === 'm')!
      expect(sub.key).toBe('idx_messages_claim')
      expect(String(sub.Extra ?? '')).not.toMatch(/filesort/i)
    })

    it('markPendingOptedOut reads idx_messages_phone', async () => {
      expectIndexed(await explain(MARK_PENDING_OPTED_OUT_SQL.mysql, ['96170000007']), 'messages', 'idx_messages_phone')
    })

    it('GET /api/messages?group= reads idx_messages_phone_id in id order with no filesort', async () => {
      const { sql, params } = await listingStatement('mysql', { phone: '120363400000000007@g.us', limit: 51 })
      expectIndexed(await explain(sql, params), 'messages', 'idx_messages_phone_id')
    })
  } else {
    const expectIndexScan = (nodes: PgPlanNode[], index: string) => {
      const scans = nodes.filter((n) => /Index( Only)? Scan/.test(n['Node Type']) && n['Index Name'] === index)
      expect(scans, JSON.stringify(nodes.map((n) => [n['Node Type'], n['Index Name'] ?? n['Relation Name']]))).not.toHaveLength(0)
      expect(nodes.map((n) => n['Node Type'])).not.toContainEqual(expect.stringMatching(/Sort/))
      expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name'])).not.toContain('messages')
    }

    it('selectNextPending is an index scan on idx_messages_claim with no Sort, under a generic plan', async () => {
      expectIndexScan(await genericPlan(ctx.db, SELECT_NEXT_PENDING_SQL, `'e7'`), 'idx_messages_claim')
    })

    it('the acquire select is an index scan on idx_sessions_lease with no Sort, under a generic plan', async () => {
      expectIndexScan(await genericPlan(ctx.db, SELECT_ACQUIRABLE_SQL, '2'), 'idx_sessions_lease')
    })

    it('the prune delete selects through idx_messages_prune with no Sort, under a generic plan', async () => {
      expectIndexScan(await genericPlan(ctx.db, { mysql: '', postgres: DELETE_PRUNABLE_MESSAGES_PG }, '30, 1000'), 'idx_messages_prune')
    })

    it('probeDue reads each session\'s MIN(available_at) from idx_messages_claim, under a generic plan', async () => {
      expectIndexScan(await genericPlan(ctx.db, PROBE_DUE_SQL, `'r3'`), 'idx_messages_claim')
    })

    it('markPendingOptedOut reads idx_messages_phone, under a generic plan', async () => {
      expectIndexScan(await genericPlan(ctx.db, MARK_PENDING_OPTED_OUT_SQL, `'96170000007'`), 'idx_messages_phone')
    })

    it('GET /api/messages?group= is an index scan on idx_messages_phone_id with no Sort, under a generic plan', async () => {
      const { sql } = await listingStatement('postgres', { phone: '120363400000000007@g.us', limit: 51 })
      expectIndexScan(await genericPlan(ctx.db, { mysql: '', postgres: sql }, `'120363400000000007@g.us', 51`), 'idx_messages_phone_id')
    })
  }
})
