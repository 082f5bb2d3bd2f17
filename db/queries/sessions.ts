import { toDate, type Queryable, type Row } from '../driver.js'
import { each } from '../sql.js'
import type { PresenceSetting, SessionRecord, SessionSettings, SessionStatus } from '../types.js'

const COLUMNS = `name, status, phone, last_seen, qr_code, qr, detail, owner, lease_epoch, lease_until, next_send_at,
       paused_until, reconnect_requested_at, delete_requested_at, created_at, updated_at, pairing_phone, pairing_code,
       pairing_error, paired_at, daily_cap, warmup_start, warmup_days, first_contact_cap, breaker_failures, quiet_hours,
       time_zone, quota_day, sent_today, first_contact_today, consecutive_failures, hold_until, hold_reason, presence, proxy_url`

/** Maps a `sessions` row to the domain object. */
export function toSession(row: Row): SessionRecord {
  return {
    name: String(row.name),
    status: row.status as SessionStatus,
    phone: (row.phone as string | null) ?? null,
    lastSeen: toDate(row.last_seen),
    qrCode: (row.qr_code as string | null) ?? null,
    qr: (row.qr as string | null) ?? null,
    detail: (row.detail as string | null) ?? null,
    owner: (row.owner as string | null) ?? null,
    leaseEpoch: Number(row.lease_epoch),
    leaseUntil: toDate(row.lease_until)!,
    nextSendAt: toDate(row.next_send_at)!,
    pausedUntil: toDate(row.paused_until),
    reconnectRequestedAt: toDate(row.reconnect_requested_at),
    deleteRequestedAt: toDate(row.delete_requested_at),
    createdAt: toDate(row.created_at)!,
    updatedAt: toDate(row.updated_at)!,
    pairingPhone: (row.pairing_phone as string | null) ?? null,
    pairingCode: (row.pairing_code as string | null) ?? null,
    pairingError: (row.pairing_error as string | null) ?? null,
    pairedAt: toDate(row.paired_at),
    settings: toSessionSettings(row),
    quotaDay: (row.quota_day as string | null) ?? null,
    sentToday: Number(row.sent_today ?? 0),
    firstContactToday: Number(row.first_contact_today ?? 0),
    consecutiveFailures: Number(row.consecutive_failures ?? 0),
    holdUntil: toDate(row.hold_until),
    holdReason: (row.hold_reason as string | null) ?? null,
    proxyUrl: (row.proxy_url as string | null) ?? null,
  }
}

const intOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

/** The per-session limit columns (NULL = the runner's default). */
export function toSessionSettings(row: Row): SessionSettings {
  return {
    dailyCap: intOrNull(row.daily_cap),
    warmupStart: intOrNull(row.warmup_start),
    warmupDays: intOrNull(row.warmup_days),
    firstContactCap: intOrNull(row.first_contact_cap),
    breakerFailures: intOrNull(row.breaker_failures),
    quietHours: (row.quiet_hours as string | null) ?? null,
    timeZone: (row.time_zone as string | null) ?? null,
    presence: toPresenceSetting(row.presence),
  }
}

/** The `presence` column: 'on', 'off', or NULL (the runner's default). */
export function toPresenceSetting(v: unknown): PresenceSetting | null {
  return v === 'on' || v === 'off' ? v : null
}

const LIST = /* @__PURE__ */ each(
  `SELECT ${COLUMNS}
  FROM sessions
 WHERE delete_requested_at IS NULL
 ORDER BY CASE WHEN name = 'default' THEN 0 ELSE 1 END, name`,
  `SELECT ${COLUMNS}
  FROM sessions
 WHERE delete_requested_at IS NULL
 ORDER BY CASE WHEN name = 'default' THEN 0 ELSE 1 END, name`,
)

/**
 * Every live session, `default` first, then by name. Sessions whose deletion is pending are left out:
 * to clients they are already gone.
 * @example const all = await listSessions(db)
 */
export async function listSessions(db: Queryable): Promise<SessionRecord[]> {
  return (await db.query(LIST[db.dialect])).map(toSession)
}

const GET = /* @__PURE__ */ each(
  `SELECT ${COLUMNS}
  FROM sessions
 WHERE name = ?`,
  `SELECT ${COLUMNS}
  FROM sessions
 WHERE name = $1`,
)

/** One session by name (including one being deleted: check `deleteRequestedAt`), or null. */
export async function getSession(db: Queryable, name: string): Promise<SessionRecord | null> {
  const [row] = await db.query(GET[db.dialect], [name])
  return row ? toSession(row) : null
}

const INSERT = /* @__PURE__ */ each(
  `INSERT INTO sessions (name, status, detail, created_at, updated_at)
VALUES (?, 'connecting', 'waiting for a runner', NOW(6), NOW(6))`,
  `INSERT INTO sessions (name, status, detail, created_at, updated_at)
VALUES ($1, 'connecting', 'waiting for a runner', now(), now())`,
)

export type CreateSessionResult = 'created' | 'exists' | 'deleting'

/**
 * Creates a session row; a runner with spare capacity picks it up, connects and writes its QR.
 * Status starts as `connecting` (detail: waiting for a runner) until a runner takes the lease.
 */
export async function createSession(db: Queryable, name: string): Promise<CreateSessionResult> {
  try {
    await db.execute(INSERT[db.dialect], [name])
    return 'created'
  } catch (err) {
    if ((err as Error).name !== 'UniqueViolationError') throw err
    const existing = await getSession(db, name)
    return existing?.deleteRequestedAt ? 'deleting' : 'exists'
  }
}

export type SessionCommandResult = 'ok' | 'not_found' | 'deleting'

const REQUEST_DELETE = /* @__PURE__ */ each(
  `UPDATE sessions
   SET delete_requested_at = NOW(6), updated_at = NOW(6)
 WHERE name = ?
   AND name <> 'default'
   AND delete_requested_at IS NULL`,
  `UPDATE sessions
   SET delete_requested_at = now(), updated_at = now()
 WHERE name = $1
   AND name <> 'default'
   AND delete_requested_at IS NULL`,
)

/**
 * Marks a session for deletion; its lease holder logs the number out, wipes its auth state and
 * removes the row. An unowned session is removed by the next runner that sees the request.
 * `default` is refused in SQL as well as in the API.
 */
export async function requestSessionDelete(db: Queryable, name: string): Promise<SessionCommandResult> {
  const res = await db.execute(REQUEST_DELETE[db.dialect], [name])
  if (res.affectedRows === 1) return 'ok'
  const existing = await getSession(db, name)
  return existing ? 'deleting' : 'not_found'
}

const REQUEST_RECONNECT = /* @__PURE__ */ each(
  `UPDATE sessions
   SET reconnect_requested_at = NOW(6), updated_at = NOW(6)
 WHERE name = ?
   AND delete_requested_at IS NULL`,
  `UPDATE sessions
   SET reconnect_requested_at = now(), updated_at = now()
 WHERE name = $1
   AND delete_requested_at IS NULL`,
)

/** Asks the lease holder to log the number out, wipe its auth state and show a fresh QR. */
export async function requestReconnect(db: Queryable, name: string): Promise<SessionCommandResult> {
  const res = await db.execute(REQUEST_RECONNECT[db.dialect], [name])
  if (res.affectedRows === 1) return 'ok'
  const existing = await getSession(db, name)
  return existing ? 'deleting' : 'not_found'
}

// ---------------------------------------------------------------------------------------------------------------
// Pairing by code (the API side: a request on the row, the lease holder answers on the same row)

const REQUEST_PAIRING_CODE = /* @__PURE__ */ each(
  `UPDATE sessions
   SET pairing_phone = ?,
       pairing_requested_at = NOW(6),
       pairing_code = NULL,
       pairing_error = NULL,
       updated_at = NOW(6)
 WHERE name = ?
   AND delete_requested_at IS NULL`,
  `UPDATE sessions
   SET pairing_phone = $1,
       pairing_requested_at = now(),
       pairing_code = NULL,
       pairing_error = NULL,
       updated_at = now()
 WHERE name = $2
   AND delete_requested_at IS NULL`,
)

/**
 * Records a pairing-code request for `phone` (digits); the session's lease holder asks WhatsApp for a code and
 * writes it back (`readPairing`). A newer request replaces an older one.
 */
export async function requestPairingCode(db: Queryable, name: string, phone: string): Promise<SessionCommandResult> {
  const res = await db.execute(REQUEST_PAIRING_CODE[db.dialect], [phone, name])
  if (res.affectedRows === 1) return 'ok'
  const existing = await getSession(db, name)
  return existing ? 'deleting' : 'not_found'
}

const READ_PAIRING = /* @__PURE__ */ each(
  `SELECT pairing_phone, pairing_code, pairing_error
  FROM sessions
 WHERE name = ?`,
  `SELECT pairing_phone, pairing_code, pairing_error
  FROM sessions
 WHERE name = $1`,
)

/** The pairing request on the row and the runner's answer so far (`code` or `error`), or null if the row is gone. */
export async function readPairing(
  db: Queryable,
  name: string,
): Promise<{ phone: string | null; code: string | null; error: string | null } | null> {
  const [row] = await db.query(READ_PAIRING[db.dialect], [name])
  if (!row) return null
  const s = (v: unknown) => (v === null || v === undefined ? null : String(v))
  return { phone: s(row.pairing_phone), code: s(row.pairing_code), error: s(row.pairing_error) }
}

const CANCEL_PAIRING_REQUEST = /* @__PURE__ */ each(
  `UPDATE sessions
   SET pairing_phone = NULL,
       pairing_requested_at = NULL,
       updated_at = NOW(6)
 WHERE name = ?
   AND pairing_phone = ?
   AND pairing_code IS NULL
   AND pairing_error IS NULL`,
  `UPDATE sessions
   SET pairing_phone = NULL,
       pairing_requested_at = NULL,
       updated_at = now()
 WHERE name = $1
   AND pairing_phone = $2
   AND pairing_code IS NULL
   AND pairing_error IS NULL`,
)

/** Withdraws an unanswered request (the API gave up waiting), so no runner produces a code nobody will see. */
export async function cancelPairingRequest(db: Queryable, name: string, phone: string): Promise<void> {
  await db.execute(CANCEL_PAIRING_REQUEST[db.dialect], [name, phone])
}

// ---------------------------------------------------------------------------------------------------------------
// Sending limits (db/lifecycle/claim.ts enforces them)

const SETTING_COLUMNS: Record<keyof SessionSettings, string> = {
  dailyCap: 'daily_cap',
  warmupStart: 'warmup_start',
  warmupDays: 'warmup_days',
  firstContactCap: 'first_contact_cap',
  breakerFailures: 'breaker_failures',
  quietHours: 'quiet_hours',
  timeZone: 'time_zone',
  presence: 'presence',
}

/**
 * Writes some of a session's limit settings (`null` = back to the runner's default), validated by the caller, and
 * the proxy when given (sealed and masked, or null = none), and
 * drops a hold the claim recorded for a cap or quiet hours (a circuit-breaker pause stays). `false`: no such session,
 * or it is being deleted. The transition around it is `db/lifecycle/settings.ts`.
 */
export async function writeSessionSettings(
  db: Queryable, name: string, patch: Partial<SessionSettings>, proxy?: { sealed: string; url: string } | null,
): Promise<boolean> {
  const keys = (Object.keys(SETTING_COLUMNS) as (keyof SessionSettings)[]).filter((k) => patch[k] !== undefined)
  const params: unknown[] = []
  const p = () => (db.dialect === 'mysql' ? '?' : `$${params.length}`)
  const sets = keys.map((k) => {
    params.push(patch[k])
    // Column names come from the constant map above, never from the request.
    return `${SETTING_COLUMNS[k]} = ${p()}`
  })
  // The proxy (db/queries/proxy.ts): sealed and masked URL, and the change flag the lease holder reconnects on.
  if (proxy !== undefined) {
    params.push(proxy?.sealed ?? null)
    sets.push(`proxy_sealed = ${p()}`)
    params.push(proxy?.url ?? null)
    sets.push(`proxy_url = ${p()}`, `proxy_changed_at = ${db.dialect === 'mysql' ? 'NOW(6)' : 'now()'}`)
  }
  params.push(name)
  const nameParam = p()
  // Each setting's `column = ?` line, with its comma, ahead of the assignments every write makes.
  const settings = sets.map((set) => `${set},\n       `).join('')
  const sql = db.dialect === 'mysql'
    ? `UPDATE sessions
   SET ${settings}hold_until = CASE WHEN hold_reason LIKE 'circuit breaker%' THEN hold_until END,
       hold_reason = CASE WHEN hold_reason LIKE 'circuit breaker%' THEN hold_reason END,
       updated_at = NOW(6)
 WHERE name = ${nameParam}
   AND delete_requested_at IS NULL`
    : `UPDATE sessions
   SET ${settings}hold_until = CASE WHEN hold_reason LIKE 'circuit breaker%' THEN hold_until END,
       hold_reason = CASE WHEN hold_reason LIKE 'circuit breaker%' THEN hold_reason END,
       updated_at = now()
 WHERE name = ${nameParam}
   AND delete_requested_at IS NULL`
  return (await db.execute(sql, params)).affectedRows > 0
}
