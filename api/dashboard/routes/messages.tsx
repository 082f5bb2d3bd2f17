import { Hono } from 'hono'
import { getMedia } from '../../../db/queries/media.js'
import { getMessage, listMessages, type MessageFilter } from '../../../db/queries/messages.js'
import { resendMessage } from '../../../db/lifecycle/resend.js'
import { listSessions } from '../../../db/queries/sessions.js'
import { MESSAGE_STATES, type MessageStatus } from '../../../db/types.js'
import { phoneSchema } from '../../phone.js'
import { sessionNameSchema } from '../../schemas.js'
import { field, inlineMessage, pageOf, safeReturn, type DashboardEnv, type DashboardShared } from '../context.js'
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

/** The audit log, one message's timeline, Resend, and stored images. */
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
    return c.html(<MessageDetailPage page={pageOf(shared, c)} message={message} notice={noticeFrom(singleQuery(c))} />)
  })

  app.post('/messages/:id/resend', async (c) => {
    const id = parseId(c.req.param('id'))
    if (id === null) return notFoundPage(shared, c, 'There is no such message.')
    const result = await resendMessage(c.get('db'), id)
    const done = result === 'ok' ? 'resent' : result === 'wrong_status' ? 'not-resendable' : 'missing'
    const target = safeReturn(shared.base, field(c.var.form, 'back'), `${shared.base}/messages/${id}`)
    const url = new URL(target, 'http://x')
    url.searchParams.set('done', done)
    url.searchParams.set('id', String(id))
    return c.redirect(`${url.pathname}${url.search}`, 303)
  })

  app.get('/media/:id', async (c) => {
    const id = parseId(c.req.param('id'))
    const media = id === null ? null : await getMedia(c.get('db'), id)
    // Only the four types the API accepts (read from magic bytes at upload), never anything a browser could run.
    if (!media || !/^image\/(jpeg|png|gif|webp)$/.test(media.mime)) return notFoundPage(shared, c, 'This image is no longer stored (media is pruned after the retention period).')
    return c.body(media.bytes as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': media.mime,
      'Cache-Control': 'private, max-age=3600',
      'Content-Security-Policy': "default-src 'none'",
    })
  })

  return app
}
