-- The groups each number is in, PostgreSQL 13+ and PGlite (db/README.md, Groups), as its runner last fetched them.
--
-- session_groups           one row per (session, group JID); written only by the session's lease holder (fenced)
--                          on connect, on WhatsApp's group notifications and on a refresh request; read by the API.
--   group_id               the group JID, `120363…@g.us`.
--   subject                the group's name (WhatsApp allows 100 characters; kept up to 255).
--   announce               only admins may send.
--   is_admin               this number is an admin (or the creator) of the group.
--   can_send               this number may send to it: not announce-only, or an admin.
--   participant_count      the members, this number included.
--   participants           JSON array of {"phone", "lid", "admin"}: the phone's digits or null where WhatsApp hides
--                          it, the LID user or null, and true for admins. Always read and written whole, with the
--                          row, so JSON text rather than a child table (a group has at most 1024 members).
--   created_at             when the group was made on WhatsApp, NULL when it did not say.
--   fetched_at             when the runner wrote this row.
-- sessions.groups_refresh_requested_at  POST /api/sessions/{name}/groups/refresh: the lease holder clears it and
--                          fetches the list again (a command, like reconnect_requested_at).
-- sessions.groups_fetched_at            the last complete fetch of the list; NULL before the first.
-- messages.phone           a group send holds the group JID (`…@g.us`) here instead of a phone: the claim skips
--                          consent and the first-contact cap for it, and the runner sends to the JID (MySQL widens
--                          the column for it; PostgreSQL's is text already).
-- message_receipts          one group member's receipts of one of our group messages, by WhatsApp id and member
--                          address (a member's devices share one row), for GET /api/messages/{id}'s delivered_count and
--                          read_count; `messages` keeps the first delivered_at / read_at of any member. Pruned by
--                          `recorded_at` with the sent messages' retention.
CREATE TABLE IF NOT EXISTS session_groups (
  session text NOT NULL,
  group_id text NOT NULL,
  subject text NOT NULL,
  announce boolean NOT NULL,
  is_admin boolean NOT NULL,
  can_send boolean NOT NULL,
  participant_count integer NOT NULL,
  participants text NOT NULL,
  created_at timestamptz NULL,
  fetched_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session, group_id)
);
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS groups_refresh_requested_at timestamptz NULL;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS groups_fetched_at timestamptz NULL;
-- inbound_messages.group_id: the group JID a message was written in (its author in phone / lid); NULL for 1:1.
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS group_id text NULL;
CREATE TABLE IF NOT EXISTS message_receipts (
  wa_message_id text NOT NULL,
  participant text NOT NULL,
  delivered_at timestamptz NULL,
  read_at timestamptz NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (wa_message_id, participant)
);
CREATE INDEX IF NOT EXISTS idx_message_receipts_recorded ON message_receipts (recorded_at);
