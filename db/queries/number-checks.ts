/**
 * Single number checks (db/README.md, Number checks). The API counts a check against the session's rate limit,
 * writes a request row and polls it; the lease holder of the session finds it, asks WhatsApp and writes the answer
 * back. An answered row is the cache for a day. The API never talks to the runner.
 */
import type { Queryable } from '../driver.js'
import { each } from '../sql.js'
import type { LeaseFence } from './leases.js'

/** A runner answers a request only this long after it was made: the API stops waiting then (api/number-check.ts). */
export const NUMBER_CHECK_WAIT_S = 10

/** A row as the API reads it: unanswered (`answered` false), or the answer (`jid` null: not on WhatsApp), or why not. */
export interface NumberCheck {
  answered: boolean
  jid: string | null
  error: string | null
}

const READ = /* @__PURE__ */ each(
  `SELECT answered_at, jid, error FROM number_checks WHERE session = ? AND phone = ? AND requested_at > NOW(6) - INTERVAL 1 DAY`,
  `SELECT answered_at, jid, error FROM number_checks WHERE session = $1 AND phone = $2 AND requested_at > now() - INTERVAL '1 DAY'`,
)

/** The check of `phone` on `session` asked within the last day, answered or not; null when there is none. */
export async function readNumberCheck(db: Queryable, session: string, phone: string): Promise<NumberCheck | null> {
  const [r] = await db.query(READ[db.dialect], [session, phone])
  // Text columns come back as strings from every driver.
  return r ? { answered: r.answered_at != null, jid: (r.jid as string | null) ?? null, error: (r.error as string | null) ?? null } : null
}

// One UPDATE on the session row (its lock serializes concurrent API processes): a window older than a minute starts
// over at this check, else the check is counted while the count is below the limit (a new session's 0 always is).
// Neither assignment reads a column assigned before it, so MySQL's left-to-right order and MariaDB's
// SIMULTANEOUS_ASSIGNMENT mode give the same result.
const COUNT = /* @__PURE__ */ each(
  `UPDATE sessions SET check_count = IF(check_window_at > NOW(6) - INTERVAL 1 MINUTE, check_count + 1, 1), check_window_at = IF(check_window_at > NOW(6) - INTERVAL 1 MINUTE, check_window_at, NOW(6)) WHERE name = ? AND (check_count < ? OR check_window_at <= NOW(6) - INTERVAL 1 MINUTE)`,
  `UPDATE sessions SET check_count = CASE WHEN check_window_at > now() - INTERVAL '1 MINUTE' THEN check_count + 1 ELSE 1 END, check_window_at = CASE WHEN check_window_at > now() - INTERVAL '1 MINUTE' THEN check_window_at ELSE now() END WHERE name = $1 AND (check_count < $2 OR check_window_at <= now() - INTERVAL '1 MINUTE')`,
)

const WAIT = /* @__PURE__ */ each(
  `SELECT TIMESTAMPDIFF(MICROSECOND, NOW(6), check_window_at + INTERVAL 1 MINUTE) / 1e6 AS s FROM sessions WHERE name = ?`,
  `SELECT extract(epoch FROM check_window_at + INTERVAL '1 MINUTE' - now()) AS s FROM sessions WHERE name = $1`,
)

/**
 * Counts one check against `session`'s limit of `perMinute`. 0: counted; otherwise the whole seconds (at least 1)
 * until the window ends, and nothing was counted.
 */
export async function countNumberCheck(db: Queryable, session: string, perMinute: number): Promise<number> {
  if ((await db.execute(COUNT[db.dialect], [session, perMinute])).affectedRows > 0) return 0
  const [r] = await db.query(WAIT[db.dialect], [session])
  return Math.max(1, Math.ceil(Number(r?.s ?? 1)))
}

const REQUEST = /* @__PURE__ */ each(
  `INSERT INTO number_checks (session, phone, requested_at) VALUES (?, ?, NOW(6)) ON DUPLICATE KEY UPDATE requested_at = NOW(6), answered_at = NULL, jid = NULL, error = NULL`,
  `INSERT INTO number_checks (session, phone, requested_at) VALUES ($1, $2, now()) ON CONFLICT (session, phone) DO UPDATE SET requested_at = now(), answered_at = NULL, jid = NULL, error = NULL`,
)

/** Writes (or renews) the request for `phone` on `session`, unanswered. */
export async function requestNumberCheck(db: Queryable, session: string, phone: string): Promise<void> {
  await db.execute(REQUEST[db.dialect], [session, phone])
}

const DROP = /* @__PURE__ */ each(
  `DELETE FROM number_checks WHERE session = ? AND phone = ? AND (answered_at IS NULL OR error IS NOT NULL)`,
  `DELETE FROM number_checks WHERE session = $1 AND phone = $2 AND (answered_at IS NULL OR error IS NOT NULL)`,
)

/** Withdraws an unanswered request, or forgets a failed one (neither is a cache entry). */
export async function dropNumberCheck(db: Queryable, session: string, phone: string): Promise<void> {
  await db.execute(DROP[db.dialect], [session, phone])
}

/** An unanswered check on a session this runner holds. */
export interface NumberCheckRequest {
  session: string
  leaseEpoch: number
  phone: string
}

// The 10 s are NUMBER_CHECK_WAIT_S.
const FIND = /* @__PURE__ */ each(
  `SELECT c.session, s.lease_epoch, c.phone
  FROM sessions s
  JOIN number_checks c ON c.session = s.name
 WHERE s.owner = ?
   AND s.lease_until > NOW(6)
   AND c.answered_at IS NULL
   AND c.requested_at > NOW(6) - INTERVAL 10 SECOND`,
  `SELECT c.session, s.lease_epoch, c.phone
  FROM sessions s
  JOIN number_checks c ON c.session = s.name
 WHERE s.owner = $1
   AND s.lease_until > now()
   AND c.answered_at IS NULL
   AND c.requested_at > now() - interval '10 seconds'`,
)

/** The SQL of `findNumberChecks`, for the EXPLAIN tests. */
export const FIND_NUMBER_CHECKS_SQL = FIND

/**
 * Unanswered checks on the sessions `owner` holds (polled with the other commands, every ~1 s). A request older than
 * the API's wait is left alone: nobody is waiting for it, and a session coming back online must not fire a burst of
 * old checks at WhatsApp.
 */
export async function findNumberChecks(db: Queryable, owner: string): Promise<NumberCheckRequest[]> {
  const rows = await db.query(FIND[db.dialect], [owner])
  return rows.map((r) => ({ session: String(r.session), leaseEpoch: Number(r.lease_epoch), phone: String(r.phone) }))
}

const ANSWER = /* @__PURE__ */ each(
  `UPDATE number_checks
   SET answered_at = NOW(6),
       jid = ?,
       error = ?
 WHERE session = ?
   AND phone = ?
   AND answered_at IS NULL
   AND EXISTS (SELECT 1 FROM sessions WHERE name = ? AND owner = ? AND lease_epoch = ?)`,
  `UPDATE number_checks
   SET answered_at = now(),
       jid = $1,
       error = $2
 WHERE session = $3
   AND phone = $4
   AND answered_at IS NULL
   AND EXISTS (SELECT 1 FROM sessions WHERE name = $5 AND owner = $6 AND lease_epoch = $7)`,
)

/**
 * Answers the request for `phone`: its JID, `null` when the number is not on WhatsApp, or why there is no answer.
 * Fenced by the lease like every runner write. `false`: withdrawn meanwhile (the API gave up), or the lease is gone.
 */
export async function answerNumberCheck(db: Queryable, fence: LeaseFence, phone: string, answer: { jid: string | null } | { error: string }): Promise<boolean> {
  const jid = 'jid' in answer ? answer.jid : null
  const error = 'error' in answer ? answer.error.slice(0, 300) : null
  const res = await db.execute(ANSWER[db.dialect], [jid, error, fence.name, phone, fence.name, fence.owner, fence.epoch])
  return res.affectedRows > 0
}

const DELETE_OF_SESSION = /* @__PURE__ */ each(
  `DELETE FROM number_checks WHERE session = ?`,
  `DELETE FROM number_checks WHERE session = $1`,
)

/** A deleted session's checks go with it: a new session of the same name starts with no cache. */
export async function deleteNumberChecks(tx: Queryable, session: string): Promise<void> {
  await tx.execute(DELETE_OF_SESSION[tx.dialect], [session])
}

const PRUNE = /* @__PURE__ */ each(
  `DELETE FROM number_checks WHERE requested_at < NOW(6) - INTERVAL 1 DAY`,
  `DELETE FROM number_checks WHERE requested_at < now() - INTERVAL '1 DAY'`,
)

/** Deletes checks older than a day: expired cache entries and requests nobody withdrew (the hourly prune job). */
export async function pruneNumberChecks(db: Queryable): Promise<number> {
  return (await db.execute(PRUNE[db.dialect], [])).affectedRows
}
