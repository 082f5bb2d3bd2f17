import type { FC } from 'hono/jsx'
import type { MessageRecord, SessionRecord } from '../../../db/types.js'
import { displayStatus, displayTime, pausedUntil, relativeTime, statusLabel } from '../format.js'

/** A coloured status word; the colour is never the only cue (the word is always there). */
export const Badge: FC<{ status: string; label?: string; field?: string }> = ({ status, label, field }) => (
  <span class={`badge s-${status}`} data-field={field}>
    {label ?? statusLabel(status)}
  </span>
)

/** A session's badge: "paused" wins over the connection state while a 463 pause lasts. */
export const SessionBadge: FC<{ session: SessionRecord; now: number; field?: string }> = ({ session, now, field }) => {
  const c = sessionStatusClass(session, now)
  return <Badge status={c.cls} label={c.label} field={field} />
}

export function sessionStatusClass(s: SessionRecord, now: number): { cls: string; label: string } {
  if (pausedUntil(s, now)) return { cls: 'paused', label: `${s.status}, paused` }
  return { cls: s.status, label: s.status }
}

export const MessageBadge: FC<{ message: MessageRecord }> = ({ message }) => {
  const s = displayStatus(message)
  return <Badge status={s} />
}

/** A UTC time with the relative form alongside ("2025-05-11 14:00:00 UTC · 5 min ago"). */
export const When: FC<{ at: Date | null | undefined; now: number; field?: string }> = ({ at, now, field }) =>
  at ? (
    <time datetime={at.toISOString()} data-field={field} title={displayTime(at)}>
      {displayTime(at)}
      <span class="muted small"> · {relativeTime(at, now)}</span>
    </time>
  ) : (
    <span class="muted" data-field={field}>
      —
    </span>
  )

/** A field's inline error, tied to its input by id. */
export const FieldError: FC<{ id: string; error: string | undefined }> = ({ id, error }) =>
  error ? (
    <p class="error" id={id}>
      {error}
    </p>
  ) : null
