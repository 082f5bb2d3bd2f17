import type { FC } from 'hono/jsx'
import { MESSAGE_STATES, type MessageRecord } from '../../../db/types.js'
import { formatPhone, displayTime, statusLabel } from '../format.js'
import { Csrf, Layout, type Notice, type Page } from './layout.js'
import { FieldError, MessageBadge, When } from './parts.js'

/** The audit log's filter form as typed (strings), with any per-field problems. */
export interface MessageFilters {
  status: string
  session: string
  phone: string
  from: string
  to: string
  errors: Partial<Record<'status' | 'session' | 'phone' | 'from' | 'to', string>>
}

export function filterQuery(f: MessageFilters, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams()
  for (const k of ['status', 'session', 'phone', 'from', 'to'] as const) if (f[k]) q.set(k, f[k])
  for (const [k, v] of Object.entries(extra)) q.set(k, v)
  const s = q.toString()
  return s ? `?${s}` : ''
}

const canResend = (m: MessageRecord) => m.status === 'failed' || m.status === 'opted_out'

export const ResendButton: FC<{ page: Page; message: MessageRecord; back: string; small?: boolean }> = ({ page, message, back, small }) => (
  <form method="post" action={`${page.base}/messages/${message.id}/resend`} class="inline">
    <Csrf page={page} />
    <input type="hidden" name="back" value={back} />
    <button type="submit" class={small ? 'small' : undefined} aria-label={`Resend message ${message.id}`}>
      Resend
    </button>
  </form>
)

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
  nextBefore: number | null
  isFirstPage: boolean
  notice?: Notice | null
  /** This page's own URL (path and query), for Resend to come back to. */
  self: string
}> = ({ page, filters, sessionNames, messages, nextBefore, isFirstPage, notice, self }) => {
  const filtered = Boolean(filters.status || filters.session || filters.phone || filters.from || filters.to)
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
              <th scope="col">Phone</th>
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
                <td data-label="Phone">
                  <a href={`${page.base}/messages?phone=${m.phone}`}>{formatPhone(m.phone)}</a>
                </td>
                <td data-label="Message" class="body">
                  <div>
                    {m.type === 'image' ? <span class="badge s-offline">image</span> : null} <span dir="auto">{preview(m)}</span>
                    {m.error ? (
                      <div class="small error-text" dir="auto">
                        {m.error}
                      </div>
                    ) : null}
                  </div>
                </td>
                <td data-label="Status">
                  <MessageBadge message={m} />
                </td>
                <td data-label="Tries">{m.attempts}</td>
                <td data-label="Actions">
                  <div class="actions flush-top">
                    <a href={`${page.base}/messages/${m.id}`}>Details</a>
                    {canResend(m) ? <ResendButton page={page} message={m} back={self} small /> : null}
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

interface Step {
  label: string
  at: Date | null
  kind: 'done' | 'bad' | 'todo'
  note?: string
}

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
  if (m.status === 'sent' || m.status === 'pending' || m.status === 'sending') {
    steps.push(m.deliveredAt ? { label: 'Delivered to the phone', at: m.deliveredAt, kind: 'done' } : { label: 'Delivered to the phone', at: null, kind: 'todo', note: 'no receipt yet' })
    steps.push(m.readAt ? { label: 'Read', at: m.readAt, kind: 'done' } : { label: 'Read', at: null, kind: 'todo', note: 'no receipt yet' })
  }
  return steps
}

export const MessageDetailPage: FC<{ page: Page; message: MessageRecord; notice?: Notice | null }> = ({ page, message: m, notice }) => (
  <Layout page={page} title={`Message #${m.id}`} section="messages" notice={notice}>
    <p>
      <a href={`${page.base}/messages`}>← Audit log</a>
    </p>
    <div class="card">
      <p class="card-head">
        <span>
          {m.type === 'image' ? 'Image' : 'Text'} to <strong>{formatPhone(m.phone)}</strong> from session <strong>{m.session}</strong>
        </span>
        <MessageBadge message={m} />
      </p>
      {m.type === 'image' && m.mediaId !== null ? (
        <p>
          <img class="thumb" src={`${page.base}/media/${m.mediaId}`} alt={m.body ? `Image sent with caption: ${m.body}` : 'Image sent'} />
        </p>
      ) : null}
      {m.body ? (
        <blockquote class="message-body" dir="auto">
          {m.body}
        </blockquote>
      ) : (
        <p class="muted">{m.type === 'image' ? 'No caption.' : 'No text.'}</p>
      )}
      {canResend(m) ? (
        <div class="actions">
          <ResendButton page={page} message={m} back={`${page.base}/messages/${m.id}`} />
          <span class="small muted">
            {m.status === 'opted_out'
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
