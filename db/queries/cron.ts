/**
 * Maintenance that must run once across all runners (db/README.md): the slot claim, the lease sweeper,
 * the stuck-`sending` alert, dead runners, and batched pruning.
 *
 * Every task is level-triggered ("everything older than X"), so a slot lost to a crash is caught up by the next.
 */
import type { Db, Queryable, Row } from '../driver.js'
import { UniqueViolationError, toDate, toId } from '../driver.js'
import { each } from '../sql.js'
import type { MessageRecord } from '../types.js'

/** A message `sending` for too long (alert only: its lease holder resolves it). */
export type StuckMessage = Pick<MessageRecord, 'id' | 'session' | 'claimedBy' | 'claimedAt'>

/** Maps a `findStuckSending` row. */
export function toStuckMessage(row: Row): StuckMessage {
  return {
    id: toId(row.id),
    session: String(row.session),
    claimedBy: row.claimed_by === null ? null : String(row.claimed_by),
    claimedAt: toDate(row.claimed_at),
  }
}

function positiveInt(name: string, n: number): number {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${name} must be a positive whole number, got ${n}`)
  return n
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// The slot is the database's now, floored to the period (UTC on both engines).
// MySQL: no INSERT IGNORE, which would hide other errors too; 1062 is the "someone else has it" signal.
// Postgres: ON CONFLICT, because a raw 23505 would abort a surrounding transaction.
const CLAIM_CRON_SLOT = /* @__PURE__ */ each(
  `INSERT INTO cron_runs (task, slot, runner)
VALUES (?, FROM_UNIXTIME(FLOOR(UNIX_TIMESTAMP(NOW(6)) / ?) * ?), ?)`,
  `INSERT INTO cron_runs (task, slot, runner)
VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / $2) * $2), $3)
ON CONFLICT (task, slot) DO NOTHING
RETURNING slot`,
)

/**
 * Claims the current `periodSeconds` slot of `task` for `runner`: `true` means run the task now, `false` means
 * another runner already has this slot (db/README.md, Maintenance slots). Claim first, then work.
 * @example if (await claimCronSlot(db, { task: 'prune', periodSeconds: 3600, runner: runnerId })) await pruneSentMessages(db, opts)
 */
export async function claimCronSlot(db: Queryable, params: { task: string; periodSeconds: number; runner: string }): Promise<boolean> {
  const period = positiveInt('periodSeconds', params.periodSeconds)
  if (db.dialect === 'postgres') {
    const rows = await db.query(CLAIM_CRON_SLOT.postgres, [params.task, period, params.runner])
    return rows.length > 0
  }
  try {
    await db.execute(CLAIM_CRON_SLOT.mysql, [params.task, period, period, params.runner])
    return true
  } catch (err) {
    if (err instanceof UniqueViolationError) return false
    throw err
  }
}

// For the dashboard only: epochs change only on acquire, so a swept session is simply free.
const SWEEP_EXPIRED_LEASES = /* @__PURE__ */ each(
  `UPDATE sessions
   SET owner = NULL,
       status = 'offline',
       detail = 'lease expired',
       updated_at = NOW(6)
 WHERE owner IS NOT NULL
   AND lease_until < NOW(6) - INTERVAL ? SECOND`,
  `UPDATE sessions
   SET owner = NULL,
       status = 'offline',
       detail = 'lease expired',
       updated_at = now()
 WHERE owner IS NOT NULL
   AND lease_until < now() - $1 * interval '1 second'`,
)

/** Marks sessions whose lease ran out more than `graceSeconds` (10) ago as offline and ownerless. Returns the count. */
export async function sweepExpiredLeases(db: Queryable, graceSeconds = 10): Promise<number> {
  const res = await db.execute(SWEEP_EXPIRED_LEASES[db.dialect], [positiveInt('graceSeconds', graceSeconds)])
  return res.affectedRows
}

const FIND_STUCK_SENDING = /* @__PURE__ */ each(
  `SELECT id, session, claimed_by, claimed_at
  FROM messages
 WHERE status = 'sending'
   AND claimed_at < NOW(6) - INTERVAL ? SECOND
 ORDER BY claimed_at`,
  `SELECT id, session, claimed_by, claimed_at
  FROM messages
 WHERE status = 'sending'
   AND claimed_at < now() - $1 * interval '1 second'
 ORDER BY claimed_at`,
)

/** `sending` rows claimed more than `olderThanSeconds` (120) ago, for the alert. */
export async function findStuckSending(db: Queryable, olderThanSeconds = 120): Promise<StuckMessage[]> {
  const rows = await db.query(FIND_STUCK_SENDING[db.dialect], [positiveInt('olderThanSeconds', olderThanSeconds)])
  return rows.map(toStuckMessage)
}

const DELETE_DEAD_RUNNERS = /* @__PURE__ */ each(
  `DELETE FROM runners
 WHERE heartbeat_at < NOW(6) - INTERVAL ? SECOND`,
  `DELETE FROM runners
 WHERE heartbeat_at < now() - $1 * interval '1 second'`,
)

/** Removes runners silent for more than `olderThanSeconds` (120). Returns the count. */
export async function deleteDeadRunners(db: Queryable, olderThanSeconds = 120): Promise<number> {
  const res = await db.execute(DELETE_DEAD_RUNNERS[db.dialect], [positiveInt('olderThanSeconds', olderThanSeconds)])
  return res.affectedRows
}

// ---------------------------------------------------------------------------------------------------------------
// 6.9 Batched pruning

/** Batch knobs shared by the pruning tasks (1,000 keys, 200 ms apart, at most 50 batches). */
export interface PruneParams {
  /** Keep rows younger than this many days. */
  retentionDays: number
  batchSize?: number
  maxBatches?: number
  pauseMs?: number
}

// MySQL deletes by primary key: a secondary-range DELETE locks more and races enqueue (db/README.md).
export const SELECT_PRUNABLE_MESSAGES_MYSQL = `SELECT id
  FROM messages
 WHERE status = 'sent'
   AND sent_at < NOW(6) - INTERVAL ? DAY
 ORDER BY sent_at
 LIMIT ?`

// Re-checks the status: a negative ack may have turned a selected row `failed` in between.
const DELETE_MESSAGES_MYSQL = `DELETE FROM messages
 WHERE id IN (?)
   AND status = 'sent'`

// Postgres does it in one statement; SKIP LOCKED leaves rows a receipt is updating for the next batch.
// `id = ANY(ARRAY(…))` rather than `id IN (…)`: with IN the planner hash-joins the batch against a
// sequential scan of all of messages (measured at 100,000 rows, tests/db/explain.test.ts); ARRAY(…) is computed
// once and probed through the primary key.
export const DELETE_PRUNABLE_MESSAGES_PG = `DELETE FROM messages
 WHERE id = ANY(ARRAY(SELECT id
                        FROM messages
                       WHERE status = 'sent'
                         AND sent_at < now() - $1 * interval '1 day'
                       ORDER BY sent_at
                       LIMIT $2
                         FOR UPDATE SKIP LOCKED))`

async function inBatches(
  params: PruneParams,
  defaults: { batchSize: number },
  batch: (size: number) => Promise<{ done: number; seen: number }>,
): Promise<number> {
  const batchSize = positiveInt('batchSize', params.batchSize ?? defaults.batchSize)
  const maxBatches = positiveInt('maxBatches', params.maxBatches ?? 50)
  const pauseMs = params.pauseMs ?? 200
  let total = 0
  for (let i = 0; i < maxBatches; i++) {
    if (i > 0 && pauseMs > 0) await sleep(pauseMs)
    const { done, seen } = await batch(batchSize)
    total += done
    // A short batch means nothing is left. `seen` counts selected keys, not deleted ones, so rows that changed
    // between select and delete do not end the run early.
    if (seen < batchSize) break
  }
  return total
}

/**
 * Deletes `sent` rows older than `retentionDays`, in batches (defaults 1,000 rows, 200 ms apart, at most 50 per run).
 * `failed` and `opted_out` rows are kept for a resend. Returns how many rows were deleted.
 */
export async function pruneSentMessages(db: Db, params: PruneParams): Promise<number> {
  const days = positiveInt('retentionDays', params.retentionDays)
  // Each batch is a transaction so that a deadlock with a receipt or negative ack is retried, not thrown: a MySQL
  // DELETE takes no index hint, and MariaDB may walk idx_messages_status_id for `id IN (…) AND status = 'sent'`.
  return inBatches(params, { batchSize: 1000 }, (size) => db.transaction(async (tx) => {
    if (tx.dialect === 'postgres') {
      const res = await tx.execute(DELETE_PRUNABLE_MESSAGES_PG, [days, size])
      return { done: res.affectedRows, seen: res.affectedRows }
    }
    const ids = (await tx.query(SELECT_PRUNABLE_MESSAGES_MYSQL, [days, size])).map((r) => toId(r.id))
    if (ids.length === 0) return { done: 0, seen: 0 }
    const res = await tx.execute(DELETE_MESSAGES_MYSQL, [ids])
    return { done: res.affectedRows, seen: ids.length }
  }))
}

const SELECT_UNREFERENCED_MEDIA_MYSQL = `SELECT md.id
  FROM media md
 WHERE md.created_at < NOW(6) - INTERVAL ? DAY
   AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.media_id = md.id)
 ORDER BY md.created_at
 LIMIT ?`

// The NOT EXISTS is re-checked at delete time (nothing references media by foreign key).
const DELETE_MEDIA_MYSQL = `DELETE FROM media
 WHERE id IN (?)
   AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.media_id = media.id)`

// Postgres in one statement (ANY(ARRAY(…)) as for messages). The NOT EXISTS sits inside the LIMITed subquery as on MySQL (not only
// outside it): old media still referenced by failed or pending rows would otherwise fill every batch and stall
// pruning for good. The outer NOT EXISTS re-checks at delete time. The deleted rows' chunks go in the same
// statement; the count is of files.
const DELETE_UNREFERENCED_MEDIA_PG = `WITH gone AS (
  DELETE FROM media md
   WHERE md.id = ANY(ARRAY(SELECT o.id
                             FROM media o
                            WHERE o.created_at < now() - $1 * interval '1 day'
                              AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.media_id = o.id)
                            ORDER BY o.created_at
                            LIMIT $2))
     AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.media_id = md.id)
  RETURNING md.id
), chunks AS (
  DELETE FROM media_chunks c
   USING gone
   WHERE c.media_id = gone.id
)
SELECT count(*) AS n FROM gone`

// The chunks of files no longer in `media` (those just deleted).
const DELETE_ORPHAN_CHUNKS_MYSQL = `DELETE FROM media_chunks
 WHERE media_id IN (?)
   AND NOT EXISTS (SELECT 1 FROM media md WHERE md.id = media_chunks.media_id)`

/**
 * Deletes media rows older than `retentionDays` that no message references, with their chunks (defaults 200 files a
 * batch, 200 ms apart, at most 50 batches). Enqueue reuses a media row by `sha256` only while it is younger than half
 * the retention, so a row being reused is never pruned (db/README.md). Returns how many files were deleted.
 */
export async function pruneUnreferencedMedia(db: Queryable, params: PruneParams): Promise<number> {
  const days = positiveInt('retentionDays', params.retentionDays)
  return inBatches(params, { batchSize: 200 }, async (size) => {
    if (db.dialect === 'postgres') {
      const [row] = await db.query(DELETE_UNREFERENCED_MEDIA_PG, [days, size])
      const n = Number(row?.n ?? 0)
      return { done: n, seen: n }
    }
    const ids = (await db.query(SELECT_UNREFERENCED_MEDIA_MYSQL, [days, size])).map((r) => toId(r.id))
    if (ids.length === 0) return { done: 0, seen: 0 }
    const res = await db.execute(DELETE_MEDIA_MYSQL, [ids])
    await db.execute(DELETE_ORPHAN_CHUNKS_MYSQL, [ids])
    return { done: res.affectedRows, seen: ids.length }
  })
}

/**
 * Batches of one prune (`$1`/`?` = days, `$2`/`?` = batch size): PostgreSQL deletes a LIMITed batch in one statement;
 * MySQL selects the ids, then deletes by primary key.
 */
async function pruneOldRows(
  db: Queryable,
  params: PruneParams,
  batchSize: number,
  sql: { postgres: string; selectMysql: string; deleteMysql: string },
): Promise<number> {
  const days = positiveInt('retentionDays', params.retentionDays)
  return inBatches(params, { batchSize }, async (size) => {
    if (db.dialect === 'postgres') {
      const res = await db.execute(sql.postgres, [days, size])
      return { done: res.affectedRows, seen: res.affectedRows }
    }
    const ids = (await db.query(sql.selectMysql, [days, size])).map((r) => toId(r.id))
    if (ids.length === 0) return { done: 0, seen: 0 }
    const res = await db.execute(sql.deleteMysql, [ids])
    return { done: res.affectedRows, seen: ids.length }
  })
}

// Settled deliveries only (`delivered`, `dead`): pending and delivering rows are still owed to their endpoint. By
// primary key on MySQL as above; the status is re-checked at delete time, since a replay may have revived a dead row.
const SELECT_PRUNABLE_DELIVERIES_MYSQL = `SELECT id
  FROM webhook_deliveries
 WHERE created_at < NOW(6) - INTERVAL ? DAY
   AND status IN ('delivered', 'dead')
 ORDER BY created_at
 LIMIT ?`

const DELETE_DELIVERIES_MYSQL = `DELETE FROM webhook_deliveries
 WHERE id IN (?)
   AND status IN ('delivered', 'dead')`

const DELETE_PRUNABLE_DELIVERIES_PG = `DELETE FROM webhook_deliveries d
 WHERE d.id = ANY(ARRAY(SELECT o.id
                          FROM webhook_deliveries o
                         WHERE o.created_at < now() - $1 * interval '1 day'
                           AND o.status IN ('delivered', 'dead')
                         ORDER BY o.created_at
                         LIMIT $2))
   AND d.status IN ('delivered', 'dead')`

/**
 * Deletes webhook deliveries older than `retentionDays` that are settled (delivered, or dead and not replayed), in
 * batches (defaults 1,000 rows, 200 ms apart, at most 50 per run). Returns how many rows were deleted.
 */
export async function pruneWebhookDeliveries(db: Queryable, params: PruneParams): Promise<number> {
  return pruneOldRows(db, params, 1000, {
    postgres: DELETE_PRUNABLE_DELIVERIES_PG, selectMysql: SELECT_PRUNABLE_DELIVERIES_MYSQL, deleteMysql: DELETE_DELIVERIES_MYSQL,
  })
}

// Group members' receipts (db/README.md, Groups) by age: they outlive no sent message, whose retention they share.
const DELETE_MEMBER_RECEIPTS_MYSQL = `DELETE FROM message_receipts
 WHERE recorded_at < NOW(6) - INTERVAL ? DAY
 LIMIT ?`

const DELETE_MEMBER_RECEIPTS_PG = `DELETE FROM message_receipts
 WHERE ctid = ANY(ARRAY(SELECT ctid
                          FROM message_receipts
                         WHERE recorded_at < now() - $1 * interval '1 day'
                         LIMIT $2))`

/** Deletes group members' receipts older than `retentionDays`, in batches. Returns how many rows were deleted. */
export async function pruneMemberReceipts(db: Queryable, params: PruneParams): Promise<number> {
  const days = positiveInt('retentionDays', params.retentionDays)
  return inBatches(params, { batchSize: 1000 }, async (size) => {
    const res = await db.execute(db.dialect === 'mysql' ? DELETE_MEMBER_RECEIPTS_MYSQL : DELETE_MEMBER_RECEIPTS_PG, [days, size])
    return { done: res.affectedRows, seen: res.affectedRows }
  })
}

const PRUNE_CRON_RUNS = /* @__PURE__ */ each(
  `DELETE FROM cron_runs
 WHERE slot < NOW(6) - INTERVAL ? DAY`,
  `DELETE FROM cron_runs
 WHERE slot < now() - $1 * interval '1 day'`,
)

/** Deletes slot rows older than `days` (7). Returns the count. */
export async function pruneCronRuns(db: Queryable, days = 7): Promise<number> {
  const res = await db.execute(PRUNE_CRON_RUNS[db.dialect], [positiveInt('days', days)])
  return res.affectedRows
}
