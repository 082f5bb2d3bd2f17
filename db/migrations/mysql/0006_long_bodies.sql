-- Message bodies as MEDIUMTEXT (16 MiB) instead of TEXT (65,535 bytes), MySQL 8.0.1+ / MariaDB 10.6+.
-- TEXT counts bytes: 30,000 CJK characters are 90,000 bytes of utf8mb4, so a long inbound message failed with
-- error 1406 in strict mode and was dropped after five tries; an outbound text up to MESSAGE_MAX_CHARS (at most
-- 65,536 characters) did not fit either. Every other user-text column is bounded where it is written (contact names
-- 200, errors and details 300-1000 characters) and webhook payloads are MEDIUMTEXT already.
-- MODIFY keeps the table's utf8mb4 default and is idempotent, so a re-run after an interruption is harmless. It copies
-- the table: on a large `messages` table, run the migration (npm run migrate) at a quiet time.
ALTER TABLE inbound_messages MODIFY COLUMN body MEDIUMTEXT NULL;
ALTER TABLE messages MODIFY COLUMN body MEDIUMTEXT NULL;
