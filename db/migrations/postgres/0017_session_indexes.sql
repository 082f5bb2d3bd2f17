-- What every runner reads every second finds its rows by index whatever it holds, PostgreSQL 13+ and PGlite
-- (db/README.md, How many sessions).
--
-- idx_sessions_requests   the owned sessions with a reconnect, delete, proxy change, pairing code or group refresh
--                         requested by the API (findSessionRequests, db/queries/session-reports.ts, every poll of every
--                         runner). Partial, so it holds only those few rows: without it the poll read every session
--                         the runner holds through idx_sessions_owner, once a second. The query repeats this predicate
--                         word for word, so the planner can prove it and use the index.
CREATE INDEX IF NOT EXISTS idx_sessions_requests ON sessions (owner)
  WHERE reconnect_requested_at IS NOT NULL
     OR delete_requested_at IS NOT NULL
     OR proxy_changed_at IS NOT NULL
     OR pairing_phone IS NOT NULL
     OR groups_refresh_requested_at IS NOT NULL;
--
-- idx_sessions_owner      rebuilt on (owner, name), partial as before. On (owner) alone, the generic plan of every
--                         fenced write and of the claim's lock (`WHERE name = $1 AND owner = $2 AND lease_epoch = $3`)
--                         could cost it level with the primary key (statistics taken while the sessions had no owner
--                         say an owner matches one row) and walk every session of the runner to find one: measured,
--                         250 index scans a second reading 1,000 rows each while 1,000 sessions sent. With both
--                         columns in it, either index finds the row by both equalities. renewLeases and probeDue read
--                         its owner prefix as before. MySQL's InnoDB index already ends with the primary key.
DROP INDEX IF EXISTS idx_sessions_owner;
CREATE INDEX IF NOT EXISTS idx_sessions_owner ON sessions (owner, name) WHERE owner IS NOT NULL;
