-- Initial schema, MySQL 8.0.1+ / MariaDB 10.6+. Names are the contract (db/README.md, Tables).
-- Key columns are ascii_bin so equality behaves as on Postgres; user text is utf8mb4.
-- No foreign keys on queue tables: an FK check share-locks the session row a claim holds (db/README.md, Tables).

CREATE TABLE IF NOT EXISTS sessions (
  name VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  status ENUM('online', 'offline', 'connecting') NOT NULL DEFAULT 'offline',
  phone VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NULL,
  last_seen DATETIME(6) NULL,
  qr_code MEDIUMTEXT CHARACTER SET ascii COLLATE ascii_bin NULL,
  qr TEXT CHARACTER SET ascii COLLATE ascii_bin NULL,
  detail VARCHAR(500) NULL,
  owner VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  lease_epoch INT NOT NULL DEFAULT 0,
  lease_until DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:00',
  next_send_at DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:00',
  paused_until DATETIME(6) NULL,
  reconnect_requested_at DATETIME(6) NULL,
  delete_requested_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (name),
  KEY idx_sessions_lease (lease_until),
  KEY idx_sessions_owner (owner)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS media (
  id BIGINT NOT NULL AUTO_INCREMENT,
  bytes LONGBLOB NOT NULL,
  mime VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  size INT NOT NULL,
  width INT NOT NULL,
  height INT NOT NULL,
  sha256 CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY idx_media_sha256 (sha256),
  KEY idx_media_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS messages (
  id BIGINT NOT NULL AUTO_INCREMENT,
  session VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  phone VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  type ENUM('text', 'image') NOT NULL,
  body TEXT NULL,
  media_id BIGINT NULL,
  status ENUM('pending', 'sending', 'sent', 'failed', 'opted_out') NOT NULL DEFAULT 'pending',
  attempts INT NOT NULL DEFAULT 0,
  available_at DATETIME(6) NOT NULL,
  wa_message_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  claimed_by VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  claim_epoch INT NULL,
  claimed_at DATETIME(6) NULL,
  sent_at DATETIME(6) NULL,
  delivered_at DATETIME(6) NULL,
  read_at DATETIME(6) NULL,
  error VARCHAR(1000) NULL,
  idempotency_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
  request_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  -- NULL unless sending; NULLs never collide, so the unique key allows one 'sending' row per session.
  sending_session VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin
    AS (CASE WHEN status = 'sending' THEN session END) STORED,
  PRIMARY KEY (id),
  UNIQUE KEY uq_messages_idempotency (idempotency_key),
  UNIQUE KEY uq_messages_wa_id (wa_message_id),
  UNIQUE KEY uq_messages_one_sending (sending_session),
  KEY idx_messages_claim (session, status, available_at, id),
  KEY idx_messages_prune (status, sent_at),
  KEY idx_messages_media (media_id),
  KEY idx_messages_phone (phone, status),
  KEY idx_messages_status_id (status, id),
  KEY idx_messages_session_id (session, id),
  KEY idx_messages_phone_id (phone, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS contacts (
  phone VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  opt_in ENUM('pending', 'yes', 'no') NOT NULL DEFAULT 'pending',
  opt_in_at DATETIME(6) NULL,
  name VARCHAR(200) NULL,
  lid VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  last_inbound_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (phone),
  KEY idx_contacts_lid (lid)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS inbound_messages (
  id BIGINT NOT NULL AUTO_INCREMENT,
  session VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  phone VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NULL,
  sender_jid VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  body TEXT NULL,
  wa_message_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  action VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NULL,
  received_at DATETIME(6) NOT NULL,
  processed_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_inbound_wa_id (session, wa_message_id),
  KEY idx_inbound_phone (phone, received_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS auth_keys (
  session VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  type VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  key_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  -- AES-256-GCM ciphertext; app-state-sync-version values reach megabytes.
  value LONGBLOB NOT NULL,
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (session, type, key_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS runners (
  id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  host VARCHAR(255) NOT NULL,
  pid INT NOT NULL,
  started_at DATETIME(6) NOT NULL,
  heartbeat_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_runners_heartbeat (heartbeat_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS cron_runs (
  task VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  slot DATETIME(6) NOT NULL,
  runner VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  ran_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (task, slot),
  KEY idx_cron_runs_slot (slot)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- `default` exists from the first start and can never be deleted.
INSERT INTO sessions (name, created_at, updated_at)
SELECT 'default', NOW(6), NOW(6) FROM DUAL
 WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE name = 'default');
