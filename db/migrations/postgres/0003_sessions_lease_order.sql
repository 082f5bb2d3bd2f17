-- acquireSessionLeases orders by (lease_until, name) (db/README.md). With an index on lease_until alone, Postgres
-- adds an Incremental Sort over each group of equal lease_until values, and every session that was never leased or
-- was released shares '1970-01-01': the whole group is read and sorted before LIMIT 2 (tests/db/explain.test.ts).
-- Indexing (lease_until, name) lets LIMIT stop at the first entries. Same name, so what names it still holds.
DROP INDEX IF EXISTS idx_sessions_lease;
CREATE INDEX IF NOT EXISTS idx_sessions_lease ON sessions (lease_until, name);
