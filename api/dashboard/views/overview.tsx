import type { FC } from 'hono/jsx'
import type { MessageRecord, MessageStatus, SessionRecord } from '../../../db/types.js'
import { MESSAGE_STATES } from '../../../db/types.js'
import { formatPhone, pausedUntil, sessionDetail, statusLabel } from '../format.js'
import { Layout, type Notice, type Page } from './layout.js'
import { SessionBadge, When } from './parts.js'

export interface OverviewData {
  sessions: SessionRecord[]
  counts: Record<MessageStatus, number>
  sentLast24h: number
  recentFailures: MessageRecord[]
}

export const OverviewPage: FC<{ page: Page; data: OverviewData; notice?: Notice | null }> = ({ page, data, notice }) => {
  const paused = data.sessions.filter((s) => pausedUntil(s, page.now))
  const total = MESSAGE_STATES.reduce((n, s) => n + data.counts[s], 0)
  return (
    <Layout page={page} title="Overview" section="overview" notice={notice}>
      <h2>Sessions</h2>
      {data.sessions.length === 0 ? (
        <p class="empty">No sessions yet. The runner creates <code>default</code> when it starts; add more on the Sessions page.</p>
      ) : (
        <div class="grid">
          {data.sessions.map((s) => (
            <div class="card">
              <p class="card-head">
                <a href={`${page.base}/sessions#session-${s.name}`}>
                  <strong>{s.name}</strong>
                </a>
                <SessionBadge session={s} now={page.now} />
              </p>
              <p class="small muted flush">
                {[
                  s.phone ? formatPhone(s.phone) : null,
                  sessionDetail(s, page.now) ?? (s.phone ? null : s.status === 'connecting' ? 'waiting for a QR scan' : 'no number linked'),
                ]
                  .filter(Boolean)
                  .map((part, i) => (
                    <span dir="auto">
                      {i > 0 ? ' · ' : ''}
                      {part}
                    </span>
                  ))}
              </p>
            </div>
          ))}
        </div>
      )}

      {paused.length > 0 ? (
        <>
          <h2>Paused sessions</h2>
          <div class="notice warn" role="status">
            <ul class="flush">
              {paused.map((s) => (
                <li>
                  <strong>{s.name}</strong> is paused until <When at={s.pausedUntil} now={page.now} />
                  {s.detail ? (
                    <>
                      {' '}— reason: <span dir="auto">{s.detail}</span>
                    </>
                  ) : null}
                  . Its messages wait in the queue until then.
                </li>
              ))}
            </ul>
          </div>
        </>
      ) : null}

      <h2>Queue</h2>
      {total === 0 ? (
        <p class="empty">
          No messages yet — send one from the <a href={`${page.base}/send`}>Send</a> page or <code>POST /api/send</code>.
        </p>
      ) : null}
      <dl class="stats">
        <div>
          <dt>Sent in the last 24 h</dt>
          <dd>{data.sentLast24h}</dd>
        </div>
        {MESSAGE_STATES.map((s) => (
          <div>
            <a href={`${page.base}/messages?status=${s}`}>
              <dt>{statusLabel(s)}</dt>
              <dd>{data.counts[s]}</dd>
            </a>
          </div>
        ))}
      </dl>

      <h2>Recent failures</h2>
      {data.recentFailures.length === 0 ? (
        <p class="empty">No failed messages. Failures and their errors will show here, each with a Resend button in the audit log.</p>
      ) : (
        <table class="responsive">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Phone</th>
              <th scope="col">Session</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {data.recentFailures.map((m) => (
              <tr>
                <td data-label="#">
                  <a href={`${page.base}/messages/${m.id}`}>#{m.id}</a>
                </td>
                <td data-label="When">
                  <When at={m.updatedAt} now={page.now} />
                </td>
                <td data-label="Phone">{formatPhone(m.phone)}</td>
                <td data-label="Session">{m.session}</td>
                <td data-label="Error" class="body" dir="auto">
                  {m.error ?? '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data.recentFailures.length > 0 ? (
        <p>
          <a href={`${page.base}/messages?status=failed`}>All failed messages →</a>
        </p>
      ) : null}
    </Layout>
  )
}
