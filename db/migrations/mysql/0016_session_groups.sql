-- The groups each number is in, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file for what each column means.
-- A re-run after an interruption reports 1050/1060 ("already there"), which the migration runner skips (db/migrate.ts).
CREATE TABLE IF NOT EXISTS session_groups (
  session VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  group_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  subject VARCHAR(255) NOT NULL,
  announce TINYINT(1) NOT NULL,
  is_admin TINYINT(1) NOT NULL,
  can_send TINYINT(1) NOT NULL,
  participant_count INT NOT NULL,
  participants MEDIUMTEXT NOT NULL,
  created_at DATETIME(6) NULL,
  fetched_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (session, group_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
ALTER TABLE sessions
  ADD COLUMN groups_refresh_requested_at DATETIME(6) NULL,
  ADD COLUMN groups_fetched_at DATETIME(6) NULL;
-- A group send keeps the group JID in messages.phone (up to 64 characters). Growing a VARCHAR whose length stays
-- under 256 bytes is done in place, without copying the table.
ALTER TABLE messages MODIFY phone VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
CREATE TABLE IF NOT EXISTS message_receipts (
  wa_message_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  participant VARCHAR(80) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  delivered_at DATETIME(6) NULL,
  read_at DATETIME(6) NULL,
  recorded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (wa_message_id, participant),
  KEY idx_message_receipts_recorded (recorded_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
ALTER TABLE inbound_messages ADD COLUMN group_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL;
