-- Runner additions, MySQL 8.0.1+ / MariaDB 10.6+. See the postgres file for what the columns mean.
-- No IF NOT EXISTS: MySQL 8 has none for columns; each ALTER is one atomic statement and the migration is recorded
-- right after it, under the migration lock.
ALTER TABLE messages ADD COLUMN acked_at DATETIME(6) NULL;
ALTER TABLE contacts ADD COLUMN consent_requested_at DATETIME(6) NULL;
