/**
 * A requested session delete, carried out by its lease holder: the session goes, and so do its credentials and its
 * number checks; its `pending` messages end `failed` (db/README.md, The message states).
 */
import type { Db } from '../driver.js'
import { deleteAuthKeys, deleteSessionRow, lockSessionForDelete, type LeaseFence } from '../queries/leases.js'
import { deleteGroupsOf } from '../queries/groups.js'
import { deleteNumberChecks } from '../queries/number-checks.js'
import { failPendingById, failPendingOfSession, selectPendingOfSession } from '../queries/message-outcomes.js'
import { changeEachWithEvents } from '../queries/webhook-events.js'

/**
 * Carries out a requested delete of an owned session, after its socket has logged out: deletes the row, wipes
 * its `auth_keys`, `number_checks` and `session_groups`, and fails its `pending` messages ('session deleted'), in one
 * transaction (session row first).
 * Pending rows of a deleted session would wait forever (nothing can lease a missing session) or, worse, go out from
 * another number if the name is reused; failed, they can be resent by the API. With a webhook for `message.failed`,
 * each failed row gets its event. `false`: not deleted (lease gone, no delete requested, or the session is `default`).
 */
export async function deleteSessionFenced(db: Db, fence: LeaseFence): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await lockSessionForDelete(tx, fence))) return false
    await deleteSessionRow(tx, fence.name)
    await deleteAuthKeys(tx, fence.name)
    await deleteGroupsOf(tx, fence.name)
    await deleteNumberChecks(tx, fence.name)
    await changeEachWithEvents(tx, 'message.failed', {
      bulk: () => failPendingOfSession(tx, fence.name),
      selectIds: () => selectPendingOfSession(tx, fence.name),
      changeOne: (id) => failPendingById(tx, id),
    })
    return true
  })
}
