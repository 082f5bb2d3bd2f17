import { Hono } from 'hono'
import { enqueueMessage } from '../../../db/lifecycle/enqueue.js'
import { getMessage } from '../../../db/queries/messages.js'
import { listSessions } from '../../../db/queries/sessions.js'
import { DEFAULT_SESSION, SESSION_NAME_PATTERN } from '../../../db/types.js'
import { ApiError } from '../../errors.js'
import { checkImageUpload, enqueueImageMessage, type AcceptedImage } from '../../image-upload.js'
import { imageSend, textSend } from '../../send-request.js'
import { field, inlineMessage, pageOf, type DashboardEnv, type DashboardShared } from '../context.js'
import { displayTime, parseId } from '../format.js'
import { parseFormSendAt } from '../send-at.js'
import type { Notice } from '../views/layout.js'
import { isScheduled } from '../views/messages.js'
import { SendPage, type SendForm } from '../views/send.js'
import { singleQuery } from '../../query.js'
import { parse } from '../../validation.js'
import { sessionField } from '../../schemas.js'

/** Multipart framing around the file: boundaries and the few text fields. */
export const SEND_FORM_OVERHEAD = 64 * 1024

type Checked =
  | { ok: true; phone: string; session: string; sendAt: Date | null; send: { image: null; message: string } | { image: AcceptedImage; caption: string | null } }
  | { ok: false; errors: SendForm['errors'] }

/** The form field beside which a field error of the API's schemas is shown (the caption is typed in "message"). */
const FORM_FIELD: Record<string, keyof SendForm['errors']> = { phone: 'phone', session: 'session', message: 'message', caption: 'message', send_at: 'send_at', file: 'file' }

/**
 * Validates the Send form with the API's own schemas (`sendBody`, `sendImageFields`), image reader and session
 * gate. The schema lists every field problem at once (`ApiError.errors`), each shown beside its field.
 * The image goes through `checkImageUpload`, the very rules of `POST /api/send-image`.
 */
async function check(shared: DashboardShared, db: DashboardEnv['Variables']['db'], form: FormData): Promise<Checked> {
  const { schemas, config } = shared
  const errors: SendForm['errors'] = {}
  /** Runs a check and puts each of its field problems beside its field (the first one a field gets stays). */
  const besideFields = async <T,>(fn: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await fn()
    } catch (err) {
      if (!(err instanceof ApiError) || !err.errors) throw err
      for (const e of err.errors) {
        const at = FORM_FIELD[e.path]
        // "is not a JPEG…" reads "The file is not a JPEG…" next to the file input.
        if (at) errors[at] ??= at === 'file' ? `The file ${e.message}` : inlineMessage(e.message)
      }
      return undefined
    }
  }
  const upload = form.get('file')
  // Browsers send an empty, nameless file part when no file was chosen.
  const file = upload !== null && typeof upload !== 'string' && (upload.size > 0 || upload.name !== '') ? upload : null

  // "Send at": the browser's wall-clock time and offset, then the API's own send_at rule (a year ahead at most).
  const picked = parseFormSendAt(field(form, 'send_at'), field(form, 'utc_offset'), Date.now())
  if (!picked.ok) errors.send_at = picked.error
  const common = { phone: field(form, 'phone'), session: field(form, 'session') || undefined, send_at: picked.ok ? picked.iso ?? undefined : undefined }
  const message = field(form, 'message') ?? ''
  // With a file the text is its caption (optional; trimmed to none by `imageSend`), else the message itself.
  const parsed = await besideFields(() =>
    file
      ? { ...parse(schemas.sendImageFields, { ...common, caption: message }), message: undefined }
      : { ...parse(schemas.sendBody, { ...common, message }), caption: undefined },
  )
  const image = file ? await besideFields(() => checkImageUpload(file, config)) : undefined
  // Whether the session exists is asked even when another field is wrong, so every problem shows at once.
  const session = errors.session ? undefined : parsed?.session ?? parse(sessionField, common.session, 'session')
  if (session !== undefined) {
    try {
      await shared.gate.assertSendable(db, session)
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      errors.session = err.code === 'unknown_session' ? `Session “${session}” does not exist; add it on the Sessions page.` : inlineMessage(err)
    }
  }
  // A file input is empty again when the form comes back, so say so next to it.
  if (file && Object.keys(errors).length > 0) errors.file ??= 'Choose the image again (the browser does not keep it after an error).'
  if (Object.keys(errors).length > 0 || !parsed) return { ok: false, errors }
  const { phone, send_at: sendAt = null } = parsed
  if (image) return { ok: true, phone, session: parsed.session, sendAt, send: { image, caption: parsed.caption ?? null } }
  if (parsed.message === undefined) return { ok: false, errors }
  return { ok: true, phone, session: parsed.session, sendAt, send: { image: null, message: parsed.message } }
}

/** The Send form: text, or image with caption, from a chosen session. */
export function sendPages(shared: DashboardShared) {
  const app = new Hono<DashboardEnv>()
  const limits = {
    messageMaxChars: shared.config.messageMaxChars,
    captionMaxChars: shared.config.captionMaxChars,
    imageMaxBytes: shared.config.imageMaxBytes,
  }

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
    return c.html(
      <SendPage page={pageOf(shared, c)} form={{ phone: '', session, message: '', sendAt: '', utcOffset: '', errors: {} }} sessions={sessions} limits={limits} notice={notice} />,
    )
  })

  app.post('/', async (c) => {
    const db = c.get('db')
    const form = c.var.form
    const result = await check(shared, db, form)
    if (!result.ok) {
      const sessions = await listSessions(db)
      const values: SendForm = {
        phone: field(form, 'phone') ?? '',
        session: field(form, 'session') ?? DEFAULT_SESSION,
        message: field(form, 'message') ?? '',
        sendAt: field(form, 'send_at') ?? '',
        utcOffset: field(form, 'utc_offset') ?? '',
        errors: result.errors,
      }
      return c.html(<SendPage page={pageOf(shared, c)} form={values} sessions={sessions} limits={limits} />, 422)
    }
    const { session, phone, sendAt, send } = result
    const queued = send.image
      ? await enqueueImageMessage(db, await imageSend({ session, phone, caption: send.caption, image: send.image, sendAt }, shared.config))
      : await enqueueMessage(db, await textSend({ session, phone, message: send.message, sendAt }))
    const id = queued.id
    return c.redirect(`${shared.base}/send?sent=${id}&session=${encodeURIComponent(result.session)}`, 303)
  })

  return app
}
