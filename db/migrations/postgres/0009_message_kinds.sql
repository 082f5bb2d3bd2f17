-- Every kind of message, PostgreSQL 13+ and PGlite (db/README.md, Message kinds).
--
-- messages.type   gains document, video, audio, location, contact, and revoke (a row that takes a sent message back
--                 for everyone: it is queued and paced like any send, and names its target in target_id).
-- messages.status gains cancelled: a pending message taken out of the queue by the API; final.
-- messages.details  JSON text with what a kind needs beyond body and media (a document's file name, a voice note's
--                 ptt flag, a location's coordinates, a contact card); NULL for text and image.
-- messages.reply_to inbound_messages.id this message quotes on the phone; NULL when it quotes nothing.
-- messages.target_id for a revoke row, the message it takes back.
-- messages.revoked_at when the message was taken back (its revoke row was sent).
-- media: large files are stored in media_chunks (no statement needs a packet above 1 MiB); media.bytes stays for rows
-- stored before, and width/height apply to images only.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_type_check
  CHECK (type IN ('text', 'image', 'document', 'video', 'audio', 'location', 'contact', 'revoke'));
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
  CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'opted_out', 'cancelled'));
ALTER TABLE messages ADD COLUMN IF NOT EXISTS details text NULL;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS reply_to bigint NULL;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS target_id bigint NULL;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS revoked_at timestamptz NULL;
CREATE INDEX IF NOT EXISTS idx_messages_target ON messages (target_id) WHERE target_id IS NOT NULL;

ALTER TABLE media ALTER COLUMN bytes DROP NOT NULL;
ALTER TABLE media ALTER COLUMN width DROP NOT NULL;
ALTER TABLE media ALTER COLUMN height DROP NOT NULL;
ALTER TABLE media ADD COLUMN IF NOT EXISTS chunks integer NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS media_chunks (
  media_id bigint NOT NULL,
  seq integer NOT NULL,
  bytes bytea NOT NULL,
  PRIMARY KEY (media_id, seq)
);
