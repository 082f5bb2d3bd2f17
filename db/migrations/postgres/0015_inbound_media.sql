-- The files people send, PostgreSQL 13+ and PGlite (db/README.md, Inbound media), for GET /api/inbound/{id}/media.
--
-- inbound_messages.media_id      media.id of the downloaded, decrypted file (its bytes in media_chunks, as outbound
--                                files are); NULL when nothing was stored. Nothing in `messages` references it, so
--                                the media pruner deletes the file after MEDIA_RETENTION_DAYS like any other.
-- inbound_messages.media_status  for an image, video, audio or document: 'stored', 'too_large' (declared or found
--                                larger than INBOUND_MEDIA_MAX_BYTES: recorded without bytes) or 'failed' (the media
--                                host refused it, or its bytes did not match the message's hashes); NULL otherwise.
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS media_id bigint NULL;
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS media_status text NULL
  CONSTRAINT inbound_messages_media_status_check CHECK (media_status IN ('stored', 'too_large', 'failed'));
