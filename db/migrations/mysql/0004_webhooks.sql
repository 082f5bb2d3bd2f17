-- Webhooks, MySQL 8.0.1+ / MariaDB 10.6+.
-- webhooks: one row per configured endpoint. `events` is a comma-separated list of event types (FIND_IN_SET),
--   `session` an optional filter (NULL = every session). The secret signs every call; the API shows it once, at
--   creation, and never again (it is stored as is: the runner needs it to sign, like the API keys in .env).
-- webhook_deliveries: one row per (event, matching webhook), written by INSERT … SELECT FROM webhooks in the same
--   transaction as the change it reports, so a rolled-back change leaves no event and a committed one is never
--   lost. `event_id` (a UUID) is the same for every webhook the event fans out to and for every attempt.
--   status: pending → delivering (claimed; next_attempt_at is then the claim's expiry) → delivered | pending (retry
--   with backoff) | dead (24 h after the first attempt, with the last error); the API replays dead → pending.
-- No foreign keys (db/README.md, Tables): deleting a webhook deletes its deliveries in the same transaction.

CREATE TABLE IF NOT EXISTS webhooks (
  id BIGINT NOT NULL AUTO_INCREMENT,
  url VARCHAR(2048) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  events VARCHAR(1000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  session VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NULL,
  secret VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  enabled TINYINT(1) NOT NULL DEFAULT 1,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id BIGINT NOT NULL AUTO_INCREMENT,
  webhook_id BIGINT NOT NULL,
  event_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  type VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  payload MEDIUMTEXT NOT NULL,
  status ENUM('pending', 'delivering', 'delivered', 'dead') NOT NULL DEFAULT 'pending',
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(6) NOT NULL,
  locked_by VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  first_attempt_at DATETIME(6) NULL,
  last_attempt_at DATETIME(6) NULL,
  last_status INT NULL,
  last_error VARCHAR(1000) NULL,
  created_at DATETIME(6) NOT NULL,
  delivered_at DATETIME(6) NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_webhook_deliveries_event (webhook_id, event_id),
  KEY idx_webhook_deliveries_due (status, next_attempt_at),
  KEY idx_webhook_deliveries_webhook (webhook_id, id),
  KEY idx_webhook_deliveries_status_id (status, id),
  KEY idx_webhook_deliveries_prune (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
