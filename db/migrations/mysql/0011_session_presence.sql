-- Typing before each send, per session, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file for what it means. A re-run
-- after an interruption reports 1060 ("already there"), which the migration runner skips (db/migrate.ts).
ALTER TABLE sessions
  ADD COLUMN presence VARCHAR(3) CHARACTER SET ascii COLLATE ascii_bin NULL CHECK (presence IN ('on', 'off'));
