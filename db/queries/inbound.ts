import { UniqueViolationError, type Db, type Queryable } from '../driver.js'
import { each, same } from '../sql.js'
import type { OptIn } from '../types.js'
import { lockContactOptIn, recordInboundConsent } from './contacts.js'
import { markPendingOptedOut, releaseHeldMessages } from './queue.js'
import { emitContactEvent, emitInboundEvent } from './webhooks.js'

/**
 * `inbound_messages`: what people wrote to the gateway's numbers, stored once per (session, WhatsApp id), and the
 * consent decision each one carries (runner/README.md, STOP and YES). Live (`notify`) and offline-backlog (`append`)
 * deliveries, and redeliveries after a crash, all land here; the unique key makes each count once.
 */

/** What an inbound message did to consent. */
export type InboundAction =
  /** STOP or a synonym: opt_in = no, pending messages opted out. */
  | 'stop'
  /** YES or a synonym: opt_in = yes. */
  | 'start'
  /** Any other text from a pending (or unknown) contact: opt_in = yes. */
  | 'opt-in'
  /** Any other text from a contact who already decided. */
  | 'none'
  /** The sender's phone is not known yet (a LID without a mapping): stored, decided later. */
  | 'unresolved'

export interface InboundInput {
  session: string
  /** Sender phone digits, or null when only a LID is known. */
  phone: string | null
  senderJid: string
  body: string | null
  waMessageId: string
  /** The keyword the runner matched in `body` (runner/whatsapp/consent.ts), or null. */
  keyword: 'stop' | 'start' | null
  pushName?: string | null
}

/**
 * The longest body stored (UTF-16 code units). WhatsApp's own limit is far below it; a longer text can only come from
 * a modified client. Its start is kept rather than the message refused: it may be a STOP, and a write that fails
 * every time would be retried and then dropped. 262,144 units are at most 1 MiB of UTF-8 and stay within MEDIUMTEXT
 * also inside the `message.received` webhook payload, where JSON escaping can grow a character to 6 bytes.
 */
export const INBOUND_BODY_MAX_CHARS = 262_144

/** `body` cut to `INBOUND_BODY_MAX_CHARS`, never between the two halves of a surrogate pair. */
export function fitInboundBody(body: string | null): string | null {
  if (body === null || body.length <= INBOUND_BODY_MAX_CHARS) return body
  const cut = body.slice(0, INBOUND_BODY_MAX_CHARS)
  const last = cut.charCodeAt(cut.length - 1)
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut
}

export type InboundResult =
  | { kind: 'duplicate' }
  | { kind: 'stored'; action: InboundAction; optIn: OptIn | null; optedOut: number; released: number }

const INSERT = each(
  `INSERT INTO inbound_messages (session, phone, sender_jid, body, wa_message_id, action, received_at, processed_at)
VALUES (?, ?, ?, ?, ?, ?, NOW(6), CASE WHEN ? THEN NOW(6) ELSE NULL END)`,
  // ON CONFLICT: a raw 23505 would abort the transaction on Postgres.
  `INSERT INTO inbound_messages (session, phone, sender_jid, body, wa_message_id, action, received_at, processed_at)
VALUES ($1, $2, $3, $4, $5, $6, now(), CASE WHEN $7 THEN now() ELSE NULL END)
ON CONFLICT (session, wa_message_id) DO NOTHING
RETURNING id`,
)

async function insertOnce(tx: Queryable, input: InboundInput, action: InboundAction): Promise<boolean> {
  const processed = action !== 'unresolved'
  const params = [
    input.session, input.phone, input.senderJid, fitInboundBody(input.body), input.waMessageId, action,
    tx.dialect === 'mysql' ? (processed ? 1 : 0) : processed,
  ]
  if (tx.dialect === 'mysql') {
    try {
      await tx.execute(INSERT.mysql, params)
      return true
    } catch (err) {
      // 1062 rolls back only the statement on InnoDB; the transaction stays usable.
      if (err instanceof UniqueViolationError) return false
      throw err
    }
  }
  return (await tx.query(INSERT.postgres, params)).length > 0
}

const ALREADY_STORED = same(`SELECT 1 AS x
  FROM inbound_messages
 WHERE session = ?
   AND wa_message_id = ?`)

async function decide(tx: Queryable, session: string, phone: string, keyword: InboundInput['keyword'], pushName: string | null | undefined) {
  const current = await lockContactOptIn(tx, phone)
  let optIn: OptIn
  let action: InboundAction
  let changed = true
  if (keyword === 'stop') {
    optIn = 'no'
    action = 'stop'
  } else if (keyword === 'start') {
    optIn = 'yes'
    action = 'start'
  } else if (current === null || current === 'pending') {
    optIn = 'yes'
    action = 'opt-in'
  } else {
    optIn = current
    action = 'none'
    changed = false
  }
  await recordInboundConsent(tx, { phone, optIn, changed, name: pushName ?? null })
  // Webhook events for real changes only, in this transaction (db/queries/webhooks.ts).
  if (optIn === 'no' && current !== 'no') await emitContactEvent(tx, 'contact.opted_out', phone, session, 'inbound')
  if (optIn === 'yes' && current !== 'yes') await emitContactEvent(tx, 'contact.opted_in', phone, session, 'inbound')
  let optedOut = 0
  let released = 0
  if (optIn === 'no') optedOut = await markPendingOptedOut(tx, phone)
  else if (changed) released = await releaseHeldMessages(tx, phone)
  return { optIn, action, optedOut, released }
}

/**
 * Stores an inbound message once and applies its consent effect in the same transaction: the contact's new
 * `opt_in` (STOP → no and that phone's pending messages `opted_out`; YES or a pending contact's first message →
 * yes and held messages released). A redelivery of the same (session, id) is a `duplicate` and changes nothing.
 * A message whose sender is only a LID is stored as `unresolved` (never dropped: it may be a STOP) and decided by
 * `resolveInbound` once the phone is known.
 * @example const r = await recordInbound(db, { session, phone, senderJid, body: 'STOP', waMessageId, keyword: 'stop' })
 */
export async function recordInbound(db: Db, input: InboundInput): Promise<InboundResult> {
  return db.transaction(async (tx): Promise<InboundResult> => {
    if (!input.phone) {
      const inserted = await insertOnce(tx, input, 'unresolved')
      if (inserted) await emitInboundEvent(tx, input.session, input.waMessageId)
      return inserted ? { kind: 'stored', action: 'unresolved', optIn: null, optedOut: 0, released: 0 } : { kind: 'duplicate' }
    }
    // Cheap pre-check so a redelivery does not lock the contact row.
    if ((await tx.query(ALREADY_STORED[tx.dialect], [input.session, input.waMessageId])).length > 0) return { kind: 'duplicate' }
    const d = await decide(tx, input.session, input.phone, input.keyword, input.pushName)
    if (!(await insertOnce(tx, input, d.action))) {
      // A concurrent delivery of the same message won the insert: undo this one's consent effect (and its events).
      throw new DuplicateInbound()
    }
    await emitInboundEvent(tx, input.session, input.waMessageId)
    return { kind: 'stored', ...d }
  }).catch((err) => {
    if (err instanceof DuplicateInbound) return { kind: 'duplicate' } as const
    throw err
  })
}

class DuplicateInbound extends Error {}

const UNRESOLVED = same(`SELECT wa_message_id, sender_jid, body
  FROM inbound_messages
 WHERE session = ?
   AND sender_jid = ?
   AND processed_at IS NULL
 ORDER BY id`)

const RESOLVE = same(`UPDATE inbound_messages
   SET phone = ?,
       action = ?,
       processed_at = NOW(6)
 WHERE session = ?
   AND wa_message_id = ?
   AND processed_at IS NULL`)

/**
 * Decides the stored `unresolved` messages of a LID sender now that its phone is known, in arrival order.
 * `keywordOf` is the runner's keyword matcher. Returns the decisions made (for confirmations).
 */
export async function resolveInbound(
  db: Db,
  params: { session: string; senderJid: string; phone: string; keywordOf: (body: string | null) => 'stop' | 'start' | null },
): Promise<{ waMessageId: string; action: InboundAction }[]> {
  return db.transaction(async (tx) => {
    const rows = await tx.query(UNRESOLVED[tx.dialect], [params.session, params.senderJid])
    const out: { waMessageId: string; action: InboundAction }[] = []
    for (const row of rows) {
      const body = row.body === null ? null : String(row.body)
      const d = await decide(tx, params.session, params.phone, params.keywordOf(body), null)
      const res = await tx.execute(RESOLVE[tx.dialect], [params.phone, d.action, params.session, String(row.wa_message_id)])
      if (res.affectedRows > 0) out.push({ waMessageId: String(row.wa_message_id), action: d.action })
    }
    return out
  })
}

const LIST_FOR_PHONE = same(`SELECT session, phone, sender_jid, body, wa_message_id, action, received_at, processed_at
  FROM inbound_messages
 WHERE phone = ?
 ORDER BY id`)

/** Inbound messages of a phone, oldest first (tests, dashboard). */
export async function listInboundForPhone(db: Queryable, phone: string) {
  return (await db.query(LIST_FOR_PHONE[db.dialect], [phone])).map((r) => ({
    session: String(r.session),
    phone: r.phone === null ? null : String(r.phone),
    senderJid: String(r.sender_jid),
    body: r.body === null ? null : String(r.body),
    waMessageId: String(r.wa_message_id),
    action: (r.action ?? null) as InboundAction | null,
  }))
}
