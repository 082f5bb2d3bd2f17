/**
 * Pairing by code, the runner's side (runner/README.md). The API records a request on the session row
 * (`requestPairingCode` in sessions.ts: `pairing_phone`, `pairing_requested_at`); the lease holder finds it here,
 * asks WhatsApp for a code on a registering socket and writes `pairing_code` (or `pairing_error`) back, which the
 * API is polling for. Every write is fenced by the lease, like every runner write to `sessions` (leases.ts).
 */
import type { Queryable } from '../driver.js'
import { each } from '../sql.js'
import type { LeaseFence } from './leases.js'

/** An unanswered pairing-code request on a session this runner holds. */
export interface PairingRequest {
  name: string
  leaseEpoch: number
  /** Phone digits with country code, as the API normalized them. */
  phone: string
}

const ANSWER_PAIRING = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET pairing_code = ?,
       pairing_error = ?,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND pairing_phone = ?
   AND pairing_code IS NULL
   AND pairing_error IS NULL`,
  `UPDATE sessions
   SET pairing_code = $1,
       pairing_error = $2,
       updated_at = now()
 WHERE name = $3
   AND owner = $4
   AND lease_epoch = $5
   AND pairing_phone = $6
   AND pairing_code IS NULL
   AND pairing_error IS NULL`,
)

/**
 * Answers the request for `phone` with a code (`XXXX-XXXX`) or with why there is none. `false`: the request was
 * withdrawn or replaced meanwhile, or the lease is gone.
 */
export async function answerPairingRequest(
  db: Queryable,
  fence: LeaseFence,
  phone: string,
  answer: { code: string } | { error: string },
): Promise<boolean> {
  const code = 'code' in answer ? answer.code : null
  const error = 'error' in answer ? answer.error.slice(0, 300) : null
  const res = await db.execute(ANSWER_PAIRING[db.dialect], [code, error, fence.name, fence.owner, fence.epoch, phone])
  return res.affectedRows > 0
}

const CLEAR_PAIRING = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET pairing_phone = NULL,
       pairing_requested_at = NULL,
       pairing_code = NULL,
       pairing_error = NULL,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND pairing_phone IS NOT NULL`,
  `UPDATE sessions
   SET pairing_phone = NULL,
       pairing_requested_at = NULL,
       pairing_code = NULL,
       pairing_error = NULL,
       updated_at = now()
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   AND pairing_phone IS NOT NULL`,
)

/** The pairing ended (linked, expired or abandoned): the code is no longer shown. */
export async function clearPairing(db: Queryable, fence: LeaseFence): Promise<boolean> {
  const res = await db.execute(CLEAR_PAIRING[db.dialect], [fence.name, fence.owner, fence.epoch])
  return res.affectedRows > 0
}

const MARK_PAIRED = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET paired_at = NOW(6),
       pairing_phone = NULL,
       pairing_requested_at = NULL,
       pairing_code = NULL,
       pairing_error = NULL,
       updated_at = NOW(6)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?`,
  `UPDATE sessions
   SET paired_at = now(),
       pairing_phone = NULL,
       pairing_requested_at = NULL,
       pairing_code = NULL,
       pairing_error = NULL,
       updated_at = now()
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3`,
)

/**
 * A new link completed (QR scan or code: Baileys' `isNewLogin`): the warm-up schedule starts today, and any pairing
 * request is over.
 */
export async function markPaired(db: Queryable, fence: LeaseFence): Promise<boolean> {
  const res = await db.execute(MARK_PAIRED[db.dialect], [fence.name, fence.owner, fence.epoch])
  return res.affectedRows > 0
}
