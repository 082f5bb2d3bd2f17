-- Single number checks (GET /api/sessions/:name/check/:phone), PostgreSQL 13+ and PGlite (db/README.md, Number checks).
--
-- number_checks: one row per (session, phone). The API writes a request (requested_at, the rest NULL); the runner
--   holding the session's lease asks WhatsApp and writes answered_at with jid (NULL: not on WhatsApp) or error. An
--   answered row is the cache for a day from requested_at; the API deletes a request nobody answered in time, and
--   the hourly prune deletes rows older than a day.
-- sessions.check_window_at, check_count: the per-session rate limit, a fixed one-minute window counted by one
--   UPDATE on the session row, so every API process and Worker shares it.
CREATE TABLE IF NOT EXISTS number_checks (
  session text NOT NULL,
  phone text NOT NULL,
  requested_at timestamptz NOT NULL,
  answered_at timestamptz NULL,
  jid text NULL,
  error text NULL,
  PRIMARY KEY (session, phone)
);
CREATE INDEX IF NOT EXISTS idx_number_checks_requested ON number_checks (requested_at);
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS check_window_at timestamptz NULL;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS check_count integer NOT NULL DEFAULT 0;
