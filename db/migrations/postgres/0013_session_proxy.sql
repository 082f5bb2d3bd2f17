-- A proxy per number, PostgreSQL 13+ and PGlite (runner/README.md, Proxy per number).
--
-- sessions.proxy_sealed      the proxy URL sealed for the runners (db/shared/proxy.ts): 'v1.' + base64url of the
--                            API's ephemeral P-256 public key, the AES-GCM IV and the ciphertext; only a key derived
--                            from AUTH_STATE_KEY opens it. NULL = connect directly.
-- sessions.proxy_url         the same URL with its password replaced by *** (what the API and the dashboard show).
-- sessions.proxy_changed_at  set by the API when the proxy changes; the lease holder clears it and reconnects.
-- runner_keys                public keys the runners publish for the API (name 'proxy': the P-256 key proxies are
--                            sealed for). The API never sees AUTH_STATE_KEY.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS proxy_sealed text NULL;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS proxy_url text NULL;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS proxy_changed_at timestamptz NULL;
CREATE TABLE IF NOT EXISTS runner_keys (
  name text PRIMARY KEY,
  public_key text NOT NULL,
  updated_at timestamptz NOT NULL
);
