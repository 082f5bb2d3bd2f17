-- Pairing codes, scheduled sends and sending limits, PostgreSQL 13+ and PGlite.
--
-- sessions, pairing by code (POST /api/sessions/:name/pairing-code): the API records the request (pairing_phone,
--   pairing_requested_at), the lease holder asks WhatsApp for a code and writes pairing_code back (or pairing_error);
--   the runner clears all four when the pairing ends, either way. paired_at: when this number was last linked
--   (the warm-up schedule counts days from it; NULL = linked before this feature, no warm-up).
-- sessions, limits (NULL = the runner's default from .env; 0 = off): daily_cap, warmup_start, warmup_days,
--   first_contact_cap (messages per day to numbers that never wrote to this session), breaker_failures (consecutive
--   send failures that pause the session), quiet_hours ('22:00-08:00' or 'off'), time_zone (IANA name: quiet hours
--   and the counters' midnight).
-- sessions, counters written by the claim under the lease (session row locked, so no lost updates): quota_day is the
--   local date the counts belong to (a claim on another day starts from 0), sent_today, first_contact_today;
--   consecutive_failures (reset by a successful send). hold_until / hold_reason: why the session is holding back
--   messages (a cap or quiet hours) and until when, for the dashboard and /api/status.
-- messages.send_at: the instant a scheduled send asked for (POST /api/send … "send_at"); available_at is
--   GREATEST(now, send_at), and the audit log shows "scheduled for …" from this column.
-- idx_inbound_session_phone: the claim's first-contact check ("has this phone ever written to this session?") is one
--   index probe.
ALTER TABLE sessions
  ADD COLUMN IF NOT EXISTS pairing_phone text NULL,
  ADD COLUMN IF NOT EXISTS pairing_requested_at timestamptz NULL,
  ADD COLUMN IF NOT EXISTS pairing_code text NULL,
  ADD COLUMN IF NOT EXISTS pairing_error text NULL,
  ADD COLUMN IF NOT EXISTS paired_at timestamptz NULL,
  ADD COLUMN IF NOT EXISTS daily_cap integer NULL,
  ADD COLUMN IF NOT EXISTS warmup_start integer NULL,
  ADD COLUMN IF NOT EXISTS warmup_days integer NULL,
  ADD COLUMN IF NOT EXISTS first_contact_cap integer NULL,
  ADD COLUMN IF NOT EXISTS breaker_failures integer NULL,
  ADD COLUMN IF NOT EXISTS quiet_hours text NULL,
  ADD COLUMN IF NOT EXISTS time_zone text NULL,
  ADD COLUMN IF NOT EXISTS quota_day text NULL,
  ADD COLUMN IF NOT EXISTS sent_today integer NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS first_contact_today integer NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS consecutive_failures integer NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS hold_until timestamptz NULL,
  ADD COLUMN IF NOT EXISTS hold_reason text NULL;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS send_at timestamptz NULL;
CREATE INDEX IF NOT EXISTS idx_inbound_session_phone ON inbound_messages (session, phone);
