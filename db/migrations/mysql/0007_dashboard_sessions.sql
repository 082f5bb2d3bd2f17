-- Dashboard sessions kept on the server, and the gateway's own random secrets, MySQL 8.0.1+ / MariaDB 10.6+. See the
-- postgres file for what each table and column means. A re-run after an interruption reports 1050 / 1061 ("already
-- there"), which the migration runner skips (db/migrate.ts).
CREATE TABLE IF NOT EXISTS gateway_secrets (
  name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  value VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS dashboard_sessions (
  id CHAR(43) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  key_fingerprint VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
CREATE INDEX idx_dashboard_sessions_expires ON dashboard_sessions (expires_at);
