import { Hono } from '../../hono-app.js'
import { getMedia, getMediaInfo, getMediaInfos, type MediaInfo } from '../../../db/queries/media.js'
import { getMessage, listMessages, type MessageFilter } from '../../../db/queries/messages.js'
import { resendMessage } from '../../../db/lifecycle/resend.js'
import { cancelMessage } from '../../../db/lifecycle/cancel.js'
import { requestRevoke, REVOKE_WINDOW_SECONDS } from '../../../db/lifecycle/revoke.js'
import type { Queryable } from '../../../db/driver.js'
import { groupSubjects } from '../../../db/queries/groups.js'
import { listSessions } from '../../../db/queries/sessions.js'
import { isGroupAddress, MESSAGE_STATES, type MessageRecord, type MessageStatus } from '../../../db/types.js'
import { groupIdSchema, phoneSchema } from '../../phone.js'
import { groupJid } from '../../recipient.js'
import { sessionNameSchema } from '../../schemas.js'
import { field, inlineMessage, pageOf, safeReturn, type DashboardContext, type DashboardEnv, type DashboardShared } from '../context.js'
import { parseDay, parseId } from '../format.js'
import { notFoundPage } from '../respond.js'
import type { Notice } from '../views/layout.js'
import { MessageDetailPage, MessagesPage, type MessageFilters } from '../views/messages.js'
import { singleQuery } from '../../query.js'
import { parse } from '../../validation.js'

const PAGE_SIZE = 50
const DAY_MS = 86_400_000

function noticeFrom(query: Record<string, string>): Notice | null {
  const id = parseId(query.id)
  if (id === null) return null
  switch (query.done) {
    case 'resent':
      return { kind: 'ok', text: `Message #${id} is back in the queue and will be sent again.` }
    case 'not-resendable':
      return { kind: 'warn', text: `Message #${id} is not failed or opted out (any more), so there is nothing to resend.` }
    case 'cancelled':
      return { kind: 'ok', text: `Message #${id} is cancelled: it left the queue and will not be sent.` }
    case 'not-cancellable':
      return { kind: 'warn', text: `Message #${id} was already picked up by the runner (or has finished), so it can no longer be cancelled.` }
    case 'revoke-queued': {
      const revoke = parseId(query.revoke)
      return { kind: 'ok', text: `The revoke of message #${id} is queued${revoke === null ? '' : ` as #${revoke}`}; once it is sent the message is deleted for everyone.` }
    }
    case 'already-revoked':
      return { kind: 'warn', text: `Message #${id} has already been revoked.` }
    case 'revoke-too-late':
      return { kind: 'bad', text: `Message #${id} was sent more than ${REVOKE_WINDOW_SECONDS / 3600} hours ago; WhatsApp no longer deletes it for everyone.` }
    case 'not-revocable':
      return { kind: 'warn', text: `Message #${id} is not a sent message (or is itself a revoke), so it cannot be revoked; cancel a pending one instead.` }
    case 'missing':
      return { kind: 'bad', text: `Message #${id} does not exist.` }
    default:
      return null
  }
}

/** Parses the audit log's query string into a DB filter, collecting a readable error per bad field. */
export function parseFilters(query: Record<string, string>): { form: MessageFilters; filter: Omit<MessageFilter, 'limit'> } {
  const form: MessageFilters = {
    status: query.status ?? '',
    session: query.session ?? '',
    phone: query.phone ?? '',
    group: query.group ?? '',
    from: query.from ?? '',
    to: query.to ?? '',
    errors: {},
  }
  const filter: Omit<MessageFilter, 'limit'> = {}
  if (form.status) {
    if ((MESSAGE_STATES as readonly string[]).includes(form.status)) filter.status = form.status as MessageStatus
    else form.errors.status = `Unknown status; pick one of ${MESSAGE_STATES.join(', ')}`
  }
  if (form.session) {
    try {
      filter.session = parse(sessionNameSchema, form.session, '')
    } catch (err) {
      form.errors.session = inlineMessage(err)
    }
  }
  if (form.phone.trim()) {
    try {
      filter.phone = parse(phoneSchema, form.phone, '')
    } catch (err) {
      form.errors.phone = inlineMessage(err)
    }
  }
  // A group's messages keep its JID where the phone is (db/README.md, Groups): the same filter, as GET /api/messages.
  if (form.group.trim()) {
    if (form.phone.trim()) form.errors.group = 'Filter by a phone or a group, not both'
    else {
      try {
        filter.phone = groupJid(parse(groupIdSchema, form.group.trim(), ''))
      } catch (err) {
        form.errors.group = inlineMessage(err)
      }
    }
  }
  if (form.from) {
    const d = parseDay(form.from)
    if (d) filter.since = d
    else form.errors.from = 'Use a date such as 2025-05-11'
  }
  if (form.to) {
    const d = parseDay(form.to)
    if (d) filter.until = new Date(d.getTime() + DAY_MS)
    else form.errors.to = 'Use a date such as 2025-05-11'
  }
  if (filter.since && filter.until && filter.since >= filter.until) form.errors.to = 'The “to” day must not be before the “from” day'
  return { form, filter }
}

/** The stored files of `messages` by media id (null when pruned): one statement for the page. */
async function mediaOf(db: Queryable, messages: readonly MessageRecord[]): Promise<Map<number, MediaInfo | null>> {
  const ids = messages.flatMap((m) => (m.mediaId === null ? [] : [m.mediaId]))
  const stored = await getMediaInfos(db, ids)
  return new Map(ids.map((id) => [id, stored.get(id) ?? null]))
}

/** The subjects of the groups `messages` went to, as their sessions last fetched them: one statement for the page. */
function subjectsOf(db: Queryable, messages: readonly MessageRecord[]): Promise<Map<string, string>> {
  return groupSubjects(db, messages.filter((m) => isGroupAddress(m.phone)).map((m) => ({ session: m.session, id: m.phone })))
}

/** The audit log, one message's timeline, Resend, Cancel, Revoke, and stored images. */
export function messagePages(shared: DashboardShared) {
  const app = new Hono<DashboardEnv>()

  app.get('/messages', async (c) => {
    const query = singleQuery(c)
    const { form, filter } = parseFilters(query)
    const before = parseId(query.before)
    const hasErrors = Object.keys(form.errors).length > 0
    const rows = hasErrors
      ? []
      : await listMessages(c.get('db'), { ...filter, ...(before !== null ? { beforeId: before } : {}), limit: PAGE_SIZE + 1 })
    const messages = rows.slice(0, PAGE_SIZE)
    const nextBefore = rows.length > PAGE_SIZE ? messages[messages.length - 1]!.id : null
    const sessionNames = (await listSessions(c.get('db'))).map((s) => s.name)
    const url = new URL(c.req.url)
    return c.html(
      <MessagesPage
        page={pageOf(shared, c)}
        filters={form}
        sessionNames={sessionNames}
        messages={messages}
        media={await mediaOf(c.get('db'), messages)}
        subjects={await subjectsOf(c.get('db'), messages)}
        nextBefore={nextBefore}
        isFirstPage={before === null}
        notice={noticeFrom(query)}
        self={`${shared.base}/messages${url.search}`}
      />,
      hasErrors ? 422 : 200,
    )
  })

  app.get('/messages/:id', async (c) => {
    const id = parseId(c.req.param('id'))
    const message = id === null ? null : await getMessage(c.get('db'), id)
    if (!message) return notFoundPage(shared, c, `There is no message #${c.req.param('id')}. It may have been pruned after the retention period.`)
    const media = message.mediaId === null ? undefined : await getMediaInfo(c.get('db'), message.mediaId)
    return c.html(
      <MessageDetailPage page={pageOf(shared, c)} message={message} media={media} subjects={await subjectsOf(c.get('db'), [message])} notice={noticeFrom(singleQuery(c))} />,
    )
  })

  /** Back to the page the button was on (or the message's own), with the outcome for its notice. */
  const answer = (c: DashboardContext, id: number, done: string, extra: Record<string, string> = {}) => {
    const target = safeReturn(shared.base, field(c.var.form, 'back'), `${shared.base}/messages/${id}`)
    const url = new URL(target, 'http://x')
    url.searchParams.set('done', done)
    url.searchParams.set('id', String(id))
    for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v)
    return c.redirect(`${url.pathname}${url.search}`, 303)
  }

  app.post('/messages/:id/resend', async (c) => {
    const id = parseId(c.req.param('id'))
    if (id === null) return notFoundPage(shared, c, 'There is no such message.')
    const result = await resendMessage(c.get('db'), id)
    return answer(c, id, result === 'ok' ? 'resent' : result === 'wrong_status' ? 'not-resendable' : 'missing')
  })

  // The API's own transitions (POST /api/messages/:id/cancel and /revoke), with their outcomes as notices.
  app.post('/messages/:id/cancel', async (c) => {
    const id = parseId(c.req.param('id'))
    if (id === null) return notFoundPage(shared, c, 'There is no such message.')
    const result = await cancelMessage(c.get('db'), id)
    return answer(c, id, result.kind === 'cancelled' ? 'cancelled' : result.kind === 'not_cancellable' ? 'not-cancellable' : 'missing')
  })

  app.post('/messages/:id/revoke', async (c) => {
    const id = parseId(c.req.param('id'))
    if (id === null) return notFoundPage(shared, c, 'There is no such message.')
    const result = await requestRevoke(c.get('db'), id)
    if (result.kind === 'queued') return answer(c, id, 'revoke-queued', { revoke: String(result.revokeId) })
    const done = { not_found: 'missing', already_revoked: 'already-revoked', too_late: 'revoke-too-late', not_revocable: 'not-revocable' } as const
    return answer(c, id, done[result.kind])
  })

  // Image previews only. Documents, audio and video are not served at all: the dashboard has no use for them (the
  // recipient gets them on the phone), a 64 MB file would be assembled in memory for one request (too much on
  // Workers), and any non-image served inline from this origin is a risk. The type is checked before any byte is read.
  app.get('/media/:id', async (c) => {
    const id = parseId(c.req.param('id'))
    const db = c.get('db')
    const info = id === null ? null : await getMediaInfo(db, id)
    // Only the four types the API accepts for images (read from magic bytes at upload), never anything a browser could run.
    if (!info || !/^image\/(jpeg|png|gif|webp)$/.test(info.mime)) {
      return notFoundPage(shared, c, info ? 'Only images are previewed here; documents, audio and video are not served by the dashboard.' : 'This image is no longer stored (media is pruned after the retention period).')
    }
    const media = await getMedia(db, info.id)
    if (!media) return notFoundPage(shared, c, 'This image is no longer stored (media is pruned after the retention period).')
    return c.body(media.bytes as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': media.mime,
      'Cache-Control': 'private, max-age=3600',
      'Content-Security-Policy': "default-src 'none'",
    })
  })

  return app
}
