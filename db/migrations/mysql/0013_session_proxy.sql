-- A proxy per number, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file for what each column means. A re-run after
-- an interruption reports 1060 ("already there"), which the migration runner skips (db/migrate.ts); the table is
-- created IF NOT EXISTS.
ALTER TABLE sessions
  ADD COLUMN proxy_sealed TEXT CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN proxy_url VARCHAR(2048) NULL,
  ADD COLUMN proxy_changed_at DATETIME(6) NULL;
CREATE TABLE IF NOT EXISTS runner_keys (
  name VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  public_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
