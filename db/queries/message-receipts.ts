/**
 * Facts from WhatsApp about a message, keyed by `wa_message_id` (uq_messages_wa_id) and not fenced: a receipt is
 * true whoever holds the lease now, and the first time is kept. One named function per statement; the transactions
 * and their webhook events are in `db/lifecycle/receipts.ts`.
 */
import type { Queryable, Row } from '../driver.js'
import { each } from '../sql.js'

// acked_at comes from migration 0002 (the server's <ack class="message">, beside sent_at = socket write).
const RECORD_SERVER_ACK = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (uq_messages_wa_id)
   SET acked_at = COALESCE(acked_at, NOW(6)),
       updated_at = NOW(6)
 WHERE wa_message_id = ?`,
  `UPDATE messages
   SET acked_at = COALESCE(acked_at, now()),
       updated_at = now()
 WHERE wa_message_id = $1`,
)

/** Stamps the server ack, keeping the first time. `false`: no message has that id. */
export async function recordServerAck(db: Queryable, waMessageId: string): Promise<boolean> {
  return (await db.execute(RECORD_SERVER_ACK[db.dialect], [waMessageId])).affectedRows > 0
}

const RECORD_DELIVERED = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (uq_messages_wa_id)
   SET delivered_at = COALESCE(delivered_at, NOW(6)),
       updated_at = NOW(6)
 WHERE wa_message_id = ?`,
  `UPDATE messages
   SET delivered_at = COALESCE(delivered_at, now()),
       updated_at = now()
 WHERE wa_message_id = $1`,
)

/** Stamps delivery, keeping the first time. `false`: no message has that id. */
export async function recordDelivered(tx: Queryable, waMessageId: string): Promise<boolean> {
  return (await tx.execute(RECORD_DELIVERED[tx.dialect], [waMessageId])).affectedRows > 0
}

// The first receipt only: a row matched here is a real transition, which is what message.delivered reports.
const RECORD_FIRST_DELIVERED = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (uq_messages_wa_id)
   SET delivered_at = NOW(6),
       updated_at = NOW(6)
 WHERE wa_message_id = ?
   AND delivered_at IS NULL`,
  `UPDATE messages
   SET delivered_at = now(),
       updated_at = now()
 WHERE wa_message_id = $1
   AND delivered_at IS NULL`,
)

/** Stamps delivery if none is on record. `false`: already delivered, or no message has that id. */
export async function recordFirstDelivered(tx: Queryable, waMessageId: string): Promise<boolean> {
  return (await tx.execute(RECORD_FIRST_DELIVERED[tx.dialect], [waMessageId])).affectedRows > 0
}

const LOCK_RECEIPTS = /* @__PURE__ */ each(
  `SELECT delivered_at, read_at
  FROM messages FORCE INDEX (uq_messages_wa_id)
 WHERE wa_message_id = ?
   FOR UPDATE`,
  `SELECT delivered_at, read_at
  FROM messages
 WHERE wa_message_id = $1
   FOR UPDATE`,
)

/** Locks the message and reads its receipt times, or null when no message has that id. */
export async function lockReceipts(tx: Queryable, waMessageId: string): Promise<Row | null> {
  const [row] = await tx.query(LOCK_RECEIPTS[tx.dialect], [waMessageId])
  return row ?? null
}

const RECORD_READ = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (uq_messages_wa_id)
   SET read_at = COALESCE(read_at, NOW(6)),
       delivered_at = COALESCE(delivered_at, NOW(6)),
       updated_at = NOW(6)
 WHERE wa_message_id = ?`,
  `UPDATE messages
   SET read_at = COALESCE(read_at, now()),
       delivered_at = COALESCE(delivered_at, now()),
       updated_at = now()
 WHERE wa_message_id = $1`,
)

/** Stamps read (and delivered, if not yet), keeping the first times. */
export async function recordRead(tx: Queryable, waMessageId: string): Promise<void> {
  await tx.execute(RECORD_READ[tx.dialect], [waMessageId])
}

const FAIL_BY_WA_ID = /* @__PURE__ */ each(
  `UPDATE messages FORCE INDEX (uq_messages_wa_id)
   SET status = 'failed',
       error = ?,
       updated_at = NOW(6)
 WHERE wa_message_id = ?
   AND status IN ('sending', 'sent')`,
  `UPDATE messages
   SET status = 'failed',
       error = $1,
       updated_at = now()
 WHERE wa_message_id = $2
   AND status IN ('sending', 'sent')`,
)

/** A negative ack: `sending` or `sent` → `failed` with the reason. `false`: no such message in those states. */
export async function failByWaId(tx: Queryable, waMessageId: string, error: string): Promise<boolean> {
  return (await tx.execute(FAIL_BY_WA_ID[tx.dialect], [error, waMessageId])).affectedRows > 0
}

// One member's receipt of a group message (db/README.md, Groups): a read implies delivery; the first times are kept.
const RECORD_MEMBER_RECEIPT = /* @__PURE__ */ each(
  `INSERT INTO message_receipts (wa_message_id, participant, delivered_at, read_at, recorded_at)
VALUES (?, ?, NOW(6), CASE WHEN ? THEN NOW(6) END, NOW(6))
ON DUPLICATE KEY UPDATE delivered_at = COALESCE(delivered_at, NOW(6)),
  read_at = COALESCE(read_at, VALUES(read_at))`,
  `INSERT INTO message_receipts (wa_message_id, participant, delivered_at, read_at, recorded_at)
VALUES ($1, $2, now(), CASE WHEN $3 THEN now() END, now())
ON CONFLICT (wa_message_id, participant) DO UPDATE SET delivered_at = COALESCE(message_receipts.delivered_at, now()),
  read_at = COALESCE(message_receipts.read_at, EXCLUDED.read_at)`,
)

/** Records a group member's delivery (or read) of message `waMessageId`, once per member. */
export async function recordMemberReceipt(db: Queryable, waMessageId: string, participant: string, read: boolean): Promise<void> {
  await db.execute(RECORD_MEMBER_RECEIPT[db.dialect], [waMessageId, participant.slice(0, 80), db.dialect === 'mysql' ? Number(read) : read])
}
