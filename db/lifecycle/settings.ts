/** A session's sending limits or proxy change (PATCH /api/sessions/:name, the dashboard). */
import type { Db } from '../driver.js'
import { releaseLimitHolds } from '../queries/message-claim.js'
import { writeSessionSettings } from '../queries/sessions.js'
import type { SessionSettings } from '../types.js'

/**
 * Changes some of a session's limit settings (`null` = back to the runner's default), validated by the caller. A hold
 * the claim recorded for a cap or quiet hours is dropped so the next claim (within 15 s) decides afresh; a
 * circuit-breaker pause stays. When the first-contact cap changes, the messages it held (`hold = 'limit'`) become due
 * again, in the same transaction. `proxy` (sealed and masked, or null to connect directly; omitted = unchanged) is
 * written in it too and flags the change for the lease holder. Returns false when there is no such session (or it is
 * being deleted), and then nothing is written.
 */
export async function updateSessionSettings(
  db: Db, name: string, patch: Partial<SessionSettings>, proxy?: { sealed: string; url: string } | null,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await writeSessionSettings(tx, name, patch, proxy))) return false
    if (patch.firstContactCap !== undefined) await releaseLimitHolds(tx, name)
    return true
  })
}
