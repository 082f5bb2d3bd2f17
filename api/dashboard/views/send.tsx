import type { FC } from 'hono/jsx'
import type { SessionRecord } from '../../../db/types.js'
import { formatPhone } from '../format.js'
import { Csrf, Layout, type Notice, type Page } from './layout.js'
import { FieldError } from './parts.js'

export interface SendForm {
  phone: string
  session: string
  message: string
  /** The `datetime-local` value as typed (wall-clock time) and the browser's UTC offset in minutes for it. */
  sendAt: string
  utcOffset: string
  errors: Partial<Record<'phone' | 'session' | 'message' | 'file' | 'send_at' | 'form', string>>
}

export interface SendLimits {
  messageMaxChars: number
  captionMaxChars: number
  imageMaxBytes: number
}

const describedBy = (id: string, error: string | undefined, hint?: string) =>
  [error ? `${id}-error` : null, hint ?? null].filter(Boolean).join(' ') || undefined

export const SendPage: FC<{
  page: Page
  form: SendForm
  sessions: SessionRecord[]
  limits: SendLimits
  notice?: Notice | null
}> = ({ page, form, sessions, limits, notice }) => {
  const e = form.errors
  const names = sessions.map((s) => s.name)
  const options = form.session && !names.includes(form.session) ? [...sessions.map((s) => s.name), form.session] : names
  return (
    <Layout page={page} title="Send a message" section="send" notice={notice} scripts={['send.js']}>
      {e.form ? (
        <div class="notice bad" role="alert">
          {e.form}
        </div>
      ) : null}
      <form method="post" action={`${page.base}/send`} enctype="multipart/form-data" class="card" novalidate>
        <Csrf page={page} />
        <div class="field">
          <label for="phone">
            Phone <span class="hint">with country code, e.g. 9611234567 or +961 1 234 567</span>
          </label>
          <input
            id="phone"
            name="phone"
            type="tel"
            inputmode="tel"
            autocomplete="off"
            value={form.phone}
            required
            aria-invalid={e.phone ? 'true' : undefined}
            aria-describedby={describedBy('phone', e.phone)}
          />
          <FieldError id="phone-error" error={e.phone} />
        </div>
        <div class="field">
          <label for="session">Session</label>
          {options.length === 0 ? (
            <p class="muted">No sessions yet; messages go to “default” once the runner creates it.</p>
          ) : null}
          <select id="session" name="session" aria-invalid={e.session ? 'true' : undefined} aria-describedby={describedBy('session', e.session)}>
            {(options.length ? options : ['default']).map((n) => {
              const s = sessions.find((x) => x.name === n)
              return (
                <option value={n} selected={form.session === n}>
                  {n}
                  {s ? ` — ${s.status}${s.phone ? ` ${formatPhone(s.phone)}` : ''}` : ''}
                </option>
              )
            })}
          </select>
          <FieldError id="session-error" error={e.session} />
        </div>
        <div class="field">
          <label for="message">
            Message <span class="hint">or the caption when an image is attached</span>
          </label>
          <textarea
            id="message"
            name="message"
            dir="auto"
            aria-invalid={e.message ? 'true' : undefined}
            aria-describedby={describedBy('message', e.message, 'message-hint')}
          >
            {form.message}
          </textarea>
          <p class="hint small muted" id="message-hint">
            Up to {limits.messageMaxChars} characters for a text, {limits.captionMaxChars} for a caption. Arabic and emoji are fine.
          </p>
          <FieldError id="message-error" error={e.message} />
        </div>
        <div class="field">
          <label for="file">
            Image <span class="hint">optional: JPG, PNG, GIF or WEBP, at most {Math.round(limits.imageMaxBytes / (1024 * 1024))} MB</span>
          </label>
          <input
            id="file"
            name="file"
            type="file"
            accept="image/jpeg,image/png,image/gif,image/webp"
            aria-invalid={e.file ? 'true' : undefined}
            aria-describedby={describedBy('file', e.file)}
          />
          <FieldError id="file-error" error={e.file} />
        </div>
        <div class="field">
          <label for="send_at">
            Send at <span class="hint">optional; empty sends now</span>
          </label>
          <input
            id="send_at"
            name="send_at"
            type="datetime-local"
            step="60"
            value={form.sendAt}
            aria-invalid={e.send_at ? 'true' : undefined}
            aria-describedby={describedBy('send_at', e.send_at, 'send_at-hint')}
          />
          <input type="hidden" id="utc_offset" name="utc_offset" value={form.utcOffset} />
          <p class="hint small muted" id="send_at-hint">
            In <span id="send_at-zone">UTC</span>, up to a year ahead. The message is queued now and waits until then.
          </p>
          <FieldError id="send_at-error" error={e.send_at} />
        </div>
        <button type="submit">Queue message</button>
        <p class="small muted">
          Messages are queued and sent with a polite 8–22 s gap per session; follow each one in the audit log.
        </p>
      </form>
    </Layout>
  )
}
