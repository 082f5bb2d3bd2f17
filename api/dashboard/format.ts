import type { MessageRecord, SessionRecord } from '../../db/types.js'
import { formatSession } from '../format.js'

/** For people: `2025-05-11 14:00:00 UTC`, the guide's `last_seen` shape with its zone spelled out; `—` for none. */
export function displayTime(d: Date | null | undefined): string {
  if (!d) return '—'
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`
}

/** "just now", "5 min ago", "3 h ago", "2 days ago" (or "in 4 min" for the future). */
export function relativeTime(d: Date | null | undefined, now: number): string {
  if (!d) return ''
  const diff = now - d.getTime()
  const abs = Math.abs(diff)
  const fmt = (n: number, unit: string) => (diff >= 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`)
  if (abs < 45_000) return diff >= 0 ? 'just now' : 'in a moment'
  if (abs < 90 * 60_000) return fmt(Math.max(1, Math.round(abs / 60_000)), 'min')
  if (abs < 36 * 3_600_000) return fmt(Math.round(abs / 3_600_000), 'h')
  const days = Math.round(abs / 86_400_000)
  return fmt(days, days === 1 ? 'day' : 'days')
}

/** A stored phone (digits with country code) as people read it. */
export function formatPhone(phone: string | null | undefined): string {
  return phone ? `+${phone}` : '—'
}

/** What a message's badge says: `sent` messages show how far their receipts got. */
export function displayStatus(m: Pick<MessageRecord, 'status' | 'deliveredAt' | 'readAt'>): string {
  if (m.status === 'sent') return m.readAt ? 'read' : m.deliveredAt ? 'delivered' : 'sent'
  return m.status
}

/** A human label for a status word. */
export function statusLabel(status: string): string {
  return status === 'opted_out' ? 'opted out' : status
}

/** Whether a session is paused after WhatsApp restricted it (error 463), and until when. */
export function pausedUntil(s: Pick<SessionRecord, 'pausedUntil'>, now: number): Date | null {
  return s.pausedUntil && s.pausedUntil.getTime() > now ? s.pausedUntil : null
}

/** Parses a positive integer id from a path or query parameter. */
export function parseId(text: string | undefined): number | null {
  if (!text || !/^[1-9][0-9]{0,15}$/.test(text)) return null
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : null
}

/** `YYYY-MM-DD` → that day's start in UTC, or null. */
export function parseDay(text: string | undefined): Date | null {
  if (!text || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return null
  const d = new Date(`${text}T00:00:00Z`)
  return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text ? null : d
}

/**
 * The `detail` a session shows, by the API's own rule (`formatSession`): why it is offline or
 * paused; an online, unpaused session has none (a stale reason from an ended pause is not shown).
 */
export function sessionDetail(s: SessionRecord, now: number): string | null {
  return formatSession(s, new Date(now)).detail
}

/** A file size as people read it: `812 bytes`, `14.2 KB`, `3.5 MB`. */
export function displaySize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`
}
