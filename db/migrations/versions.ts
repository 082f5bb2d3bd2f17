/**
 * The schema version this code expects. `/readyz` compares it with `schema_migrations` without
 * reading the migration files (Workers cannot read files); a test keeps it equal to the newest file.
 */
export const LATEST_MIGRATION = 17
