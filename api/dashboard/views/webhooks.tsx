import type { FC } from 'hono/jsx'
import type { SessionRecord } from '../../../db/types.js'
import { DELIVERY_STATES, type DeliveryRecord } from '../../../db/queries/webhook-deliveries.js'
import { WEBHOOK_EVENTS, type WebhookRecord } from '../../../db/queries/webhook-endpoints.js'
import { Csrf, Layout, type Notice, type Page } from './layout.js'
import { Badge, FieldError, When } from './parts.js'

export interface WebhookForm {
  url: string
  events: string[]
  session: string
  errors: Partial<Record<'url' | 'events' | 'session' | 'secret' | 'form', string>>
}

const EVENT_HELP: Record<string, string> = {
  'message.sent': 'written to WhatsApp',
  'message.delivered': 'delivered to the phone',
  'message.read': 'read',
  'message.failed': 'failed',
  'message.opted_out': 'not sent: the contact opted out',
  'message.received': 'someone wrote to a number',
  'contact.opted_out': 'a contact opted out (STOP)',
  'contact.opted_in': 'a contact opted in (YES)',
  'session.status': 'a number went online, offline, connecting',
  'session.qr': 'a number shows a new QR code',
}

/** The Webhooks page: endpoints, the add form, recent deliveries with replay. */
export const WebhooksPage: FC<{
  page: Page
  hooks: WebhookRecord[]
  sessions: SessionRecord[]
  deliveries: DeliveryRecord[]
  statusFilter: string
  olderThan: number | null
  form: WebhookForm
  notice?: Notice | null
  self: string
}> = ({ page, hooks, sessions, deliveries, statusFilter, olderThan, form, notice, self }) => {
  const base = `${page.base}/webhooks`
  const urlOf = new Map(hooks.map((h) => [h.id, h.url]))
  return (
    <Layout page={page} title="Webhooks" section="webhooks" notice={notice}>
      <p class="muted">
        The gateway POSTs each event to your URL, signed with the webhook's secret (header <code>X-Signature</code>), and retries
        failed calls for 24 hours. The README shows how to check the signature.
      </p>
      {hooks.length === 0 ? (
        <p class="empty">No webhooks yet. Add one below.</p>
      ) : (
        <table class="responsive">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">URL</th>
              <th scope="col">Events</th>
              <th scope="col">Session</th>
              <th scope="col">Added</th>
              <th scope="col">Remove</th>
            </tr>
          </thead>
          <tbody>
            {hooks.map((h) => (
              <tr data-webhook={String(h.id)}>
                <td data-label="#">{h.id}</td>
                <td data-label="URL" class="mono">{h.url}</td>
                <td data-label="Events">{h.events.join(', ')}</td>
                <td data-label="Session">{h.session ?? 'all'}</td>
                <td data-label="Added">
                  <When at={h.createdAt} now={page.now} />
                </td>
                <td data-label="Remove">
                  <form method="post" action={`${base}/endpoints/${h.id}/delete`} class="actions flush-top">
                    <Csrf page={page} />
                    <button type="submit" class="small secondary" aria-label={`Delete webhook ${h.id}`}>
                      Delete
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2 id="add">Add a webhook</h2>
      <form method="post" action={base} class="card">
        <Csrf page={page} />
        <FieldError id="form-error" error={form.errors.form} />
        <div class="field">
          <label for="wh-url">URL</label>
          <input
            id="wh-url"
            name="url"
            type="url"
            value={form.url}
            placeholder="https://example.com/wa-events"
            required
            aria-invalid={form.errors.url ? 'true' : undefined}
            aria-describedby={form.errors.url ? 'wh-url-error' : undefined}
          />
          <FieldError id="wh-url-error" error={form.errors.url} />
        </div>
        <fieldset class="field" aria-describedby={form.errors.events ? 'wh-events-error' : undefined}>
          <legend>Events</legend>
          {WEBHOOK_EVENTS.map((e) => (
            <label class="check">
              <input type="checkbox" name="events" value={e} checked={form.events.includes(e)} /> <code>{e}</code>{' '}
              <span class="muted small">{EVENT_HELP[e]}</span>
            </label>
          ))}
          <FieldError id="wh-events-error" error={form.errors.events} />
        </fieldset>
        <div class="field">
          <label for="wh-session">Session</label>
          <select id="wh-session" name="session" aria-invalid={form.errors.session ? 'true' : undefined}>
            <option value="">all sessions</option>
            {sessions.map((s) => (
              <option value={s.name} selected={form.session === s.name}>
                {s.name}
              </option>
            ))}
          </select>
          <FieldError id="wh-session-error" error={form.errors.session} />
        </div>
        <div class="field">
          <label for="wh-secret">Secret (optional)</label>
          <input id="wh-secret" name="secret" type="text" autocomplete="off" placeholder="leave empty to generate one" aria-invalid={form.errors.secret ? 'true' : undefined} />
          <FieldError id="wh-secret-error" error={form.errors.secret} />
        </div>
        <button type="submit">Add webhook</button>
      </form>

      <h2 id="deliveries">Recent deliveries</h2>
      <form method="get" action={base} class="card filters" aria-label="Filter deliveries">
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" name="status">
            <option value="">any</option>
            {DELIVERY_STATES.map((s) => (
              <option value={s} selected={statusFilter === s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="actions">
          <button type="submit">Show</button>
        </div>
      </form>
      {deliveries.length === 0 ? (
        <p class="empty">No deliveries{statusFilter ? ` in state “${statusFilter}”` : ''} yet.</p>
      ) : (
        <table class="responsive">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Event</th>
              <th scope="col">Webhook</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last answer</th>
              <th scope="col">Happened</th>
              <th scope="col">Replay</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.map((d) => (
              <tr data-delivery={String(d.id)}>
                <td data-label="#">{d.id}</td>
                <td data-label="Event">
                  <code>{d.type}</code>
                  <div class="muted small mono">{d.eventId}</div>
                </td>
                <td data-label="Webhook" class="mono">
                  #{d.webhookId} {urlOf.get(d.webhookId) ?? ''}
                </td>
                <td data-label="Status">
                  <Badge status={d.status} field="status" />
                </td>
                <td data-label="Attempts">{d.attempts}</td>
                <td data-label="Last answer">
                  {d.lastStatus !== null ? `HTTP ${d.lastStatus}` : ''} {d.lastError ? <span class="muted small">{d.lastError}</span> : d.lastStatus === null ? '—' : ''}
                </td>
                <td data-label="Happened">
                  <When at={d.createdAt} now={page.now} />
                </td>
                <td data-label="Replay">
                  {d.status === 'dead' ? (
                    <form method="post" action={`${base}/deliveries/${d.id}/replay`} class="actions flush-top">
                      <Csrf page={page} />
                      <input type="hidden" name="back" value={self} />
                      <button type="submit" class="small secondary">
                        Replay
                      </button>
                    </form>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        {olderThan ? <a href={`${base}?${new URLSearchParams({ ...(statusFilter ? { status: statusFilter } : {}), before: String(olderThan) })}#deliveries`}>Older »</a> : null}
      </nav>
    </Layout>
  )
}
