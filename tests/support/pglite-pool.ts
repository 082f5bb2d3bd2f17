import type { Db } from '../../db/driver.js'

/**
 * Migrated PGlite databases a test file has finished with, emptied and kept for the next one in the same process.
 * Opening PGlite and migrating costs about 0.4 s of CPU on an idle machine, and the suite opens about a hundred
 * databases; the side-by-side files share their worker processes (vitest.config.ts), so most of those opens
 * become a reset of a database the process already has.
 *
 * A reset leaves a database as a fresh migrated one would be: the session's state discarded (settings, temporary
 * tables, prepared statements, locks), every table emptied with its identity restarted, the rows and sequence
 * values the migrations left put back, and the planner statistics of an ANALYZE forgotten. A database whose schema
 * a test changed, or that a test closed, is not kept. Each test database is a handle of its own over the shared
 * one: once dropped, the handle refuses every call, so a runner a test forgot to stop fails its next query instead
 * of writing into the next test's database.
 */
export interface PooledPglite {
  /** A handle valid until `release()`. */
  db: Db
  /** Gives the database back (reset for the next one) or closes it. */
  release(): Promise<void>
}

interface Slot {
  db: Db
  closed: boolean
  baseline: Baseline
}

interface Baseline {
  schema: string
  tables: string[]
  rows: Array<{ table: string; columns: string[]; json: string }>
  sequences: Array<{ name: string; lastValue: number; isCalled: boolean }>
}

const idle: Slot[] = []

/** Everything that makes up the public schema, as one text to compare. */
const SCHEMA_FINGERPRINT = `
  SELECT md5(concat_ws('|',
    (SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':' || coalesce(column_default, '') || ':' || is_nullable, ',' ORDER BY table_name, column_name)
       FROM information_schema.columns WHERE table_schema = 'public'),
    (SELECT string_agg(indexdef, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'),
    (SELECT string_agg(conname || ':' || pg_get_constraintdef(oid), ',' ORDER BY conname) FROM pg_constraint WHERE connamespace = 'public'::regnamespace),
    (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal),
    (SELECT string_agg(proname || ':' || md5(prosrc), ',' ORDER BY proname) FROM pg_proc WHERE pronamespace = 'public'::regnamespace)
  )) AS fingerprint`

async function readBaseline(db: Db): Promise<Baseline> {
  const [{ fingerprint }] = (await db.query<{ fingerprint: string }>(SCHEMA_FINGERPRINT)) as [{ fingerprint: string }]
  const tables = (await db.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)).map((r) => r.t)
  const rows: Baseline['rows'] = []
  for (const table of tables) {
    const [row] = await db.query<{ json: string | null }>(`SELECT json_agg(t)::text AS json FROM ${quote(table)} t`)
    if (!row?.json) continue
    // Generated columns are computed again on insert; the rest is copied as it was.
    const columns = (await db.query<{ c: string }>(
      `SELECT attname AS c FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
      [quote(table)],
    )).map((r) => r.c)
    rows.push({ table, columns, json: row.json })
  }
  const sequences = (await db.query<{ name: string; last_value: unknown; is_called: boolean }>(
    `SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) AS name, coalesce(last_value, start_value) AS last_value, last_value IS NOT NULL AS is_called
       FROM pg_sequences WHERE schemaname = 'public'`,
  )).map((r) => ({ name: r.name, lastValue: Number(r.last_value), isCalled: r.is_called }))
  return { schema: fingerprint, tables, rows, sequences }
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** Empties `slot` back to its baseline; false when it cannot be reused. */
async function reset(slot: Slot): Promise<boolean> {
  if (slot.closed) return false
  const { db, baseline } = slot
  await db.execute('DISCARD ALL')
  await db.execute("SET TIME ZONE 'UTC'")
  const [{ fingerprint }] = (await db.query<{ fingerprint: string }>(SCHEMA_FINGERPRINT)) as [{ fingerprint: string }]
  if (fingerprint !== baseline.schema) return false
  await db.transaction(async (tx) => {
    await tx.execute(`TRUNCATE ${baseline.tables.map(quote).join(', ')} RESTART IDENTITY CASCADE`)
    for (const r of baseline.rows) {
      const cols = r.columns.map(quote).join(', ')
      await tx.execute(`INSERT INTO ${quote(r.table)} (${cols}) SELECT ${cols} FROM json_populate_recordset(NULL::${quote(r.table)}, $1::json)`, [r.json])
    }
    for (const s of baseline.sequences) await tx.query('SELECT setval($1::regclass, $2, $3)', [s.name, s.lastValue, s.isCalled])
    await tx.execute(`DELETE FROM pg_statistic WHERE starelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)`)
  })
  return true
}

/** A migrated PGlite database: one this process kept, or a new one from `open` (which must migrate it). */
export async function takePglite(open: () => Promise<Db>): Promise<PooledPglite> {
  let slot = idle.pop()
  if (!slot) {
    const db = await open()
    slot = { db, closed: false, baseline: await readBaseline(db) }
  }
  const s = slot
  let live = true
  const check = () => {
    if (!live) throw new Error('this test database was dropped; a query after its drop would land in the next test\'s database')
  }
  const db: Db = {
    dialect: s.db.dialect,
    engine: s.db.engine,
    capabilities: s.db.capabilities,
    serverVersion: s.db.serverVersion,
    query: async (sql, params) => {
      check()
      return s.db.query(sql, params)
    },
    execute: async (sql, params) => {
      check()
      return s.db.execute(sql, params)
    },
    transaction: async (fn, options) => {
      check()
      return s.db.transaction(fn, options)
    },
    async close() {
      if (!live) return
      live = false
      s.closed = true
      await s.db.close()
    },
  }
  return {
    db,
    async release() {
      if (!live) return
      live = false
      const reusable = await reset(s).catch(() => false)
      if (reusable) idle.push(s)
      else if (!s.closed) {
        s.closed = true
        await s.db.close().catch(() => {})
      }
    },
  }
}
