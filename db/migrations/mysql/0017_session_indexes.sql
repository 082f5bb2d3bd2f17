-- The runner's command poll reads only the sessions with a request waiting, MySQL 8.0.1+ / MariaDB 10.6+. See the
-- postgres file for what it serves. MySQL has no partial index: request_owner is the owner while a request waits and
-- NULL otherwise (NULLs are not looked up), so its index holds what the partial index holds on PostgreSQL. STORED, like
-- messages.sending_session. A re-run after an interruption reports 1060/1061 ("already there"), which the migration
-- runner skips (db/migrate.ts).
ALTER TABLE sessions
  ADD COLUMN request_owner VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin
    AS (CASE WHEN reconnect_requested_at IS NOT NULL
               OR delete_requested_at IS NOT NULL
               OR proxy_changed_at IS NOT NULL
               OR pairing_phone IS NOT NULL
               OR groups_refresh_requested_at IS NOT NULL
             THEN owner END) STORED;
CREATE INDEX idx_sessions_requests ON sessions (request_owner);
