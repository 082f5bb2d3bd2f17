-- Runner additions, PostgreSQL 13+ and PGlite.
-- messages.acked_at: when WhatsApp's server acknowledged the stanza (<ack class="message">), beside sent_at (socket
--   write), delivered_at and read_at. Keyed by wa_message_id like the receipts (db/README.md).
-- contacts.consent_requested_at: under OPT_IN_MODE=confirm, when the consent request went to this phone, so it is
--   sent once, not once per held message.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS acked_at timestamptz NULL;
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS consent_requested_at timestamptz NULL;
