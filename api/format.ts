import { isGroupAddress, type MessageRecord, type SessionRecord } from '../db/types.js'

const pad = (n: number) => String(n).padStart(2, '0')

/** `YYYY-MM-DD HH:MM:SS` in UTC, the guide's `last_seen` format (also used for every other time). */
export function formatTime(d: Date): string
export function formatTime(d: Date | null): string | null
export function formatTime(d: Date | null): string | null {
  if (!d) return null
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
}

/** The guide's session object plus `detail` and `qr`. */
export interface SessionAnswer {
  name: string
  status: SessionRecord['status']
  phone: string | null
  last_seen: string | null
  qr_code: string | null
  detail: string | null
  qr: string | null
  proxy: string | null
}

/**
 * The guide's fields first, with their types unchanged; then `detail` (why the session is
 * offline, paused or holding messages back, else null) and `qr` (raw QR text while a scan is awaited, else null).
 * Precedence of `detail`: a pause (463, circuit breaker), then a limit hold (quiet hours, daily cap, first-contact
 * cap; `hold_until` still ahead), then the reason an offline session gives.
 */
export function formatSession(s: SessionRecord, now: Date = new Date()): SessionAnswer {
  const paused = s.pausedUntil !== null && s.pausedUntil.getTime() > now.getTime()
  const holding = s.holdReason !== null && s.holdUntil !== null && s.holdUntil.getTime() > now.getTime()
  let detail: string | null = null
  if (paused) detail = s.detail ?? `paused until ${formatTime(s.pausedUntil)} UTC`
  else if (holding && s.status === 'online') detail = s.holdReason
  else if (s.status !== 'online') detail = s.detail ?? (holding ? s.holdReason : null)
  return {
    name: s.name,
    status: s.status,
    phone: s.phone,
    last_seen: formatTime(s.lastSeen),
    qr_code: s.qrCode,
    detail,
    qr: s.status === 'online' ? null : s.qr,
    proxy: s.proxyUrl,
  }
}

/**
 * A session's sending limits as `PATCH /api/sessions/:name` answers them: each setting (null = the runner's default
 * from .env), and the counters of the local day they belong to (`day` null = nothing sent since the counters exist).
 */
export function formatSessionLimits(s: SessionRecord, now: Date = new Date()) {
  const holding = s.holdReason !== null && s.holdUntil !== null && s.holdUntil.getTime() > now.getTime()
  return {
    settings: {
      daily_cap: s.settings.dailyCap,
      warmup_start: s.settings.warmupStart,
      warmup_days: s.settings.warmupDays,
      first_contact_daily_cap: s.settings.firstContactCap,
      circuit_breaker_failures: s.settings.breakerFailures,
      quiet_hours: s.settings.quietHours,
      time_zone: s.settings.timeZone,
      presence: s.settings.presence,
      proxy: s.proxyUrl,
    },
    counters: {
      day: s.quotaDay,
      sent: s.sentToday,
      first_contact: s.firstContactToday,
      consecutive_failures: s.consecutiveFailures,
    },
    paired_at: formatTime(s.pairedAt),
    hold: holding ? { reason: s.holdReason, until: formatTime(s.holdUntil) } : null,
  }
}

/** The full audit record of one message. */
export function formatMessage(m: MessageRecord) {
  const group = isGroupAddress(m.phone) ? m.phone : null
  return {
    id: m.id,
    session: m.session,
    phone: group ? null : m.phone,
    group,
    type: m.type,
    body: m.body,
    media_id: m.mediaId,
    status: m.status,
    attempts: m.attempts,
    error: m.error,
    wa_message_id: m.waMessageId,
    created_at: formatTime(m.createdAt),
    available_at: formatTime(m.availableAt),
    send_at: formatTime(m.sendAt),
    scheduled: m.sendAt !== null && m.sendAt.getTime() > m.createdAt.getTime(),
    sent_at: formatTime(m.sentAt),
    delivered_at: formatTime(m.deliveredAt),
    read_at: formatTime(m.readAt),
    updated_at: formatTime(m.updatedAt),
    file_name: m.details?.fileName ?? null,
    ptt: m.type === 'audio' ? m.details?.ptt === true : null,
    location: m.details?.location ?? null,
    contact: m.details?.contact ?? null,
    reply_to: m.replyTo,
    revokes: m.targetId,
    revoked_at: formatTime(m.revokedAt),
  }
}
