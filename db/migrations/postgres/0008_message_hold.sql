-- Why a pending message waits, PostgreSQL 13+ and PGlite.
--
-- messages.hold: NULL, or why a `pending` row was moved out of the claim's way (db/README.md, The message states):
--   'consent' — OPT_IN_MODE=confirm and the contact has not said YES; released when they do, looked at again every
--               15 minutes otherwise;
--   'limit'   — a sending limit (the first-contact cap) holds it until the next local midnight; released when the
--               session's cap changes.
--   The claim (markSending) and every status change clear it. `error` keeps the sentence the audit log has always
--   shown ('awaiting opt-in', the cap's sentence); code decides on `hold` only.
-- The backfill gives rows held before this migration their column, from the sentences the code used to match.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS hold text NULL CHECK (hold IN ('consent', 'limit'));
UPDATE messages SET hold = 'consent' WHERE status = 'pending' AND hold IS NULL AND error = 'awaiting opt-in';
UPDATE messages SET hold = 'limit' WHERE status = 'pending' AND hold IS NULL AND error LIKE 'first-contact cap reached%';
