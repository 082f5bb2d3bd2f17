import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, inject } from 'vitest'
import type { Db, Engine } from '../../db/driver.js'
import { openMysql } from '../../db/drivers/mysql.js'
import { openPostgres } from '../../db/drivers/postgres.js'
import { openPglite } from '../../db/drivers/pglite.js'
import { migrate } from '../../db/migrate.js'
import { TEST_MYSQL_URL, TEST_POSTGRES_URL, selectedEngines } from './engines.js'
import { copyMysqlTemplate, createMysql, createPostgres, dropMysql, dropPostgres, withDatabase, type ServerTemplates } from './db-templates.js'
import { takePglite } from './pglite-pool.js'
import { pgliteTemplate } from './pglite-template.js'

export interface TestDatabase {
  engine: Engine
  /** A DATABASE_URL for child processes (server engines only; PGlite is in-process). */
  url: string | null
  db: Db
  /** Opens another independent pool on the same database (multi-connection tests). */
  openAnother(options?: { poolSize?: number }): Promise<Db>
  drop(): Promise<void>
}

async function reachable(engine: Engine): Promise<string | null> {
  try {
    if (engine === 'mysql') {
      const db = await openMysql({ url: TEST_MYSQL_URL, connectionLimit: 1 })
      await db.close()
    } else if (engine === 'postgres') {
      const db = await openPostgres({ url: TEST_POSTGRES_URL, max: 1 })
      await db.close()
    }
    return null
  } catch (err) {
    return (err as Error).message
  }
}

const reachability = new Map<Engine, Promise<string | null>>()
/** null when the engine answers, else why not (memoized per test file). */
export function engineProblem(engine: Engine): Promise<string | null> {
  let p = reachability.get(engine)
  if (!p) reachability.set(engine, (p = reachable(engine)))
  return p
}

/** The run's migrated templates (tests/support/db-templates.ts); none outside a vitest run, e.g. in a bench. */
function serverTemplates(): ServerTemplates {
  try {
    return inject('serverTemplates') ?? { postgres: null, mysql: null }
  } catch {
    return { postgres: null, mysql: null }
  }
}

/**
 * A fresh, migrated database of its own on `engine`: a copy of the run's migrated template where there is one, else
 * migrated here. `migrate: false` gives an empty database (the migrations' own tests).
 */
export async function createTestDatabase(engine: Engine, options: { poolSize?: number; migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `wa_t_${process.pid}_${randomBytes(4).toString('hex')}`
  const wantMigrated = options.migrate !== false
  let migrated = false
  let url: string | null = null
  let open: (poolSize?: number) => Promise<Db>
  let dropDatabase: () => Promise<void>
  if (engine === 'mysql') {
    await createMysql(name)
    const template = wantMigrated ? serverTemplates().mysql : null
    if (template) await copyMysqlTemplate(template, name)
    migrated = template !== null
    url = withDatabase(TEST_MYSQL_URL, name)
    open = (poolSize) => openMysql({ url: url!, connectionLimit: poolSize ?? 10 })
    dropDatabase = () => dropMysql(name)
  } else if (engine === 'postgres') {
    const template = wantMigrated ? serverTemplates().postgres : null
    await createPostgres(name, template ?? undefined)
    migrated = template !== null
    url = withDatabase(TEST_POSTGRES_URL, name)
    open = (poolSize) => openPostgres({ url: url!, max: poolSize ?? 10 })
    dropDatabase = () => dropPostgres(name)
  } else {
    // PGlite opens a copy of a fresh data directory; a migrated one opened no faster than it migrates.
    const loadDataDir = await pgliteTemplate()
    open = () => openPglite({ dataDir: 'memory://', loadDataDir })
    dropDatabase = async () => {}
    if (wantMigrated) {
      // A migrated PGlite database this process emptied after an earlier test, or a new one (pglite-pool.ts).
      const pooled = await takePglite(async () => {
        const db = await open()
        await migrate(db)
        return db
      })
      return {
        engine,
        url,
        db: pooled.db,
        openAnother: () => Promise.reject(new Error('PGlite has a single connection')),
        drop: () => pooled.release(),
      }
    }
  }
  const db = await open(options.poolSize)
  if (wantMigrated && !migrated) await migrate(db)
  const others: Db[] = []
  return {
    engine,
    url,
    db,
    async openAnother(o = {}) {
      if (engine === 'pglite') throw new Error('PGlite has a single connection')
      const other = await open(o.poolSize)
      others.push(other)
      return other
    },
    async drop() {
      for (const o of others) await o.close().catch(() => {})
      await db.close().catch(() => {})
      await dropDatabase()
    },
  }
}

export interface EngineContext {
  engine: Engine
  /** The database of the current describe block (valid inside tests and hooks). */
  readonly db: Db
  readonly t: TestDatabase
}

/** Engines the global setup found unreachable, with the reason (empty under CI: it fails instead). */
export function unavailableEngines(): Partial<Record<Engine, string>> {
  try {
    return inject('unavailableEngines') ?? {}
  } catch {
    return {}
  }
}

/**
 * Runs the same block once per engine on a fresh database. A missing server engine skips its
 * block with the reason in the title (the global setup already failed the run under CI=true).
 */
export function describeEachEngine(
  title: string,
  body: (ctx: EngineContext) => void,
  options: { engines?: Engine[]; poolSize?: number } = {},
): void {
  const missing = unavailableEngines()
  for (const engine of options.engines ?? selectedEngines()) {
    const problem = missing[engine]
    if (problem) {
      describe.skip(`${title} [${engine}: skipped, ${problem}]`, () => body(ctxFor(() => undefined, engine)))
      continue
    }
    let current: TestDatabase | undefined
    describe(`${title} [${engine}]`, () => {
      beforeAll(async () => {
        current = await createTestDatabase(engine, { poolSize: options.poolSize })
      }, 120_000)
      afterAll(async () => {
        await current?.drop()
      }, 60_000)
      body(ctxFor(() => current, engine))
    })
  }
}

function ctxFor(get: () => TestDatabase | undefined, engine: Engine): EngineContext {
  const need = () => {
    const t = get()
    if (!t) throw new Error('database not ready')
    return t
  }
  return {
    engine,
    get db() {
      return need().db
    },
    get t() {
      return need()
    },
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    unavailableEngines: Partial<Record<Engine, string>>
    serverTemplates: ServerTemplates
  }
}
