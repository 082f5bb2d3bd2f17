import type { Queryable } from './driver.js'

/**
 * Highest applied migration, or 0 on an empty database. Kept apart from `migrate.ts`, which reads
 * the migration files with node:fs, so the Workers API can check readiness without it.
 */
export async function currentSchemaVersion(db: Queryable): Promise<number> {
  try {
    const [row] = await db.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')
    return Number(row?.v ?? 0)
  } catch {
    return 0
  }
}
