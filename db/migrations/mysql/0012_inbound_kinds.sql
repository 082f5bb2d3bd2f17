-- What kind of message people wrote, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file for what each column means.
-- One ALTER for the columns (appended columns are added in place); a re-run after an interruption reports
-- 1060/1061 ("already there"), which the migration runner skips (db/migrate.ts).
ALTER TABLE inbound_messages
  ADD COLUMN type ENUM('text', 'image', 'document', 'video', 'audio', 'location', 'contact', 'reaction', 'other') NOT NULL DEFAULT 'text',
  ADD COLUMN caption MEDIUMTEXT NULL,
  ADD COLUMN mimetype VARCHAR(255) NULL,
  ADD COLUMN file_name VARCHAR(255) NULL,
  ADD COLUMN size BIGINT NULL,
  ADD COLUMN lid VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN reply_to_message_id BIGINT NULL;
ALTER TABLE inbound_messages ADD KEY idx_inbound_session_id (session, id);
ALTER TABLE inbound_messages ADD KEY idx_inbound_phone_id (phone, id);
ALTER TABLE inbound_messages ADD KEY idx_inbound_received (received_at);
