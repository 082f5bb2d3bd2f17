-- The files people send, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file for what each column means.
-- One ALTER; a re-run after an interruption reports 1060 ("already there"), which the migration runner skips
-- (db/migrate.ts).
ALTER TABLE inbound_messages
  ADD COLUMN media_id BIGINT NULL,
  ADD COLUMN media_status ENUM('stored', 'too_large', 'failed') NULL;
