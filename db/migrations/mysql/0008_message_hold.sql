-- Why a pending message waits, as a column instead of a sentence in `error`, MySQL 8.0.1+ / MariaDB 10.6+. See the
-- postgres file for what it means. A re-run after an interruption reports 1060 ("already there"), which the
-- migration runner skips (db/migrate.ts); the backfill matches nothing the second time.
ALTER TABLE messages ADD COLUMN hold ENUM('consent', 'limit') CHARACTER SET ascii COLLATE ascii_bin NULL;
UPDATE messages SET hold = 'consent' WHERE status = 'pending' AND hold IS NULL AND error = 'awaiting opt-in';
UPDATE messages SET hold = 'limit' WHERE status = 'pending' AND hold IS NULL AND error LIKE 'first-contact cap reached%';
