import type { FC } from 'hono/jsx'
import { REVOKE_WINDOW_SECONDS } from '../../../db/lifecycle/revoke.js'
import type { MediaInfo } from '../../../db/queries/media.js'
import { groupKey } from '../../../db/queries/groups.js'
import { isGroupAddress, MESSAGE_STATES, type MessageRecord } from '../../../db/types.js'
import { formatPhone, displaySize, displayTime, statusLabel } from '../format.js'
import { Csrf, Layout, type Notice, type Page } from './layout.js'
import { FieldError, MessageBadge, When } from './parts.js'

/** The audit log's filter form as typed (strings), with any per-field problems. */
export interface MessageFilters {
  status: string
  session: string
  phone: string
  /** A group's JID or numeric part (the messages to it). */
  group: string
  from: string
  to: string
  errors: Partial<Record<'status' | 'session' | 'phone' | 'group' | 'from' | 'to', string>>
}

export function filterQuery(f: MessageFilters, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams()
  for (const k of ['status', 'session', 'phone', 'group', 'from', 'to'] as const) if (f[k]) q.set(k, f[k])
  for (const [k, v] of Object.entries(extra)) q.set(k, v)
  const s = q.toString()
  return s ? `?${s}` : ''
}

/**
 * Whom a message went to: its phone, or for a group its subject as the session last fetched it (`subjects`, by
 * `groupKey`; the JID when the session is no longer in it), linked to the audit log filtered to that phone or group.
 */
export const Recipient: FC<{ page: Page; message: MessageRecord; subjects: Map<string, string> }> = ({ page, message: m, subjects }) => {
  if (!isGroupAddress(m.phone)) return <a href={`${page.base}/messages?phone=${m.phone}`}>{formatPhone(m.phone)}</a>
  const subject = subjects.get(groupKey(m.session, m.phone))
  return (
    <a href={`${page.base}/messages?group=${encodeURIComponent(m.phone)}`} data-group={m.phone} title={m.phone}>
      {subject === undefined ? `Group ${m.phone}` : <span dir="auto">Group “{subject}”</span>}
    </a>
  )
}

const canResend = (m: MessageRecord) => m.status === 'failed' || m.status === 'opted_out'

const canCancel = (m: MessageRecord) => m.status === 'pending'

/** A sent message WhatsApp still lets us take back (REVOKE_WINDOW_SECONDS after sending). */
function canRevoke(m: MessageRecord, now: number): boolean {
  return m.status === 'sent' && m.type !== 'revoke' && !m.revokedAt && m.sentAt !== null && now - m.sentAt.getTime() < REVOKE_WINDOW_SECONDS * 1000
}

/** A POST button on one message (Resend, Cancel, Revoke), with the CSRF token and the page to come back to. */
const ActionButton: FC<{ page: Page; message: MessageRecord; back: string; small?: boolean; action: 'resend' | 'cancel' | 'revoke'; label: string; secondary?: boolean }> = (
  { page, message, back, small, action, label, secondary },
) => (
  <form method="post" action={`${page.base}/messages/${message.id}/${action}`} class="inline">
    <Csrf page={page} />
    <input type="hidden" name="back" value={back} />
    <button type="submit" class={[small ? 'small' : '', secondary ? 'secondary' : ''].filter(Boolean).join(' ') || undefined} aria-label={`${label} message ${message.id}`}>
      {label}
    </button>
  </form>
)

/** The buttons a message's state allows. */
export const MessageActions: FC<{ page: Page; message: MessageRecord; back: string; small?: boolean }> = ({ page, message: m, back, small }) => (
  <>
    {canResend(m) ? <ActionButton page={page} message={m} back={back} small={small} action="resend" label="Resend" /> : null}
    {canCancel(m) ? <ActionButton page={page} message={m} back={back} small={small} action="cancel" label="Cancel" secondary /> : null}
    {canRevoke(m, page.now) ? <ActionButton page={page} message={m} back={back} small={small} action="revoke" label="Revoke" secondary /> : null}
  </>
)

/** A message's kind in words: an audio file sent as a voice note is a "voice note". */
export function kindName(m: MessageRecord): string {
  return m.type === 'audio' && m.details?.ptt ? 'voice note' : m.type
}

/**
 * What a message carries beyond its text: the kind, a file's name and size (`media`: undefined when not looked up,
 * null when pruned), a place's coordinates and name, a card's name, the message a revoke takes back.
 */
export const MessageKind: FC<{ page: Page; message: MessageRecord; media: MediaInfo | null | undefined }> = ({ page, message: m, media }) => {
  if (m.type === 'text') return null
  const d = m.details
  const location = d?.location
  return (
    <span class="kind" data-field="kind">
      <span class="badge s-offline">{kindName(m)}</span>{' '}
      {d?.fileName ? <span dir="auto">{d.fileName} </span> : null}
      {m.mediaId !== null && media !== undefined ? <span class="small muted">{media ? displaySize(media.size) : 'file no longer stored'} </span> : null}
      {location ? (
        <span>
          {location.name ? <span dir="auto">{location.name} </span> : null}
          <span class="mono">{location.latitude}, {location.longitude}</span>{' '}
        </span>
      ) : null}
      {d?.contact ? <span dir="auto">{d.contact.name} </span> : null}
      {m.type === 'revoke' && m.targetId !== null ? (
        <span>
          revokes <a href={`${page.base}/messages/${m.targetId}`}>#{m.targetId}</a>
        </span>
      ) : null}
    </span>
  )
}

function preview(m: MessageRecord): string {
  const text = m.body ?? ''
  const chars = Array.from(text)
  return chars.length > 140 ? `${chars.slice(0, 140).join('')}…` : text
}

export const MessagesPage: FC<{
  page: Page
  filters: MessageFilters
  sessionNames: string[]
  messages: MessageRecord[]
  /** The stored files of these messages by media id (null: pruned). */
  media: Map<number, MediaInfo | null>
  /** The subjects of the groups on this page (`groupSubjects`). */
  subjects: Map<string, string>
  nextBefore: number | null
  isFirstPage: boolean
  notice?: Notice | null
  /** This page's own URL (path and query), for Resend to come back to. */
  self: string
}> = ({ page, filters, sessionNames, messages, media, subjects, nextBefore, isFirstPage, notice, self }) => {
  const filtered = Boolean(filters.status || filters.session || filters.phone || filters.group || filters.from || filters.to)
  const names = filters.session && !sessionNames.includes(filters.session) ? [...sessionNames, filters.session] : sessionNames
  return (
    <Layout page={page} title="Message audit log" section="messages" notice={notice}>
      <form method="get" action={`${page.base}/messages`} class="card filters" aria-label="Filter messages">
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" name="status">
            <option value="">any</option>
            {MESSAGE_STATES.map((s) => (
              <option value={s} selected={filters.status === s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-session">Session</label>
          <select id="f-session" name="session">
            <option value="">any</option>
            {names.map((n) => (
              <option value={n} selected={filters.session === n}>
                {n}
              </option>
            ))}
          </select>
          <FieldError id="f-session-error" error={filters.errors.session} />
        </div>
        <div class="field">
          <label for="f-phone">Phone</label>
          <input
            id="f-phone"
            name="phone"
            type="tel"
            value={filters.phone}
            placeholder="9611234567"
            aria-invalid={filters.errors.phone ? 'true' : undefined}
            aria-describedby={filters.errors.phone ? 'f-phone-error' : undefined}
          />
          <FieldError id="f-phone-error" error={filters.errors.phone} />
        </div>
        <div class="field">
          <label for="f-group">Group</label>
          <input
            id="f-group"
            name="group"
            type="text"
            inputmode="numeric"
            value={filters.group}
            placeholder="120363…@g.us"
            aria-invalid={filters.errors.group ? 'true' : undefined}
            aria-describedby={filters.errors.group ? 'f-group-error' : undefined}
          />
          <FieldError id="f-group-error" error={filters.errors.group} />
        </div>
        <div class="field">
          <label for="f-from">From (UTC)</label>
          <input
            id="f-from"
            name="from"
            type="date"
            value={filters.from}
            aria-invalid={filters.errors.from ? 'true' : undefined}
            aria-describedby={filters.errors.from ? 'f-from-error' : undefined}
          />
          <FieldError id="f-from-error" error={filters.errors.from} />
        </div>
        <div class="field">
          <label for="f-to">To (UTC)</label>
          <input
            id="f-to"
            name="to"
            type="date"
            value={filters.to}
            aria-invalid={filters.errors.to ? 'true' : undefined}
            aria-describedby={filters.errors.to ? 'f-to-error' : undefined}
          />
          <FieldError id="f-to-error" error={filters.errors.to} />
        </div>
        <div class="actions">
          <button type="submit">Filter</button>
          {filtered ? (
            <a href={`${page.base}/messages`} class="button secondary">
              Clear
            </a>
          ) : null}
        </div>
      </form>

      {messages.length === 0 ? (
        <p class="empty">
          {filtered || !isFirstPage ? (
            'No messages match these filters.'
          ) : (
            <>
              No messages yet — send one from the <a href={`${page.base}/send`}>Send</a> page or <code>POST /api/send</code>.
            </>
          )}
        </p>
      ) : (
        <table class="responsive">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Queued</th>
              <th scope="col">Session</th>
              <th scope="col">To</th>
              <th scope="col">Message</th>
              <th scope="col">Status</th>
              <th scope="col">Tries</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {messages.map((m) => (
              <tr data-message-id={String(m.id)}>
                <td data-label="#">
                  <a href={`${page.base}/messages/${m.id}`}>#{m.id}</a>
                </td>
                <td data-label="Queued">
                  <When at={m.createdAt} now={page.now} />
                  {isScheduled(m) ? (
                    <div class="small muted" data-field="scheduled">
                      scheduled for <When at={m.sendAt} now={page.now} />
                    </div>
                  ) : null}
                </td>
                <td data-label="Session">{m.session}</td>
                <td data-label="To">
                  <Recipient page={page} message={m} subjects={subjects} />
                </td>
                <td data-label="Message" class="body">
                  <div>
                    <MessageKind page={page} message={m} media={m.mediaId === null ? undefined : media.get(m.mediaId) ?? null} /> <span dir="auto">{preview(m)}</span>
                    {m.error ? (
                      <div class="small error-text" dir="auto">
                        {m.error}
                      </div>
                    ) : null}
                  </div>
                </td>
                <td data-label="Status">
                  <MessageBadge message={m} />
                  <Revoked page={page} message={m} />
                </td>
                <td data-label="Tries">{m.attempts}</td>
                <td data-label="Actions">
                  <div class="actions flush-top">
                    <a href={`${page.base}/messages/${m.id}`}>Details</a>
                    <MessageActions page={page} message={m} back={self} small />
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        {!isFirstPage ? <a href={`${page.base}/messages${filterQuery(filters)}`}>« Newest</a> : null}
        {nextBefore !== null ? <a href={`${page.base}/messages${filterQuery(filters, { before: String(nextBefore) })}`}>Older »</a> : null}
      </nav>
    </Layout>
  )
}

/** "revoked" with its time, on a message taken back for everyone. */
const Revoked: FC<{ page: Page; message: MessageRecord }> = ({ page, message: m }) =>
  m.revokedAt ? (
    <div class="small" data-field="revoked">
      <span class="badge s-revoked">revoked</span> <When at={m.revokedAt} now={page.now} />
    </div>
  ) : null

interface Step {
  label: string
  at: Date | null
  kind: 'done' | 'bad' | 'todo'
  note?: string
}

const capitalised = (name: string) => name.charAt(0).toUpperCase() + name.slice(1)

/** A scheduled send (`send_at` later than the time it was queued). */
export function isScheduled(m: MessageRecord): m is MessageRecord & { sendAt: Date } {
  return m.sendAt !== null && m.sendAt.getTime() > m.createdAt.getTime()
}

/** The lifecycle of one message as a list of steps, from queued to read or to its end. */
export function timeline(m: MessageRecord): Step[] {
  const steps: Step[] = [{ label: 'Queued', at: m.createdAt, kind: 'done' }]
  if (isScheduled(m)) {
    steps.push({ label: 'Scheduled for', at: m.sendAt, kind: m.claimedAt || m.status !== 'pending' ? 'done' : 'todo' })
  }
  if (m.availableAt.getTime() > m.createdAt.getTime() + 1000 && m.status === 'pending' && m.availableAt.getTime() !== m.sendAt?.getTime()) {
    // A retry's backoff, or a hold (opt-in, first-contact cap) whose reason is in `error`.
    steps.push({ label: m.attempts > 0 ? 'Next attempt' : 'Waiting until', at: m.availableAt, kind: 'todo', note: m.attempts > 0 ? undefined : m.error ?? undefined })
  }
  if (m.claimedAt) steps.push({ label: 'Picked up by the runner', at: m.claimedAt, kind: 'done', note: m.claimedBy ? `runner ${m.claimedBy}` : undefined })
  if (m.status === 'pending' && m.error && m.attempts > 0) {
    steps.push({ label: `Attempt ${m.attempts} failed, will retry`, at: m.updatedAt, kind: 'bad', note: m.error })
  }
  if (m.sentAt) steps.push({ label: 'Sent to WhatsApp', at: m.sentAt, kind: 'done' })
  else if (m.status === 'pending' || m.status === 'sending') steps.push({ label: 'Sent to WhatsApp', at: null, kind: 'todo', note: 'not yet' })
  if (m.status === 'failed') steps.push({ label: `Failed after ${m.attempts} attempt${m.attempts === 1 ? '' : 's'}`, at: m.updatedAt, kind: 'bad', note: m.error ?? undefined })
  if (m.status === 'opted_out') steps.push({ label: 'Not sent: the contact opted out', at: m.updatedAt, kind: 'bad', note: m.error ?? undefined })
  if (m.status === 'cancelled') steps.push({ label: 'Cancelled before it was sent', at: m.updatedAt, kind: 'bad' })
  if (m.revokedAt) steps.push({ label: 'Revoked (deleted for everyone)', at: m.revokedAt, kind: 'done' })
  if (m.status === 'sent' || m.status === 'pending' || m.status === 'sending') {
    steps.push(m.deliveredAt ? { label: 'Delivered to the phone', at: m.deliveredAt, kind: 'done' } : { label: 'Delivered to the phone', at: null, kind: 'todo', note: 'no receipt yet' })
    steps.push(m.readAt ? { label: 'Read', at: m.readAt, kind: 'done' } : { label: 'Read', at: null, kind: 'todo', note: 'no receipt yet' })
  }
  return steps
}

export const MessageDetailPage: FC<{
  page: Page
  message: MessageRecord
  media: MediaInfo | null | undefined
  subjects: Map<string, string>
  notice?: Notice | null
}> = ({ page, message: m, media, subjects, notice }) => (
  <Layout page={page} title={`Message #${m.id}`} section="messages" notice={notice}>
    <p>
      <a href={`${page.base}/messages`}>← Audit log</a>
    </p>
    <div class="card">
      <p class="card-head">
        <span>
          {capitalised(kindName(m))} to{' '}
          <strong>{isGroupAddress(m.phone) ? <Recipient page={page} message={m} subjects={subjects} /> : formatPhone(m.phone)}</strong> from session{' '}
          <strong>{m.session}</strong>
        </span>
        <MessageBadge message={m} />
      </p>
      <Revoked page={page} message={m} />
      {m.type !== 'text' ? (
        <p>
          <MessageKind page={page} message={m} media={media} />
        </p>
      ) : null}
      {m.details?.contact ? (
        <p class="small" dir="auto">
          {m.details.contact.phones.map(formatPhone).join(', ')}
          {m.details.contact.email ? ` · ${m.details.contact.email}` : ''}
          {m.details.contact.organization ? ` · ${m.details.contact.organization}` : ''}
        </p>
      ) : null}
      {m.details?.location?.address ? (
        <p class="small" dir="auto">
          {m.details.location.address}
        </p>
      ) : null}
      {m.type === 'image' && m.mediaId !== null && media ? (
        <p>
          <img class="thumb" src={`${page.base}/media/${m.mediaId}`} alt={m.body ? `Image sent with caption: ${m.body}` : 'Image sent'} />
        </p>
      ) : null}
      {m.body ? (
        <blockquote class="message-body" dir="auto">
          {m.body}
        </blockquote>
      ) : m.type === 'text' || m.type === 'image' || m.type === 'document' || m.type === 'video' ? (
        <p class="muted">{m.type === 'text' ? 'No text.' : 'No caption.'}</p>
      ) : null}
      {canResend(m) || canCancel(m) || canRevoke(m, page.now) ? (
        <div class="actions">
          <MessageActions page={page} message={m} back={`${page.base}/messages/${m.id}`} />
          <span class="small muted">
            {canCancel(m)
              ? 'Cancel takes it out of the queue before the runner picks it up.'
              : canRevoke(m, page.now)
                ? `Revoke deletes it for everyone, up to ${REVOKE_WINDOW_SECONDS / 3600} hours after it was sent.`
                : m.status === 'opted_out'
                  ? 'The contact opted out. Resend only if they opted in again (they reply YES, or set them to “yes” on the Contacts page).'
                  : 'Puts the message back in the queue under the same WhatsApp id.'}
          </span>
        </div>
      ) : null}
    </div>
    <h2>Timeline</h2>
    <ol class="timeline card">
      {timeline(m).map((s) => (
        <li class={s.kind}>
          <strong>{s.label}</strong>
          {s.at ? (
            <>
              {' '}
              — <When at={s.at} now={page.now} />
            </>
          ) : null}
          {s.note ? (
            <div class="small muted" dir="auto">
              {s.note}
            </div>
          ) : null}
        </li>
      ))}
    </ol>
    <h2>Record</h2>
    <dl class="detail-grid card">
      <dt>Status</dt>
      <dd>{m.status}</dd>
      <dt>Attempts</dt>
      <dd>{m.attempts}</dd>
      <dt>Last error</dt>
      <dd dir="auto">{m.error ?? '—'}</dd>
      <dt>WhatsApp id</dt>
      <dd class="mono">{m.waMessageId ?? '—'}</dd>
      <dt>Idempotency key</dt>
      <dd class="mono" dir="auto">
        {m.idempotencyKey ?? '—'}
      </dd>
      <dt>Queued</dt>
      <dd>{displayTime(m.createdAt)}</dd>
      <dt>Not before</dt>
      <dd>{displayTime(m.availableAt)}</dd>
      <dt>Sent</dt>
      <dd>{displayTime(m.sentAt)}</dd>
      <dt>Delivered</dt>
      <dd>{displayTime(m.deliveredAt)}</dd>
      <dt>Read</dt>
      <dd>{displayTime(m.readAt)}</dd>
      <dt>Last change</dt>
      <dd>{displayTime(m.updatedAt)}</dd>
    </dl>
  </Layout>
)
