-- Typing before each send, per session, PostgreSQL 13+ and PGlite.
--
-- sessions.presence: whether the runner shows "typing…" (or "recording…" before a voice note) to the recipient before
--   each send (runner/README.md, Typing before each send). 'on', 'off', or NULL = the runner's default (PRESENCE in
--   .env). Read with the claim's session lock like the sending limits, so a change applies at the next claim.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS presence text NULL CHECK (presence IN ('on', 'off'));
