/** Who a send goes to: a phone, or a group the session is in (db/README.md, Groups). */
import type { Queryable } from '../db/driver.js'
import { groupCanSend } from '../db/queries/groups.js'
import { ApiError } from './errors.js'
import { invalid } from './validation.js'

type To = { phone?: string | undefined; group?: string | undefined }

/** Exactly one of `phone` and `group` (checked before anything is read, like the schema's own checks). */
export function checkRecipient(to: To): void {
  if (to.group === undefined && to.phone === undefined) throw invalid('phone', 'missing_field', 'is required')
  checkNotBoth(to)
}

/** A group id as given (JID or numeric part, `groupIdSchema`) → its JID, as stored in `messages.phone`. */
export const groupJid = (group: string): string => (group.endsWith('@g.us') ? group : `${group}@g.us`)

/** `phone` and `group` may not both be given (a send, or a listing's filter). */
export function checkNotBoth(to: To): void {
  if (to.group !== undefined && to.phone !== undefined) throw invalid('group', 'phone_and_group', 'give phone or group, not both')
}

/**
 * The `phone` of a send to a phone or a group (db/README.md, Groups): a group must be one the session is in as last
 * fetched (404 `unknown_group`) and may send to (409 `group_read_only`); it is stored as its JID.
 */
export async function recipientOf(db: Queryable, session: string, to: To): Promise<string> {
  if (to.group === undefined) return to.phone!
  const id = groupJid(to.group)
  const canSend = await groupCanSend(db, session, id)
  if (canSend === null) throw new ApiError(404, 'unknown_group', `Not in group ${id}`)
  if (!canSend) throw new ApiError(409, 'group_read_only', `Only admins may send to ${id}`)
  return id
}
