-- What kind of message people wrote, PostgreSQL 13+ and PGlite (db/README.md, Tables), for GET /api/inbound.
--
-- inbound_messages.type     text, image, document, video, audio, location, contact, reaction or other (stickers,
--                           protocol messages…); rows stored before this migration are 'text'.
-- inbound_messages.body     stays the text of a text message; a reaction's emoji; NULL for the other kinds.
-- inbound_messages.caption  the caption of an image, video or document.
-- inbound_messages.mimetype, file_name, size  the media's metadata as WhatsApp declared it (size in bytes); the
--                           bytes themselves are not downloaded.
-- inbound_messages.lid      the sender's LID user part, when its address (or the alternate) was a LID.
-- inbound_messages.reply_to_message_id  messages.id of our message it quotes (contextInfo.stanzaId matched against
--                           messages.wa_message_id when stored); NULL when it quotes nothing of ours.
-- The listing pages newest first by id, filtered by session or phone, and by received_at for since/until.
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS type text NOT NULL DEFAULT 'text'
  CONSTRAINT inbound_messages_type_check
  CHECK (type IN ('text', 'image', 'document', 'video', 'audio', 'location', 'contact', 'reaction', 'other'));
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS caption text NULL;
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS mimetype text NULL;
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS file_name text NULL;
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS size bigint NULL;
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS lid text NULL;
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS reply_to_message_id bigint NULL;
CREATE INDEX IF NOT EXISTS idx_inbound_session_id ON inbound_messages (session, id);
CREATE INDEX IF NOT EXISTS idx_inbound_phone_id ON inbound_messages (phone, id);
CREATE INDEX IF NOT EXISTS idx_inbound_received ON inbound_messages (received_at);
