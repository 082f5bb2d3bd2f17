/**
 * The groups each number is in, as its runner last fetched them (db/README.md, Groups): the lease holder writes
 * `session_groups` (fenced by the lease, like every runner write about its session) and answers refresh requests;
 * the API reads the table and records the requests, and never talks to a runner.
 */
import type { Db, Queryable, Row } from '../driver.js'
import { toDate } from '../driver.js'
import { each } from '../sql.js'
import type { LeaseFence } from './leases.js'
import { getSession, type SessionCommandResult } from './sessions.js'

/** One member of a group: its phone digits (null where WhatsApp hides them), its LID user, and whether it is an admin. */
export interface GroupParticipant {
  phone: string | null
  lid: string | null
  admin: boolean
}

/** A group as the runner fetched it. */
export interface GroupInfo {
  /** The group JID, `120363…@g.us`. */
  id: string
  subject: string
  /** Only admins may send. */
  announce: boolean
  /** This number is an admin of the group. */
  isAdmin: boolean
  /** This number may send to it. */
  canSend: boolean
  /** When the group was made, if WhatsApp said. */
  createdAt: Date | null
  participants: GroupParticipant[]
}

/** A stored group; `participants` only when read one by one (`getGroup`). */
export interface GroupRecord extends Omit<GroupInfo, 'participants'> {
  participantCount: number
  participants?: GroupParticipant[]
  fetchedAt: Date
}

/** The most members a stored row keeps (WhatsApp's own limit is 1024); the count stays exact. */
export const GROUP_PARTICIPANTS_MAX = 5000

const bool = (v: unknown) => v === true || Number(v) === 1

function toGroup(r: Row): GroupRecord {
  const g: GroupRecord = {
    id: String(r.group_id),
    subject: String(r.subject),
    announce: bool(r.announce),
    isAdmin: bool(r.is_admin),
    canSend: bool(r.can_send),
    createdAt: toDate(r.created_at),
    participantCount: Number(r.participant_count),
    fetchedAt: toDate(r.fetched_at)!,
  }
  if (r.participants !== undefined) g.participants = JSON.parse(String(r.participants)) as GroupParticipant[]
  return g
}

// ---------------------------------------------------------------------------------------------------------------
// The API's side

const LIST_GROUPS = /* @__PURE__ */ each(
  `SELECT group_id, subject, announce, is_admin, can_send, participant_count, created_at, fetched_at
  FROM session_groups
 WHERE session = ?
 ORDER BY group_id`,
  `SELECT group_id, subject, announce, is_admin, can_send, participant_count, created_at, fetched_at
  FROM session_groups
 WHERE session = $1
 ORDER BY group_id`,
)

/** The groups of `session` as last fetched, by JID, without their members. */
export async function listGroups(db: Queryable, session: string): Promise<GroupRecord[]> {
  return (await db.query(LIST_GROUPS[db.dialect], [session])).map(toGroup)
}

const GET_GROUP = /* @__PURE__ */ each(
  `SELECT group_id, subject, announce, is_admin, can_send, participant_count, participants, created_at, fetched_at
  FROM session_groups
 WHERE session = ?
   AND group_id = ?`,
  `SELECT group_id, subject, announce, is_admin, can_send, participant_count, participants, created_at, fetched_at
  FROM session_groups
 WHERE session = $1
   AND group_id = $2`,
)

/** One group of `session` with its members, or null when the session is not in it (as last fetched). */
export async function getGroup(db: Queryable, session: string, id: string): Promise<GroupRecord | null> {
  const [row] = await db.query(GET_GROUP[db.dialect], [session, id])
  return row ? toGroup(row) : null
}

const CAN_SEND = /* @__PURE__ */ each(
  `SELECT can_send
  FROM session_groups
 WHERE session = ?
   AND group_id = ?`,
  `SELECT can_send
  FROM session_groups
 WHERE session = $1
   AND group_id = $2`,
)

/**
 * Whether this number may send to group `id` (as last fetched), or null when it is not in it: what a send checks,
 * without reading the members.
 */
export async function groupCanSend(db: Queryable, session: string, id: string): Promise<boolean | null> {
  const [row] = await db.query(CAN_SEND[db.dialect], [session, id])
  return row ? bool(row.can_send) : null
}

const LIST_SENDABLE_GROUPS = /* @__PURE__ */ each(
  `SELECT session, group_id, subject, participant_count
  FROM session_groups
 WHERE can_send = 1
 ORDER BY session, subject, group_id
 LIMIT ?`,
  `SELECT session, group_id, subject, participant_count
  FROM session_groups
 WHERE can_send
 ORDER BY session, subject, group_id
 LIMIT $1`,
)

/** A group a form offers to send to: which session is in it, and what to show. */
export interface SendableGroup {
  session: string
  id: string
  subject: string
  participantCount: number
}

/** The groups every session may send to (as last fetched), by session and subject, at most `limit` (the Send form). */
export async function listSendableGroups(db: Queryable, limit: number): Promise<SendableGroup[]> {
  return (await db.query(LIST_SENDABLE_GROUPS[db.dialect], [limit])).map((r) => ({
    session: String(r.session), id: String(r.group_id), subject: String(r.subject), participantCount: Number(r.participant_count),
  }))
}

const GROUP_SUBJECTS = /* @__PURE__ */ each(
  // mysql2 expands an array of pairs into `('s', 'g'), ('s2', 'g2')` (the primary key's columns).
  `SELECT session, group_id, subject
  FROM session_groups
 WHERE (session, group_id) IN (?)`,
  // Postgres: the pairs as one JSON text parameter (text, so that postgres.js sends the string as it is), a row each.
  `SELECT g.session, g.group_id, g.subject
  FROM session_groups g
  JOIN jsonb_to_recordset(CAST($1::text AS jsonb)) AS wanted(session text, group_id text)
    ON g.session = wanted.session AND g.group_id = wanted.group_id`,
)

/** The key of a (session, group) pair in `groupSubjects`' answer. */
export const groupKey = (session: string, id: string): string => `${session} ${id}`

/**
 * The subjects of the groups `pairs` name (a page of messages: one statement for the page), by `groupKey`; a group
 * the session is no longer in (as last fetched) is absent.
 */
export async function groupSubjects(db: Queryable, pairs: readonly { session: string; id: string }[]): Promise<Map<string, string>> {
  const unique = [...new Map(pairs.map((p) => [groupKey(p.session, p.id), p])).values()]
  const out = new Map<string, string>()
  if (unique.length === 0) return out
  const params = db.dialect === 'mysql'
    ? [unique.map((p) => [p.session, p.id])]
    : [JSON.stringify(unique.map((p) => ({ session: p.session, group_id: p.id })))]
  for (const r of await db.query(GROUP_SUBJECTS[db.dialect], params)) out.set(groupKey(String(r.session), String(r.group_id)), String(r.subject))
  return out
}

const REQUEST_GROUP_REFRESH = /* @__PURE__ */ each(
  `UPDATE sessions
   SET groups_refresh_requested_at = NOW(6),
       updated_at = NOW(6)
 WHERE name = ?
   AND delete_requested_at IS NULL`,
  `UPDATE sessions
   SET groups_refresh_requested_at = now(),
       updated_at = now()
 WHERE name = $1
   AND delete_requested_at IS NULL`,
)

/** Asks the lease holder to fetch the session's groups again (it takes the request once the session is online). */
export async function requestGroupRefresh(db: Queryable, name: string): Promise<SessionCommandResult> {
  if ((await db.execute(REQUEST_GROUP_REFRESH[db.dialect], [name])).affectedRows === 1) return 'ok'
  return (await getSession(db, name)) ? 'deleting' : 'not_found'
}

// ---------------------------------------------------------------------------------------------------------------
// The runner's side: every write runs under the session row, locked only while this runner holds its lease.

// Clearing is the runner's claim on the request (as for a reconnect, session-reports.ts): a request the API writes
// while a fetch runs stays set and brings another fetch.
const TAKE_GROUP_REFRESH = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET groups_refresh_requested_at = NULL
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   AND groups_refresh_requested_at IS NOT NULL`,
  `UPDATE sessions
   SET groups_refresh_requested_at = NULL
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   AND groups_refresh_requested_at IS NOT NULL`,
)

/** Takes a refresh request of an owned session: `true` means one was pending and is now this runner's to answer. */
export async function takeGroupRefresh(db: Queryable, fence: LeaseFence): Promise<boolean> {
  return (await db.execute(TAKE_GROUP_REFRESH[db.dialect], [fence.name, fence.owner, fence.epoch])).affectedRows > 0
}

const LOCK_FENCED = /* @__PURE__ */ each(
  `SELECT name
  FROM sessions FORCE INDEX (PRIMARY)
 WHERE name = ?
   AND owner = ?
   AND lease_epoch = ?
   FOR UPDATE`,
  `SELECT name
  FROM sessions
 WHERE name = $1
   AND owner = $2
   AND lease_epoch = $3
   FOR UPDATE`,
)

const DELETE_GROUPS = /* @__PURE__ */ each(
  `DELETE FROM session_groups
 WHERE session = ?`,
  `DELETE FROM session_groups
 WHERE session = $1`,
)

/** Forgets every group of `session` (a complete fetch replaces them; a deleted session loses them). */
export async function deleteGroupsOf(tx: Queryable, session: string): Promise<void> {
  await tx.execute(DELETE_GROUPS[tx.dialect], [session])
}

const DELETE_GROUP = /* @__PURE__ */ each(
  `DELETE FROM session_groups
 WHERE session = ?
   AND group_id = ?`,
  `DELETE FROM session_groups
 WHERE session = $1
   AND group_id = $2`,
)

const UPSERT_GROUP = /* @__PURE__ */ each(
  `INSERT INTO session_groups (session, group_id, subject, announce, is_admin, can_send, participant_count, participants, created_at, fetched_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(6))
ON DUPLICATE KEY UPDATE subject = VALUES(subject), announce = VALUES(announce), is_admin = VALUES(is_admin),
  can_send = VALUES(can_send), participant_count = VALUES(participant_count), participants = VALUES(participants),
  created_at = VALUES(created_at), fetched_at = NOW(6)`,
  `INSERT INTO session_groups (session, group_id, subject, announce, is_admin, can_send, participant_count, participants, created_at, fetched_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
ON CONFLICT (session, group_id) DO UPDATE SET subject = EXCLUDED.subject, announce = EXCLUDED.announce,
  is_admin = EXCLUDED.is_admin, can_send = EXCLUDED.can_send, participant_count = EXCLUDED.participant_count,
  participants = EXCLUDED.participants, created_at = EXCLUDED.created_at, fetched_at = now()`,
)

const MARK_GROUPS_FETCHED = /* @__PURE__ */ each(
  `UPDATE sessions FORCE INDEX (PRIMARY)
   SET groups_fetched_at = NOW(6)
 WHERE name = ?`,
  `UPDATE sessions
   SET groups_fetched_at = now()
 WHERE name = $1`,
)

// MySQL's TINYINT(1) takes 0/1, Postgres' boolean takes true/false.
function upsertArgs(db: Queryable, session: string, g: GroupInfo): unknown[] {
  const b = (x: boolean) => (db.dialect === 'mysql' ? Number(x) : x)
  return [
    session, g.id, g.subject.slice(0, 255), b(g.announce), b(g.isAdmin), b(g.canSend),
    g.participants.length, JSON.stringify(g.participants.slice(0, GROUP_PARTICIPANTS_MAX)), g.createdAt,
  ]
}

function fenced(db: Db, fence: LeaseFence, fn: (tx: Queryable) => Promise<void>): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await tx.query(LOCK_FENCED[tx.dialect], [fence.name, fence.owner, fence.epoch])).length) return false
    await fn(tx)
    return true
  })
}

/**
 * A complete fetch: the session's groups become exactly `groups` and `groups_fetched_at` is stamped. `false`: the lease is gone and nothing was written.
 */
export function replaceGroups(db: Db, fence: LeaseFence, groups: GroupInfo[]): Promise<boolean> {
  return fenced(db, fence, async (tx) => {
    await deleteGroupsOf(tx, fence.name)
    for (const g of groups) await tx.execute(UPSERT_GROUP[tx.dialect], upsertArgs(tx, fence.name, g))
    await tx.execute(MARK_GROUPS_FETCHED[tx.dialect], [fence.name])
  })
}

/** One group changed (a notification): its row is written again. `false`: the lease is gone. */
export function upsertGroup(db: Db, fence: LeaseFence, group: GroupInfo): Promise<boolean> {
  return fenced(db, fence, async (tx) => {
    await tx.execute(UPSERT_GROUP[tx.dialect], upsertArgs(tx, fence.name, group))
  })
}

/** The number left the group or was removed from it. `false`: the lease is gone. */
export function removeGroup(db: Db, fence: LeaseFence, id: string): Promise<boolean> {
  return fenced(db, fence, async (tx) => {
    await tx.execute(DELETE_GROUP[tx.dialect], [fence.name, id])
  })
}
