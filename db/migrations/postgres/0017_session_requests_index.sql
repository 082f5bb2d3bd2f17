-- The runner's command poll reads only the sessions with a request waiting, PostgreSQL 13+ and PGlite (db/README.md,
-- How many sessions).
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
