/**
 * The claim's one extra read for the sending limits, the first-contact check (db/queries/inbound.ts), is a single probe
 * of idx_inbound_session_phone at 50,000 inbound messages: MySQL/MariaDB name the key with no scan or filesort;
 * Postgres/PGlite use an index scan on it in the generic plan of the prepared statement (as in explain.test.ts).
 */
import { beforeAll, expect, it } from 'vitest'
import type { Db, Queryable, Row } from '../../db/driver.js'
import { flatten, type PgPlanNode } from '../support/explain.js'
import { HAS_WRITTEN_SQL } from '../../db/queries/inbound.js'
import { describeEachEngine } from '../support/db.js'

const INBOUND = 50_000
const DIGITS = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)'

/** 50,000 inbound messages from 5,000 phones to 20 sessions. */
async function seed(db: Queryable): Promise<void> {
  if (db.dialect === 'mysql') {
    const n5 = `(SELECT a.d + b.d * 10 + c.d * 100 + e.d * 1000 + f.d * 10000 AS n FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e, ${DIGITS} f)`
    await db.execute(`INSERT INTO inbound_messages (session, phone, sender_jid, body, wa_message_id, received_at)
SELECT CONCAT('e', n % 20), CONCAT('9617', LPAD(n % 5000, 7, '0')), 'x@s.whatsapp.net', 'hi', CONCAT('W', n), NOW(6)
  FROM ${n5} x WHERE n < ${INBOUND}`)
    await db.query('ANALYZE TABLE inbound_messages')
    return
  }
  await db.execute(`INSERT INTO inbound_messages (session, phone, sender_jid, body, wa_message_id, received_at)
SELECT 'e' || (n % 20), '9617' || lpad((n % 5000)::text, 7, '0'), 'x@s.whatsapp.net', 'hi', 'W' || n, now()
  FROM generate_series(0, ${INBOUND - 1}) n`)
  await db.execute('ANALYZE inbound_messages')
}

async function genericPlan(db: Db, text: string, args: string): Promise<PgPlanNode[]> {
  return db.transaction(async (tx) => {
    await tx.execute('SET LOCAL plan_cache_mode = force_generic_plan')
    await tx.execute(`PREPARE first_contact_${process.pid} AS ${text}`)
    try {
      const [row] = await tx.query(`EXPLAIN (FORMAT JSON) EXECUTE first_contact_${process.pid}(${args})`)
      const raw = row!['QUERY PLAN']
      return flatten(((typeof raw === 'string' ? JSON.parse(raw) : raw) as [{ Plan: PgPlanNode }])[0].Plan)
    } finally {
      await tx.execute(`DEALLOCATE first_contact_${process.pid}`)
    }
  })
}

describeEachEngine('first-contact check plan at 50,000 inbound messages', (ctx) => {
  beforeAll(async () => {
    await seed(ctx.db)
  }, 120_000)

  it('is one probe of idx_inbound_session_phone', async () => {
    if (ctx.engine === 'mysql') {
      const rows = await ctx.db.query<Row & { table: string; type: string; key: string | null; Extra: string | null }>(
        `EXPLAIN ${HAS_WRITTEN_SQL.mysql}`, ['e7', '96170000007'])
      const row = rows.find((r) => r.table === 'inbound_messages')!
      expect(row.key, JSON.stringify(rows)).toBe('idx_inbound_session_phone')
      expect(row.type).toBe('ref')
      expect(String(row.Extra ?? '')).not.toMatch(/filesort|temporary/i)
      return
    }
    const nodes = await genericPlan(ctx.db, HAS_WRITTEN_SQL.postgres, `'e7', '96170000007'`)
    const summary = JSON.stringify(nodes.map((n) => [n['Node Type'], n['Index Name'] ?? n['Relation Name']]))
    expect(nodes.some((n) => /Index( Only)? Scan/.test(n['Node Type']) && n['Index Name'] === 'idx_inbound_session_phone'), summary).toBe(true)
    expect(nodes.map((n) => n['Node Type']), summary).not.toContain('Seq Scan')
  })
})
