import type { FC } from 'hono/jsx'
import type { SendableGroup } from '../../../db/queries/groups.js'
import type { SessionRecord } from '../../../db/types.js'
import { formatBytes } from '../../body.js'
import { formatPhone } from '../format.js'
import { Csrf, Layout, type Notice, type Page } from './layout.js'
import { FieldError } from './parts.js'

/** What the Send form can queue; `voice` is audio sent as a voice note (`ptt`). */
export const SEND_KINDS = ['text', 'image', 'document', 'video', 'audio', 'voice', 'location', 'contact'] as const
export type SendKind = (typeof SEND_KINDS)[number]

const KIND_LABELS: Record<SendKind, string> = {
  text: 'Text', image: 'Image', document: 'Document', video: 'Video', audio: 'Audio', voice: 'Voice note', location: 'Location', contact: 'Contact',
}

/** The form's fields, named as posted. */
export type SendField =
  | 'phone' | 'group' | 'group_id' | 'session' | 'message' | 'file' | 'filename' | 'send_at' | 'utc_offset' | 'reply_to'
  | 'latitude' | 'longitude' | 'location_name' | 'location_address'
  | 'contact_name' | 'contact_phones' | 'contact_email' | 'contact_organization'

export interface SendForm {
  kind: SendKind
  /** Each field as typed; `send_at` is the `datetime-local` value (wall-clock) and `utc_offset` the browser's offset for it. */
  values: Partial<Record<SendField, string>>
  errors: Partial<Record<SendField | 'kind' | 'form', string>>
}

export interface SendLimits {
  messageMaxChars: number
  captionMaxChars: number
  imageMaxBytes: number
  documentMaxBytes: number
  videoMaxBytes: number
  /** Whether non-Opus audio can become a voice note here (ffmpeg on the gateway). */
  canConvertAudio: boolean
}

const describedBy = (id: string, error: string | undefined, hint?: string) =>
  [error ? `${id}-error` : null, hint ?? null].filter(Boolean).join(' ') || undefined

/**
 * One labelled input with its error beside it. `kinds` lists the kinds it belongs to: the stylesheet shows it only
 * while one of them is chosen (and shows every group where `:has` is unsupported; the server reads only the chosen
 * kind's fields either way).
 */
const Field: FC<{
  form: SendForm
  name: SendField
  label: string
  hint?: string
  kinds?: string
  type?: string
  inputmode?: 'decimal' | 'numeric'
  multiline?: boolean
}> = ({ form, name, label, hint, kinds, type = 'text', inputmode, multiline }) => {
  const error = form.errors[name]
  const common = {
    id: name, name, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': describedBy(name, error, hint ? `${name}-hint` : undefined),
  }
  return (
    <div class="field" data-kinds={kinds}>
      <label for={name}>{label}</label>
      {multiline ? (
        <textarea {...common} dir="auto">
          {form.values[name] ?? ''}
        </textarea>
      ) : (
        <input {...common} type={type} inputmode={inputmode} autocomplete="off" dir={type === 'text' ? 'auto' : undefined} value={form.values[name] ?? ''} />
      )}
      {hint ? (
        <p class="hint small muted" id={`${name}-hint`}>
          {hint}
        </p>
      ) : null}
      <FieldError id={`${name}-error`} error={error} />
    </div>
  )
}

export const SendPage: FC<{
  page: Page
  form: SendForm
  sessions: SessionRecord[]
  /** The groups the sessions may send to, as last fetched (`listSendableGroups`). */
  groups: SendableGroup[]
  limits: SendLimits
  notice?: Notice | null
}> = ({ page, form, sessions, groups, limits, notice }) => {
  const e = form.errors
  const names = sessions.map((s) => s.name)
  const chosen = form.values.session ?? ''
  const options = chosen && !names.includes(chosen) ? [...names, chosen] : names
  const groupSessions = [...new Set(groups.map((g) => g.session))]
  const pickedGroup = form.values.group ?? ''
  const fileHints: Record<string, string> = {
    image: `JPG, PNG, GIF or WEBP, at most ${formatBytes(limits.imageMaxBytes)}.`,
    document: `Any file (PDF, Office, CSV…), at most ${formatBytes(limits.documentMaxBytes)}.`,
    video: `MP4 or 3GP, at most ${formatBytes(limits.videoMaxBytes)}.`,
    audio: `MP3, M4A/AAC, WAV, OGG or AMR, at most ${formatBytes(limits.documentMaxBytes)}; sent as an audio file.`,
    voice: limits.canConvertAudio
      ? `OGG/Opus, or other audio (converted here), at most ${formatBytes(limits.documentMaxBytes)}.`
      : `OGG/Opus only (this gateway has no ffmpeg to convert other audio), at most ${formatBytes(limits.documentMaxBytes)}.`,
  }
  return (
    <Layout page={page} title="Send a message" section="send" notice={notice} scripts={['send.js']}>
      {e.form ? (
        <div class="notice bad" role="alert">
          {e.form}
        </div>
      ) : null}
      <form method="post" action={`${page.base}/send`} enctype="multipart/form-data" class="card send-form" novalidate>
        <Csrf page={page} />
        <fieldset class="field kinds" aria-describedby={e.kind ? 'kind-error' : undefined}>
          <legend>What to send</legend>
          {SEND_KINDS.map((k) => (
            <label class="check" for={`kind-${k}`}>
              <input type="radio" id={`kind-${k}`} name="kind" value={k} checked={form.kind === k} /> {KIND_LABELS[k]}
            </label>
          ))}
          <FieldError id="kind-error" error={e.kind} />
        </fieldset>
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
            value={form.values.phone ?? ''}
            aria-invalid={e.phone ? 'true' : undefined}
            aria-describedby={describedBy('phone', e.phone)}
          />
          <FieldError id="phone-error" error={e.phone} />
        </div>
        <div class="field">
          <label for="group">
            Or a group <span class="hint">instead of the phone; the chosen session must be in it</span>
          </label>
          <select id="group" name="group" aria-invalid={e.group ? 'true' : undefined} aria-describedby={describedBy('group', e.group, 'group-hint')}>
            <option value="" selected={pickedGroup === ''}>
              — none: send to the phone —
            </option>
            {groupSessions.map((session) => (
              <optgroup label={`Session ${session}`}>
                {groups.filter((g) => g.session === session).map((g) => (
                  <option value={g.id} selected={pickedGroup === g.id}>
                    {g.subject || g.id} ({g.participantCount} members)
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
          <input
            id="group_id"
            name="group_id"
            type="text"
            inputmode="numeric"
            autocomplete="off"
            value={form.values.group_id ?? ''}
            placeholder="or type a group id: 120363…@g.us"
            aria-label="Group id"
            aria-invalid={e.group ? 'true' : undefined}
            aria-describedby={describedBy('group', e.group, 'group-hint')}
          />
          <p class="hint small muted" id="group-hint">
            {groups.length === 0
              ? 'No groups fetched yet (Sessions page: the groups each number is in); a group id can still be typed.'
              : 'The groups each session may send to, as last fetched; a group id not listed can be typed.'}
          </p>
          <FieldError id="group-error" error={e.group} />
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
                <option value={n} selected={chosen === n}>
                  {n}
                  {s ? ` — ${s.status}${s.phone ? ` ${formatPhone(s.phone)}` : ''}` : ''}
                </option>
              )
            })}
          </select>
          <FieldError id="session-error" error={e.session} />
        </div>
        <Field
          form={form}
          name="message"
          label="Message"
          kinds="text image document video"
          multiline
          hint={`Up to ${limits.messageMaxChars} characters for a text; for an image, document or video the optional caption, up to ${limits.captionMaxChars}. Arabic and emoji are fine.`}
        />
        <div class="field" data-kinds="image document video audio voice">
          <label for="file">File</label>
          <input id="file" name="file" type="file" aria-invalid={e.file ? 'true' : undefined} aria-describedby={describedBy('file', e.file, 'file-hint')} />
          <p class="hint small muted" id="file-hint">
            {Object.entries(fileHints).map(([k, hint]) => (
              <span data-kinds={k}>{hint} </span>
            ))}
          </p>
          <FieldError id="file-error" error={e.file} />
        </div>
        <Field form={form} name="filename" label="File name" kinds="document" hint="Optional: the name the recipient sees (default: the uploaded file's name)." />
        <Field form={form} name="latitude" label="Latitude" kinds="location" inputmode="decimal" hint="Degrees, −90 to 90, e.g. 33.8938." />
        <Field form={form} name="longitude" label="Longitude" kinds="location" inputmode="decimal" hint="Degrees, −180 to 180, e.g. 35.5018." />
        <Field form={form} name="location_name" label="Place name" kinds="location" hint="Optional." />
        <Field form={form} name="location_address" label="Address" kinds="location" hint="Optional." />
        <Field form={form} name="contact_name" label="Contact name" kinds="contact" />
        <Field form={form} name="contact_phones" label="Contact phones" kinds="contact" multiline hint="1 to 10 numbers with country code, separated by commas or new lines." />
        <Field form={form} name="contact_email" label="Contact e-mail" kinds="contact" type="email" hint="Optional." />
        <Field form={form} name="contact_organization" label="Company" kinds="contact" hint="Optional." />
        <Field form={form} name="reply_to" label="Reply to inbound id" inputmode="numeric" hint="Optional: the id of a received message (inbound id of the message.received webhook) to quote; it must have arrived on the chosen session." />
        <div class="field">
          <label for="send_at">
            Send at <span class="hint">optional; empty sends now</span>
          </label>
          <input
            id="send_at"
            name="send_at"
            type="datetime-local"
            step="60"
            value={form.values.send_at ?? ''}
            aria-invalid={e.send_at ? 'true' : undefined}
            aria-describedby={describedBy('send_at', e.send_at, 'send_at-hint')}
          />
          <input type="hidden" id="utc_offset" name="utc_offset" value={form.values.utc_offset ?? ''} />
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
