import type { FC } from 'hono/jsx'
import { DEFAULT_SESSION, type SessionRecord } from '../../../db/types.js'
import type { GroupRecord } from '../../../db/queries/groups.js'
import { formatPhone, displayTime, pausedUntil, relativeTime, sessionDetail } from '../format.js'
import { Csrf, Layout, type Notice, type Page } from './layout.js'
import { FieldError, sessionStatusClass, When } from './parts.js'

/** What the Sessions page's script receives every poll (snake_case like the API). */
export interface LiveSession {
  name: string
  status: string
  status_class: string
  status_label: string
  phone: string | null
  phone_display: string
  last_seen: string | null
  last_seen_display: string
  detail: string | null
  qr_code: string | null
  /** A pairing code issued for this session and not yet used (XXXX-XXXX), else null. */
  pairing_code: string | null
}

export function liveSession(s: SessionRecord, now: number): LiveSession {
  const cls = sessionStatusClass(s, now)
  return {
    name: s.name,
    status: s.status,
    status_class: cls.cls,
    status_label: cls.label,
    phone: s.phone,
    phone_display: formatPhone(s.phone),
    last_seen: s.lastSeen ? s.lastSeen.toISOString() : null,
    last_seen_display: s.lastSeen ? `${displayTime(s.lastSeen)} · ${relativeTime(s.lastSeen, now)}` : '—',
    detail: sessionDetail(s, now),
    qr_code: s.status === 'connecting' ? s.qrCode : null,
    pairing_code: s.status === 'online' ? null : s.pairingCode,
  }
}

/** Link by code instead of QR (POST …/pairing-code waits for the runner, then the card shows the code). */
const PairingArea: FC<{ page: Page; session: SessionRecord }> = ({ page, session: s }) => (
  <div class="pairing">
    <p>
      Pairing code:{' '}
      <code data-field="pairing_code" class="pairing-code">
        {s.pairingCode ?? '—'}
      </code>
      {s.pairingCode && s.pairingPhone ? <span class="small muted"> for {formatPhone(s.pairingPhone)}</span> : null}
    </p>
    <form method="post" action={`${page.base}/sessions/${s.name}/pairing-code`} class="inline">
      <Csrf page={page} />
      <label for={`pc-${s.name}`}>
        Phone number to link <span class="hint">(with country code)</span>
      </label>
      <input id={`pc-${s.name}`} name="phone" type="tel" required maxlength={24} placeholder="9611234567" autocomplete="off" />
      <button type="submit" class="secondary small">
        Get pairing code
      </button>
    </form>
    <p class="small muted">
      On the phone: WhatsApp → Settings → Linked devices → Link a device → Link with phone number instead, then type the code.
    </p>
  </div>
)

const numberOrBlank = (n: number | null) => (n === null ? '' : String(n))

/** A refused limits form: what was typed, and each field's problem, shown beside it. */
export interface LimitsForm {
  session: string
  values: Record<string, string>
  errors: Record<string, string>
}

/** The session's sending limits (blank = the runner's default) and today's counters. */
const LimitsArea: FC<{ page: Page; session: SessionRecord; refused?: LimitsForm }> = ({ page, session: s, refused }) => {
  const input = (name: string, label: string, hint: string, value: string, type: 'number' | 'text' = 'number') => {
    const id = `${name}-${s.name}`
    const error = refused?.errors[name]
    return (
      <div class="field">
        <label for={id}>
          {label} <span class="hint">{hint}</span>
        </label>
        <input
          id={id}
          name={name}
          type={type}
          value={refused ? refused.values[name] ?? '' : value}
          {...(type === 'number' ? { min: 0, step: 1 } : { maxlength: 64 })}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
        />
        <FieldError id={`${id}-error`} error={error} />
      </div>
    )
  }
  return (
    <details class="limits" open={refused ? true : undefined}>
      <summary>
        Sending limits · today{s.quotaDay ? ` (${s.quotaDay})` : ''}: <span data-field="sent_today">{s.sentToday}</span> sent,{' '}
        {s.firstContactToday} to new contacts
      </summary>
      <form method="post" action={`${page.base}/sessions/${s.name}/settings`}>
        <Csrf page={page} />
        <p class="small muted">Blank = the runner's default (.env); 0 turns a cap or the breaker off.</p>
        {input('daily_cap', 'Daily cap', 'messages per local day', numberOrBlank(s.settings.dailyCap))}
        {input('warmup_start', 'Warm-up start', 'cap on the day a number is linked', numberOrBlank(s.settings.warmupStart))}
        {input('warmup_days', 'Warm-up days', 'days to grow to the daily cap', numberOrBlank(s.settings.warmupDays))}
        {input('first_contact_daily_cap', 'First-contact cap', 'per day, to numbers that never wrote to this one', numberOrBlank(s.settings.firstContactCap))}
        {input('circuit_breaker_failures', 'Circuit breaker', 'consecutive failures that pause sending', numberOrBlank(s.settings.breakerFailures))}
        {input('quiet_hours', 'Quiet hours', 'e.g. 22:00-08:00, or off', s.settings.quietHours ?? '', 'text')}
        {input('time_zone', 'Time zone', 'e.g. Asia/Beirut', s.settings.timeZone ?? '', 'text')}
        {input('presence', 'Typing before sends', 'on or off', s.settings.presence ?? '', 'text')}
        <button type="submit" class="small">
          Save limits
        </button>
      </form>
    </details>
  )
}

type QrState = 'qr' | 'waiting' | 'online' | 'none'

function qrState(s: SessionRecord): QrState {
  if (s.status === 'online') return 'online'
  if (s.status === 'connecting') return s.qrCode ? 'qr' : 'waiting'
  return 'none'
}

const QrArea: FC<{ session: SessionRecord }> = ({ session: s }) => {
  const state = qrState(s)
  return (
    <div class="qr" data-field="qr" data-state={state} aria-live="polite">
      {state === 'qr' ? (
        <>
          <img src={s.qrCode!} alt={`QR code to link WhatsApp for session ${s.name}`} width={264} height={264} />
          <p class="small muted">
            On the phone: WhatsApp → Settings → Linked devices → Link a device. The code refreshes by itself.
          </p>
        </>
      ) : state === 'waiting' ? (
        <div class="waiting">Waiting for a QR code from the runner…</div>
      ) : state === 'online' ? (
        <div class="online-now">Online — linked as {formatPhone(s.phone)}</div>
      ) : null}
    </div>
  )
}

/** The session's groups as its runner last fetched them (db/README.md, Groups); "read-only": announce-only, not admin. */
const GroupsRow: FC<{ groups: GroupRecord[] }> = ({ groups }) => (
  <>
    <dt>Groups</dt>
    <dd data-field="groups" dir="auto">
      {groups.length === 0 ? '—' : groups.map((g, i) => (
        <>{i ? ' · ' : ''}<span title={g.id}>{g.subject || g.id}</span> ({g.participantCount}{g.canSend ? '' : ', read-only'})</>
      ))}
    </dd>
  </>
)

const SessionCard: FC<{ page: Page; session: SessionRecord; limits?: LimitsForm; groups?: GroupRecord[] }> = ({ page, session: s, limits, groups }) => {
  const cls = sessionStatusClass(s, page.now)
  const paused = pausedUntil(s, page.now)
  return (
    <section class="card session" id={`session-${s.name}`} data-session={s.name} data-status={s.status} aria-labelledby={`h-${s.name}`}>
      <h2 id={`h-${s.name}`}>
        <span>{s.name}</span>
        <span class={`badge s-${cls.cls}`} data-field="status" role="status">
          {cls.label}
        </span>
      </h2>
      <dl>
        <dt>Phone</dt>
        <dd data-field="phone">{formatPhone(s.phone)}</dd>
        <dt>Last seen</dt>
        <dd data-field="last_seen">{s.lastSeen ? `${displayTime(s.lastSeen)} · ${relativeTime(s.lastSeen, page.now)}` : '—'}</dd>
        <dt>Proxy</dt>
        <dd>{s.proxyUrl ?? 'none'}</dd>
        <dt>Detail</dt>
        <dd data-field="detail" dir="auto">
          {sessionDetail(s, page.now) ?? '—'}
        </dd>
        {paused ? (
          <>
            <dt>Paused until</dt>
            <dd>
              <When at={paused} now={page.now} />
            </dd>
          </>
        ) : null}
        {groups ? <GroupsRow groups={groups} /> : null}
      </dl>
      <QrArea session={s} />
      {s.status === 'online' ? null : <PairingArea page={page} session={s} />}
      <LimitsArea page={page} session={s} refused={limits?.session === s.name ? limits : undefined} />
      <div class="actions">
        <form method="post" action={`${page.base}/sessions/${s.name}/regenerate`} class="inline">
          <Csrf page={page} />
          <button type="submit" class="secondary small">
            Regenerate QR
          </button>
        </form>
        {s.name === DEFAULT_SESSION ? (
          <span class="small muted">The default session cannot be deleted.</span>
        ) : (
          <a class="button danger small" href={`${page.base}/sessions/${s.name}/delete`}>
            Delete…
          </a>
        )}
      </div>
    </section>
  )
}

export interface SessionsForm {
  name: string
  error?: string
}

export const SessionsPage: FC<{
  page: Page; sessions: SessionRecord[]; form?: SessionsForm; limits?: LimitsForm; notice?: Notice | null; groups?: Map<string, GroupRecord[]>
}> = ({
  page,
  sessions,
  form,
  limits,
  notice,
  groups,
}) => (
  <Layout page={page} title="Sessions" section="sessions" notice={notice} scripts={['live.js']}>
    <p class="muted">
      Each session is one WhatsApp number. While a session is connecting, scan its QR code from the phone; this page updates by
      itself (with JavaScript) the moment the scan succeeds.
    </p>
    <p id="live-note" class="notice warn" hidden>
      Sessions were added or removed elsewhere. <a href={`${page.base}/sessions`}>Reload the page</a> to see them.
    </p>
    {sessions.length === 0 ? (
      <p class="empty">No sessions yet. Start the runner (it creates <code>default</code>) or add one below.</p>
    ) : (
      <div class="sessions" data-live={`${page.base}/sessions.json`}>
        {sessions.map((s) => (
          <SessionCard page={page} session={s} limits={limits} groups={groups?.get(s.name)} />
        ))}
      </div>
    )}
    <h2 id="add">Add a session</h2>
    <form method="post" action={`${page.base}/sessions`} class="card">
      <Csrf page={page} />
      <div class="field">
        <label for="name">
          Name <span class="hint">letters, digits, dash or underscore, up to 40 characters (e.g. support, sales)</span>
        </label>
        <input
          id="name"
          name="name"
          type="text"
          required
          maxlength={40}
          pattern="[A-Za-z0-9_\-]{1,40}"
          value={form?.name ?? ''}
          autocomplete="off"
          aria-invalid={form?.error ? 'true' : undefined}
          aria-describedby={form?.error ? 'name-error' : undefined}
        />
        <FieldError id="name-error" error={form?.error} />
      </div>
      <button type="submit">Add session</button>
      <p class="small muted">A runner picks the new session up within a few seconds and shows its QR code here.</p>
    </form>
  </Layout>
)

export const DeleteSessionPage: FC<{ page: Page; session: SessionRecord }> = ({ page, session: s }) => (
  <Layout page={page} title={`Delete session “${s.name}”?`} section="sessions">
    <div class="card">
      <p>
        This logs <strong>{s.name}</strong>
        {s.phone ? ` (${formatPhone(s.phone)})` : ''} out of WhatsApp and removes its stored credentials. Messages already in the
        audit log stay. To use this number again you will have to add a session and scan a new QR code.
      </p>
      <div class="actions">
        <form method="post" action={`${page.base}/sessions/${s.name}/delete`} class="inline">
          <Csrf page={page} />
          <button type="submit" class="danger">
            Delete {s.name}
          </button>
        </form>
        <a class="button secondary" href={`${page.base}/sessions`}>
          Cancel
        </a>
      </div>
    </div>
  </Layout>
)
