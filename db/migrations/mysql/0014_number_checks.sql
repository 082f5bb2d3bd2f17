-- Single number checks, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file for what each column means. A re-run
-- after an interruption reports 1060/1061 ("already there"), which the migration runner skips (db/migrate.ts).
CREATE TABLE IF NOT EXISTS number_checks (
  session VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  phone VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  requested_at DATETIME(6) NOT NULL,
  answered_at DATETIME(6) NULL,
  jid VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NULL,
  error VARCHAR(300) NULL,
  PRIMARY KEY (session, phone),
  KEY idx_number_checks_requested (requested_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
ALTER TABLE sessions
  ADD COLUMN check_window_at DATETIME(6) NULL,
  ADD COLUMN check_count INT NOT NULL DEFAULT 0;
