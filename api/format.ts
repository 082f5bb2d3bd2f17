import type { MessageRecord, SessionRecord } from '../db/types.js'

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
}

/**
 * The guide's fields first, with their types unchanged; then `detail` (why the session is
 * offline or paused, else null) and `qr` (raw QR text while a scan is awaited, else null).
 */
export function formatSession(s: SessionRecord, now: Date = new Date()): SessionAnswer {
  const paused = s.pausedUntil !== null && s.pausedUntil.getTime() > now.getTime()
  let detail: string | null = null
  if (paused) detail = s.detail ?? `paused until ${formatTime(s.pausedUntil)} UTC`
  else if (s.status !== 'online') detail = s.detail
  return {
    name: s.name,
    status: s.status,
    phone: s.phone,
    last_seen: formatTime(s.lastSeen),
    qr_code: s.qrCode,
    detail,
    qr: s.status === 'online' ? null : s.qr,
  }
}

/** The full audit record of one message. */
export function formatMessage(m: MessageRecord) {
  return {
    id: m.id,
    session: m.session,
    phone: m.phone,
    type: m.type,
    body: m.body,
    media_id: m.mediaId,
    status: m.status,
    attempts: m.attempts,
    error: m.error,
    wa_message_id: m.waMessageId,
    created_at: formatTime(m.createdAt),
    available_at: formatTime(m.availableAt),
    sent_at: formatTime(m.sentAt),
    delivered_at: formatTime(m.deliveredAt),
    read_at: formatTime(m.readAt),
    updated_at: formatTime(m.updatedAt),
  }
}
