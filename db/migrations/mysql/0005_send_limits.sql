-- Pairing codes, scheduled sends and sending limits, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file
-- for what each column means. One ALTER per table: each is atomic, and a re-run after an interruption reports 1060 /
-- 1061 ("already there"), which the migration runner skips (db/migrate.ts).
ALTER TABLE sessions
  ADD COLUMN pairing_phone VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN pairing_requested_at DATETIME(6) NULL,
  ADD COLUMN pairing_code VARCHAR(9) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN pairing_error VARCHAR(300) NULL,
  ADD COLUMN paired_at DATETIME(6) NULL,
  ADD COLUMN daily_cap INT NULL,
  ADD COLUMN warmup_start INT NULL,
  ADD COLUMN warmup_days INT NULL,
  ADD COLUMN first_contact_cap INT NULL,
  ADD COLUMN breaker_failures INT NULL,
  ADD COLUMN quiet_hours VARCHAR(11) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN time_zone VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN quota_day CHAR(10) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN sent_today INT NOT NULL DEFAULT 0,
  ADD COLUMN first_contact_today INT NOT NULL DEFAULT 0,
  ADD COLUMN consecutive_failures INT NOT NULL DEFAULT 0,
  ADD COLUMN hold_until DATETIME(6) NULL,
  ADD COLUMN hold_reason VARCHAR(500) NULL;
ALTER TABLE messages ADD COLUMN send_at DATETIME(6) NULL;
CREATE INDEX idx_inbound_session_phone ON inbound_messages (session, phone);
