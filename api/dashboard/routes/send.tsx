import { Hono } from '../../hono-app.js'
import { enqueueMessage } from '../../../db/lifecycle/enqueue.js'
import { getMessage } from '../../../db/queries/messages.js'
import { listSendableGroups } from '../../../db/queries/groups.js'
import { listSessions } from '../../../db/queries/sessions.js'
import { DEFAULT_SESSION, SESSION_NAME_PATTERN, type ContactCard, type Location, type MediaType } from '../../../db/types.js'
import { ApiError } from '../../errors.js'
import { enqueueMediaMessage } from '../../media-upload.js'
import { assertReplyable } from '../../reply-to.js'
import type { AcceptedFile, SendFields } from '../../routes/send-media.js'
import { checkRecipient, groupJid, recipientOf } from '../../recipient.js'
import { captionOrNull, contactDetails, detailsSend, locationDetails, mediaReuseSeconds, textSend } from '../../send-request.js'
import { field, inlineMessage, pageOf, type DashboardEnv, type DashboardShared } from '../context.js'
import { displayTime, parseId } from '../format.js'
import { parseFormSendAt } from '../send-at.js'
import type { Notice } from '../views/layout.js'
import { isScheduled } from '../views/messages.js'
import { SEND_KINDS, SendPage, type SendField, type SendForm, type SendKind } from '../views/send.js'
import { singleQuery } from '../../query.js'
import { parse, type Schema } from '../../validation.js'
import { sessionField } from '../../schemas.js'

/** The most groups the Send form lists (a typed group id still works beyond them). */
const GROUPS_LISTED = 500

/** Multipart framing around the file: boundaries and the few text fields. */
export const SEND_FORM_OVERHEAD = 64 * 1024

/** What a checked form queues. */
type Send =
  | { type: 'text'; message: string }
  | { type: MediaType; caption: string | null; file: AcceptedFile }
  | { type: 'location' | 'contact'; details: ReturnType<typeof locationDetails> | ReturnType<typeof contactDetails> }

/** The fields of any kind's schema, as parsed. */
type Parsed = SendFields & Partial<Location> & { message?: string; contact?: ContactCard }

type Checked =
  | { ok: true; phone: string; session: string; sendAt: Date | null; replyTo: number | null; send: Send }
  | { ok: false; errors: SendForm['errors'] }

/** The form field beside which a field error of the API's schemas is shown (`contact.phones[2]` → contact_phones). */
const FORM_FIELD: Record<string, SendField> = {
  phone: 'phone', group: 'group', session: 'session', message: 'message', caption: 'message', send_at: 'send_at', file: 'file', filename: 'filename',
  reply_to: 'reply_to', latitude: 'latitude', longitude: 'longitude', name: 'location_name', address: 'location_address',
  contact: 'contact_name', 'contact.name': 'contact_name', 'contact.phones': 'contact_phones', 'contact.email': 'contact_email',
  'contact.organization': 'contact_organization',
}

const FILE_KINDS: Record<string, MediaType> = { image: 'image', document: 'document', video: 'video', audio: 'audio', voice: 'audio' }

/** The kind chosen; a form without one (an older page) sends an image when a file is attached, else a text. */
function kindOf(form: FormData, hasFile: boolean): SendKind | null {
  const kind = field(form, 'kind')
  if (kind === undefined) return hasFile ? 'image' : 'text'
  return (SEND_KINDS as readonly string[]).includes(kind) ? (kind as SendKind) : null
}

/**
 * Validates the Send form with the API's own schemas (`sendBody`, each file kind's `fields`, `sendLocationBody`,
 * `sendContactBody`), the file kinds' `accept` rules (api/routes/send-media.ts), the session gate and the reply_to
 * check. Every problem is gathered at once (`ApiError.errors`) and shown beside its field.
 */
async function check(shared: DashboardShared, db: DashboardEnv['Variables']['db'], form: FormData): Promise<Checked> {
  const { schemas } = shared
  const errors: SendForm['errors'] = {}
  /** Runs a check and puts each of its field problems beside its field (the first one a field gets stays). */
  const besideFields = async <T,>(fn: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await fn()
    } catch (err) {
      if (!(err instanceof ApiError) || !err.errors) throw err
      for (const e of err.errors) {
        const item = /\[(\d+)\]$/.exec(e.path)
        const at = FORM_FIELD[e.path.replace(/\[\d+\]$/, '')]
        const words = at === 'file' ? `The file ${e.message}` : `${item ? `Number ${Number(item[1]) + 1}: ` : ''}${inlineMessage(e.message)}`
        // "is not a JPEG…" reads "The file is not a JPEG…" next to the file input.
        if (at) errors[at] ??= words
        else errors.form ??= inlineMessage(`${e.path ? `${e.path}: ` : ''}${e.message}`)
      }
      return undefined
    }
  }
  /** An optional text field: absent, empty or blank is not given. */
  const optional = (name: SendField) => {
    const value = field(form, name)
    return value === undefined || value.trim() === '' ? undefined : value
  }
  const upload = form.get('file')
  // Browsers send an empty, nameless file part when no file was chosen.
  const file = upload !== null && typeof upload !== 'string' && (upload.size > 0 || upload.name !== '') ? upload : null
  const kind = kindOf(form, file !== null)
  if (!kind) errors.kind = `Pick one of ${SEND_KINDS.join(', ')}.`

  // A group from the list or typed (a typed id wins only when nothing was picked; both differing is a mistake).
  const pickedGroup = optional('group')
  const typedGroup = optional('group_id')?.trim()
  if (pickedGroup && typedGroup && pickedGroup !== typedGroup) errors.group = 'Pick a group or type its id, not both.'
  const group = typedGroup ?? pickedGroup

  // "Send at": the browser's wall-clock time and offset, then the API's own send_at rule (a year ahead at most).
  const picked = parseFormSendAt(field(form, 'send_at'), field(form, 'utc_offset'), Date.now())
  if (!picked.ok) errors.send_at = picked.error
  const common = {
    // Blank is not given, so that a group alone is "group instead of phone" (api/recipient.ts, checkRecipient).
    phone: optional('phone'), group: errors.group ? undefined : group, session: field(form, 'session') || undefined, send_at: picked.ok ? picked.iso ?? undefined : undefined,
    reply_to: optional('reply_to'),
  }
  const message = field(form, 'message') ?? ''
  const fileType = kind ? FILE_KINDS[kind] : undefined
  const rules = fileType ? shared.kinds[fileType] : undefined
  const extra = (): { schema: Schema; values: Record<string, unknown> } => {
    if (rules) return { schema: rules.fields, values: { caption: fileType === 'audio' ? undefined : optional('message'), filename: optional('filename'), ptt: kind === 'voice' ? 'true' : undefined } }
    if (kind === 'location') {
      return {
        schema: schemas.sendLocationBody,
        values: { latitude: optional('latitude'), longitude: optional('longitude'), name: optional('location_name'), address: optional('location_address') },
      }
    }
    if (kind === 'contact') {
      const phones = (field(form, 'contact_phones') ?? '').split(/[\n,]+/).map((p) => p.trim()).filter(Boolean)
      const card = { name: optional('contact_name'), phones, email: optional('contact_email'), organization: optional('contact_organization') }
      return { schema: schemas.sendContactBody, values: { contact: card } }
    }
    return { schema: schemas.sendBody, values: { message } }
  }
  const { schema, values } = extra()
  const parsed = kind ? await besideFields(() => {
    const p = parse(schema, { ...common, ...values }) as Parsed
    checkRecipient(p)
    return p
  }) : undefined

  let accepted: AcceptedFile | undefined
  if (rules) {
    if (!file) errors.file ??= `Choose the ${kind === 'voice' ? 'audio' : kind} file to send.`
    // The kind's own rules on the bytes (size, type, voice note), whatever else is wrong, so every problem shows at once.
    else accepted = await besideFields(async () => rules.accept(
      { bytes: new Uint8Array(await file.arrayBuffer()), name: file.name || null, field: 'file' },
      { filename: optional('filename'), ptt: kind === 'voice' } as SendFields,
    ))
  }
  // Whether the session exists is asked even when another field is wrong, so every problem shows at once.
  const session = errors.session ? undefined : parsed?.session ?? parse(sessionField, common.session, 'session')
  if (session !== undefined) {
    try {
      await shared.gate.assertSendable(db, session)
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      errors.session = err.code === 'unknown_session' ? `Session “${session}” does not exist; add it on the Sessions page.` : inlineMessage(err)
    }
    if (!errors.session && parsed) await besideFields(() => assertReplyable(db, parsed.reply_to, session))
  }
  // The API's group rules (404 unknown_group, 409 group_read_only), for the session chosen, beside the group field.
  let recipient = parsed?.phone
  if (parsed?.group !== undefined && session !== undefined && !errors.session) {
    try {
      recipient = await recipientOf(db, session, parsed)
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      const jid = groupJid(parsed.group)
      errors.group = err.code === 'unknown_group'
        ? `Session “${session}” is not in group ${jid} (as last fetched; refresh its groups on the Sessions page).`
        : err.code === 'group_read_only' ? `Only admins may send to group ${jid}, and session “${session}” is none.` : inlineMessage(err)
    }
  }
  // A file input is empty again when the form comes back, so say so next to it.
  if (file && rules && Object.keys(errors).length > 0) errors.file ??= 'Choose the file again (the browser does not keep it after an error).'
  if (Object.keys(errors).length > 0 || !parsed || recipient === undefined) return { ok: false, errors }
  const base = { phone: recipient, session: parsed.session, sendAt: parsed.send_at ?? null, replyTo: parsed.reply_to ?? null }
  if (rules && accepted) return { ok: true, ...base, send: { type: rules.type, caption: captionOrNull(parsed.caption), file: accepted } }
  if (kind === 'location') return { ok: true, ...base, send: { type: 'location', details: locationDetails(parsed as Parsed & Location) } }
  if (kind === 'contact') return { ok: true, ...base, send: { type: 'contact', details: contactDetails(parsed.contact!) } }
  if (kind === 'text') return { ok: true, ...base, send: { type: 'text', message: parsed.message! } }
  return { ok: false, errors }
}

/** Every field of the form as typed, to show it again with its errors. */
function typedValues(form: FormData): SendForm['values'] {
  const values: SendForm['values'] = {}
  for (const name of [
    'phone', 'group', 'group_id', 'session', 'message', 'filename', 'send_at', 'utc_offset', 'reply_to', 'latitude', 'longitude', 'location_name', 'location_address',
    'contact_name', 'contact_phones', 'contact_email', 'contact_organization',
  ] as const) {
    values[name] = field(form, name) ?? ''
  }
  values.session ||= DEFAULT_SESSION
  return values
}

/** The Send form: every kind the API sends (text, files, voice note, location, contact card), from a chosen session. */
export function sendPages(shared: DashboardShared) {
  const app = new Hono<DashboardEnv>()
  const { config } = shared
  const limits = async () => ({
    messageMaxChars: config.messageMaxChars,
    captionMaxChars: config.captionMaxChars,
    imageMaxBytes: config.imageMaxBytes,
    documentMaxBytes: config.documentMaxBytes,
    videoMaxBytes: config.videoMaxBytes,
    canConvertAudio: (await shared.media.canConvertAudio?.()) ?? false,
  })

  app.get('/', async (c) => {
    const query = singleQuery(c)
    const sent = parseId(query.sent)
    const session = query.session && SESSION_NAME_PATTERN.test(query.session) ? query.session : DEFAULT_SESSION
    const queued = sent === null ? null : await getMessage(c.get('db'), sent)
    const notice: Notice | null =
      sent === null
        ? null
        : {
            kind: 'ok',
            text: (
              <>
                Queued as message #{sent}
                {queued && isScheduled(queued) ? (
                  <>
                    , scheduled for{' '}
                    <time datetime={queued.sendAt.toISOString()} data-field="scheduled">
                      {displayTime(queued.sendAt)}
                    </time>
                  </>
                ) : null}
                .{' '}
                <a href={`${shared.base}/messages/${sent}`} id="sent-link">
                  Follow it in the audit log →
                </a>
              </>
            ),
          }
    const sessions = await listSessions(c.get('db'))
    const groups = await listSendableGroups(c.get('db'), GROUPS_LISTED)
    return c.html(
      <SendPage page={pageOf(shared, c)} form={{ kind: 'text', values: { session }, errors: {} }} sessions={sessions} groups={groups} limits={await limits()} notice={notice} />,
    )
  })

  app.post('/', async (c) => {
    const db = c.get('db')
    const form = c.var.form
    const result = await check(shared, db, form)
    if (!result.ok) {
      const sessions = await listSessions(db)
      const upload = form.get('file')
      const values: SendForm = { kind: kindOf(form, upload !== null && typeof upload !== 'string' && upload.size > 0) ?? 'text', values: typedValues(form), errors: result.errors }
      const groups = await listSendableGroups(db, GROUPS_LISTED)
      return c.html(<SendPage page={pageOf(shared, c)} form={values} sessions={sessions} groups={groups} limits={await limits()} />, 422)
    }
    const { session, phone, sendAt, replyTo, send } = result
    const common = { session, phone, sendAt, replyTo }
    let id: number
    if (send.type === 'text') id = (await enqueueMessage(db, await textSend({ ...common, message: send.message }))).id
    else if ('file' in send) {
      const { media, details } = send.file
      id = (await enqueueMediaMessage(db, { ...common, type: send.type, caption: send.caption, media, details, mediaReuseSeconds: mediaReuseSeconds(config) })).id
    } else id = (await enqueueMessage(db, await detailsSend(send.type, { ...common, details: send.details }))).id
    return c.redirect(`${shared.base}/send?sent=${id}&session=${encodeURIComponent(session)}`, 303)
  })

  return app
}
