/**
 * What an inbound message does (runner/README.md, STOP and YES): it is stored once per (session, WhatsApp id), and
 * its consent decision changes the contact and that phone's messages in the same transaction: a STOP opts out its
 * `pending` messages (opt-out.ts), a YES or a pending contact's first message releases the ones held for consent
 * (consent.ts).
 */
import type { Db, Queryable } from '../driver.js'
import { lockContactOptIn, recordInboundConsent } from '../queries/contacts.js'
import { insertMedia } from '../queries/media.js'
import {
  insertInbound, isInboundStored, markInboundResolved, selectUnresolvedInbound,
  type InboundAction, type InboundInput, type InboundResult,
} from '../queries/inbound.js'
import { emitContactEvent, emitInboundEvent } from '../queries/webhook-events.js'
import type { OptIn } from '../types.js'
import { releaseHeldMessages } from './consent.js'
import { markPendingOptedOut } from './opt-out.js'

export type { InboundAction, InboundInput, InboundMedia, InboundResult } from '../queries/inbound.js'

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
  // Webhook events for real changes only, in this transaction.
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
    // Cheap pre-check so a redelivery does not lock the contact row or store its file again.
    if (await isInboundStored(tx, input.session, input.waMessageId)) return { kind: 'duplicate' }
    // The file goes in with the message: a duplicate rolls both back, so no file is stored without its message.
    const media = input.media
    const mediaId = media?.status === 'stored' ? await insertMedia(tx, { bytes: media.bytes, mime: media.mime, sha256: media.sha256 }) : null
    if (!input.phone) {
      if (!(await insertInbound(tx, input, 'unresolved', mediaId))) throw new DuplicateInbound()
      await emitInboundEvent(tx, input.session, input.waMessageId)
      return { kind: 'stored', action: 'unresolved', optIn: null, optedOut: 0, released: 0 }
    }
    const d = await decide(tx, input.session, input.phone, input.keyword, input.pushName)
    if (!(await insertInbound(tx, input, d.action, mediaId))) {
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

/**
 * Decides the stored `unresolved` messages of a LID sender now that its phone is known, in arrival order.
 * `keywordOf` is the runner's keyword matcher. Returns the decisions made (for confirmations).
 */
export async function resolveInbound(
  db: Db,
  params: { session: string; senderJid: string; phone: string; keywordOf: (body: string | null) => 'stop' | 'start' | null },
): Promise<{ waMessageId: string; action: InboundAction }[]> {
  return db.transaction(async (tx) => {
    const rows = await selectUnresolvedInbound(tx, params.session, params.senderJid)
    const out: { waMessageId: string; action: InboundAction }[] = []
    for (const row of rows) {
      const d = await decide(tx, params.session, params.phone, params.keywordOf(row.text), null)
      if (await markInboundResolved(tx, { session: params.session, waMessageId: row.waMessageId, phone: params.phone, action: d.action })) {
        out.push({ waMessageId: row.waMessageId, action: d.action })
      }
    }
    return out
  })
}
