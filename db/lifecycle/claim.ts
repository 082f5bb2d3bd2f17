/**
 * The claim: a session's next due message goes `pending` → `sending` under the lease, with the sending limits, the
 * contact's consent and the throttle slot decided in the same transaction (db/README.md, Claim and throttle). Its
 * answer is what the runner's send loop does next.
 *
 * Lock order: the `sessions` row first, then `messages`, each row by its primary key before any secondary index
 * entry. The transaction does nothing but SQL, because `transaction()` may re-run it on contention.
 */
import { toId, toIdOrNull, type Db, type Queryable, type Row } from '../driver.js'
import { isFirstContact } from '../queries/inbound.js'
import { readOptIn } from '../queries/contacts.js'
import { holdForConsent, holdForLimit, markOptedOut, markSending, selectNextPending } from '../queries/message-claim.js'
import type { LeaseFence } from '../queries/leases.js'
import { lockSessionForClaim, setHold, takeSendSlotCounting, type LimitState } from '../queries/send-slot.js'
import { emitMessageEvent } from '../queries/webhook-events.js'
import { parseDetails } from '../queries/messages.js'
import { isGroupAddress, type MessageRecord, type PresenceSetting } from '../types.js'
import { holdAfterClaim, NO_LIMITS, planLimits, type LimitDefaults } from './limit-plan.js'

/** A message moved to `sending` under this runner's epoch: what the runner needs to send it. */
export type ClaimedMessage = Pick<
  MessageRecord,
  'id' | 'session' | 'phone' | 'type' | 'body' | 'mediaId' | 'details' | 'replyTo' | 'targetId' | 'attempts' | 'waMessageId' | 'claimEpoch'
> & { waMessageId: string; claimEpoch: number }

/** Result of `claimNextMessage`. */
export type ClaimResult =
  /**
   * Send it under `message.waMessageId`, then settle it with the same epoch. `presence`: show typing first (the
   * session's setting, else the runner's default). `dueInMs`: the slot this claim took is that far ahead (0 unless
   * the claim came early by up to the presence lead): the message must not leave before it.
   */
  | { kind: 'claimed'; message: ClaimedMessage; presence: boolean; dueInMs: number }
  /**
   * The throttle slot or a pause is not due yet (or the round limit was hit: `waitMs = 0`): sleep, then claim
   * again. `hold`: the session holds for a limit (quiet hours, daily cap); the sentence is on the row as `hold_reason`.
   */
  | { kind: 'wait'; waitMs: number; hold?: string }
  /** Nothing sendable is due: wait for a wake-up (`probeDue`). */
  | { kind: 'idle' }
  /** The lease is gone (other owner, other epoch, or expired): stop the loop and close the socket. */
  | { kind: 'fenced' }

/** Error text of a message held back under `OPT_IN_MODE=confirm` (its `hold` is 'consent'). */
export const AWAITING_OPT_IN = 'awaiting opt-in'
/** Error text of a message whose contact opted out. */
export const OPTED_OUT_ERROR = 'contact opted out'
/**
 * A session holding for a limit claims again at least this often (one short transaction), so a settings change
 * (PATCH /api/sessions/:name) takes effect within this time without any message from the API to the runner.
 */
export const HOLD_RECHECK_MS = 15_000
/** Most candidates one claim transaction looks at before giving back `wait 0` (db/README.md, Claim and throttle). */
export const MAX_CLAIM_ROUNDS = 20

/** Whole milliseconds for interval arithmetic (MySQL `INTERVAL ? * 1000 MICROSECOND` wants no fraction). */
export function wholeMs(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`duration must be a non-negative number of ms, got ${ms}`)
  return Math.round(ms)
}

/** Maps a claimed or adopted row; `attempts`, `waMessageId` and `claimEpoch` are the values after the update. */
export function toClaimedMessage(row: Row): ClaimedMessage {
  return {
    id: toId(row.id),
    session: String(row.session),
    phone: String(row.phone),
    type: row.type as ClaimedMessage['type'],
    body: row.body === null || row.body === undefined ? null : String(row.body),
    mediaId: toIdOrNull(row.media_id),
    details: parseDetails(row.details),
    replyTo: toIdOrNull(row.reply_to),
    targetId: toIdOrNull(row.target_id),
    attempts: Number(row.attempts),
    waMessageId: String(row.wa_message_id),
    claimEpoch: Number(row.claim_epoch),
  }
}

export interface ClaimNextMessageParams {
  session: string
  /** This runner's id. */
  owner: string
  /** The session's `lease_epoch` (from acquire/renew); becomes the message's `claim_epoch`. */
  epoch: number
  /** The drawn throttle gap for the next claim: `min + random × (max − min)` (db/README.md, Claim and throttle). */
  gapMs: number
  /** `open`: pending contacts receive messages. `confirm`: only contacts with `opt_in = 'yes'` do (runner/README.md). */
  optInMode: 'open' | 'confirm'
  /** Creates a WhatsApp id (Baileys `generateMessageIDV2`) for a message that has none yet. */
  newWaId: () => string
  /** How far a held message moves back under `confirm` (default 15 min); see `releaseHeldMessages`. */
  holdMs?: number
  /** The runner's default sending limits (limit-plan.ts); absent = all off. Counters are kept either way. */
  limits?: LimitDefaults
  /**
   * Typing before each send (runner/README.md, Typing before each send): `default` applies to a session whose
   * `presence` column is NULL; where it is on, the claim may come up to `leadMs` before the throttle slot (never
   * during a pause), so the typing fills the end of the gap and the message leaves when the slot is due. Absent: off.
   */
  presence?: { default: PresenceSetting; leadMs: number }
}

/** Records why and until when the session holds (lease-guarded); skipped when the row already says so. */
async function showHold(tx: Queryable, fence: LeaseFence, state: LimitState, hold: { until: Date | null; reason: string | null }): Promise<void> {
  if ((state.holdUntil?.getTime() ?? null) === (hold.until?.getTime() ?? null) && state.holdReason === hold.reason) return
  await setHold(tx, fence, hold)
}

/**
 * Claims the session's next due message in ONE transaction (db/README.md): lockSessionForClaim → sending limits
 * (quiet hours, daily cap: hold the session) → up to 20 rounds of selectNextPending / readOptIn (→ markOptedOut, or
 * holdForConsent under `confirm`) / first-contact check (→ holdForLimit until the next local midnight once that cap
 * is reached) → markSending → takeSendSlotCounting.
 *
 * - `fenced`: the lease is lost; nothing changed.
 * - `wait`: the slot or a pause is not due (nothing changed), or 20 candidates were opted out/held (their marks
 *   commit, the slot stays free, `waitMs = 0`).
 * - `idle`: no due message is sendable (opt-out marks still commit).
 * - `claimed`: the message is `sending` under `epoch` with its WhatsApp id committed before any socket write.
 *
 * A contact without a `contacts` row counts as `pending` (the column's default). Throws `UniqueViolationError`
 * (and changes nothing) if the session already has a `sending` row: reconcile first, and alert.
 * @example
 * const r = await claimNextMessage(db, { session, owner, epoch, gapMs: throttle.next(), optInMode: 'open', newWaId })
 * if (r.kind === 'claimed') await send(r.message)
 */
export async function claimNextMessage(db: Db, params: ClaimNextMessageParams): Promise<ClaimResult> {
  const { session, owner, epoch, optInMode, newWaId } = params
  const gapMs = wholeMs(params.gapMs)
  const holdMs = wholeMs(params.holdMs ?? 15 * 60_000)
  return db.transaction(async (tx): Promise<ClaimResult> => {
    const lock = await lockSessionForClaim(tx, { session, owner, epoch })
    if (!lock) return { kind: 'fenced' }
    const presence = (lock.limits.settings.presence ?? params.presence?.default ?? 'off') === 'on'
    const leadMs = presence ? wholeMs(params.presence?.leadMs ?? 0) : 0
    // A pause is waited out in full; the throttle slot only until the lead before it.
    if (lock.pauseMs > 0) return { kind: 'wait', waitMs: Math.max(lock.pauseMs, lock.waitMs - leadMs) }
    if (lock.waitMs > leadMs) return { kind: 'wait', waitMs: lock.waitMs - leadMs }
    const fence = { name: session, owner, epoch }
    const plan = planLimits(lock.limits, params.limits ?? NO_LIMITS)
    if (plan.hold) {
      // Quiet hours or today's cap: nothing is claimed and no slot is taken; the row says why and until when.
      await showHold(tx, fence, lock.limits, { until: new Date(plan.hold.until), reason: plan.hold.reason })
      return { kind: 'wait', waitMs: Math.min(HOLD_RECHECK_MS, Math.max(1, plan.hold.until - lock.limits.nowMs)), hold: plan.hold.reason }
    }
    // A first-contact message held back in this transaction shows its reason on the session row too.
    let heldFirstContact = false
    const showFirstContactHold = async () => {
      if (heldFirstContact && plan.firstContactFull) {
        await showHold(tx, fence, lock.limits, { until: new Date(plan.firstContactFull.until), reason: plan.firstContactFull.reason })
      }
    }
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const row = await selectNextPending(tx, session)
      if (!row) {
        await showFirstContactHold()
        return { kind: 'idle' }
      }
      const id = toId(row.id)
      const phone = String(row.phone)
      // A revoke takes back what this number already sent: consent and the first-contact cap concern new messages.
      // Neither concerns a group: consent is a person's answer in a 1:1 chat, and a group is no first contact.
      const exempt = row.type === 'revoke' || isGroupAddress(phone)
      const optIn = exempt ? 'yes' : (await readOptIn(tx, phone)) ?? 'pending'
      if (optIn === 'no') {
        if (await markOptedOut(tx, id)) await emitMessageEvent(tx, 'message.opted_out', id)
        continue
      }
      if (optIn === 'pending' && optInMode === 'confirm') {
        await holdForConsent(tx, id, holdMs)
        continue
      }
      const first = !exempt && plan.limits.firstContactCap > 0 && (await isFirstContact(tx, session, phone))
      if (first && plan.firstContactFull) {
        await holdForLimit(tx, id, new Date(plan.firstContactFull.until), plan.firstContactFull.reason)
        heldFirstContact = true
        continue
      }
      const storedWaId = row.wa_message_id === null || row.wa_message_id === undefined ? null : String(row.wa_message_id)
      const waMessageId = storedWaId ?? newWaId()
      // The row is locked by this transaction and was pending, so `false` cannot happen; guard anyway.
      if (!(await markSending(tx, { id, owner, epoch, waMessageId }))) continue
      const hold = holdAfterClaim(lock.limits, plan)
      await takeSendSlotCounting(tx, {
        ...fence, gapMs, day: plan.today, sent: plan.sent + 1, firstContact: plan.firstContact + (first ? 1 : 0),
        holdUntil: hold.until, holdReason: hold.reason,
      })
      return {
        kind: 'claimed',
        message: toClaimedMessage({ ...row, session, attempts: Number(row.attempts) + 1, wa_message_id: waMessageId, claim_epoch: epoch }),
        presence,
        dueInMs: lock.waitMs,
      }
    }
    await showFirstContactHold()
    return { kind: 'wait', waitMs: 0 }
  })
}
