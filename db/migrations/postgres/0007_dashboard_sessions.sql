-- Dashboard sessions kept on the server, and the gateway's own random secrets, PostgreSQL 13+ and PGlite.
--
-- gateway_secrets: random values the gateway generates once and keeps with its data, one row per purpose (`name`).
--   `dashboard_cookie` keys the dashboard's cookie signature, CSRF tokens and key fingerprints when
--   DASHBOARD_COOKIE_SECRET is not set; being random, a leaked cookie says nothing about the API keys. The first
--   sign-in writes it (INSERT … ON CONFLICT DO NOTHING, then read back, so concurrent processes agree on one value).
-- dashboard_sessions: one row per dashboard sign-in. `id` is the SHA-256 of the random session id the cookie carries
--   (a copy of the table does not hand out live cookies). `key_fingerprint` is an HMAC of the API key that signed in,
--   never the key: a session whose key is no longer configured is refused. Sign-out deletes the row; rows past
--   `expires_at` are refused and deleted on the next sign-in.
CREATE TABLE IF NOT EXISTS gateway_secrets (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS dashboard_sessions (
  id text PRIMARY KEY,
  key_fingerprint text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_dashboard_sessions_expires ON dashboard_sessions (expires_at);
