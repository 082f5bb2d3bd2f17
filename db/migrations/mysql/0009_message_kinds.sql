-- Every kind of message, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file for what each column means. Values are
-- appended at the end of each ENUM, which both servers apply without rebuilding the table. A re-run after an
-- interruption reports 1060/1061/1050 ("already there"), which the migration runner skips (db/migrate.ts).
ALTER TABLE messages MODIFY type ENUM('text', 'image', 'document', 'video', 'audio', 'location', 'contact', 'revoke') NOT NULL;
ALTER TABLE messages MODIFY status ENUM('pending', 'sending', 'sent', 'failed', 'opted_out', 'cancelled') NOT NULL DEFAULT 'pending';
ALTER TABLE messages ADD COLUMN details TEXT NULL;
ALTER TABLE messages ADD COLUMN reply_to BIGINT NULL;
ALTER TABLE messages ADD COLUMN target_id BIGINT NULL;
ALTER TABLE messages ADD COLUMN revoked_at DATETIME(6) NULL;
ALTER TABLE messages ADD KEY idx_messages_target (target_id);

ALTER TABLE media MODIFY bytes LONGBLOB NULL;
ALTER TABLE media MODIFY width INT NULL;
ALTER TABLE media MODIFY height INT NULL;
ALTER TABLE media MODIFY mime VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
ALTER TABLE media ADD COLUMN chunks INT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS media_chunks (
  media_id BIGINT NOT NULL,
  seq INT NOT NULL,
  bytes MEDIUMBLOB NOT NULL,
  PRIMARY KEY (media_id, seq)
) ENGINE = InnoDB;
