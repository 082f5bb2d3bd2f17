import { Hono } from '../../hono-app.js'
import { getSession, listSessions } from '../../../db/queries/sessions.js'
import { DELIVERY_STATES, type DeliveryStatus, listDeliveries, replayDelivery } from '../../../db/queries/webhook-deliveries.js'
import { createWebhookWithinLimit, deleteWebhook, listWebhooks } from '../../../db/queries/webhook-endpoints.js'
import { ApiError } from '../../errors.js'
import { newWebhookSecret } from '../../routes/webhooks.js'
import { MAX_WEBHOOKS } from '../../webhook-schemas.js'
import { field, inlineMessage, pageOf, safeReturn, type DashboardContext, type DashboardEnv, type DashboardShared } from '../context.js'
import { parseId } from '../format.js'
import type { Notice } from '../views/layout.js'
import { WebhooksPage, type WebhookForm } from '../views/webhooks.js'
import { singleQuery } from '../../query.js'
import { parse, type Infer } from '../../validation.js'

/** The form's fields, which a field problem of the API's schema is shown beside. */
const FORM_FIELDS = ['url', 'events', 'session', 'secret'] as const

const PAGE_SIZE = 50
const isStatus = (v: string | undefined): v is DeliveryStatus => v !== undefined && (DELIVERY_STATES as readonly string[]).includes(v)

function noticeFrom(query: Record<string, string>): Notice | null {
  const id = parseId(query.id)
  if (id === null) return null
  switch (query.done) {
    case 'deleted':
      return { kind: 'ok', text: `Webhook #${id} and its delivery history are deleted.` }
    case 'replayed':
      return { kind: 'ok', text: `Delivery #${id} is queued again (same event id, a fresh 24 hours of retries).` }
    case 'not-replayable':
      return { kind: 'warn', text: `Delivery #${id} is not dead (any more), so there is nothing to replay.` }
    case 'missing':
      return { kind: 'bad', text: `#${id} does not exist.` }
    default:
      return null
  }
}

/** Webhooks: endpoints (add, delete) and recent deliveries (replay a dead one). */
export function webhookPages(shared: DashboardShared) {
  const app = new Hono<DashboardEnv>()
  const base = () => `${shared.base}/webhooks`

  async function render(c: DashboardContext, form: WebhookForm, options: { status?: 200 | 409 | 422; notice?: Notice | null } = {}) {
    const query = singleQuery(c)
    const statusFilter = isStatus(query.status) ? query.status : ''
    const before = parseId(query.before) ?? undefined
    const db = c.get('db')
    const rows = await listDeliveries(db, { ...(statusFilter ? { status: statusFilter } : {}), ...(before ? { beforeId: before } : {}), limit: PAGE_SIZE + 1 })
    const deliveries = rows.slice(0, PAGE_SIZE)
    const url = new URL(c.req.url)
    return c.html(
      <WebhooksPage
        page={pageOf(shared, c)}
        hooks={await listWebhooks(db)}
        sessions={await listSessions(db)}
        deliveries={deliveries}
        statusFilter={statusFilter}
        olderThan={rows.length > PAGE_SIZE ? deliveries[deliveries.length - 1]!.id : null}
        form={form}
        notice={options.notice ?? noticeFrom(query)}
        self={`${base()}${url.search}`}
      />,
      options.status ?? 200,
    )
  }

  app.get('/', (c) => render(c, { url: '', events: ['message.sent', 'message.failed'], session: '', errors: {} }))

  app.post('/', async (c) => {
    const f = c.var.form
    const form: WebhookForm = {
      url: field(f, 'url') ?? '',
      events: f.getAll('events').filter((v): v is string => typeof v === 'string'),
      session: field(f, 'session') ?? '',
      errors: {},
    }
    const secretField = (field(f, 'secret') ?? '').trim()
    let body: Infer<typeof shared.schemas.createWebhookBody>
    try {
      body = parse(
        shared.schemas.createWebhookBody,
        { url: form.url, events: form.events, session: form.session || undefined, secret: secretField || undefined },
        '',
      )
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      // Every field problem beside its field (`events[2]` beside the event boxes); the first one wins per field.
      for (const problem of err.errors ?? [{ path: '', code: err.code, message: err.message }]) {
        const which = FORM_FIELDS.find((k) => problem.path === k || problem.path.startsWith(`${k}[`))
        form.errors[which ?? 'form'] ??= inlineMessage(which ? problem.message : err.message)
      }
      return render(c, form, { status: 422 })
    }
    const db = c.get('db')
    if (body.session) {
      const s = await getSession(db, body.session)
      if (!s || s.deleteRequestedAt) {
        form.errors.session = `Session "${body.session}" does not exist`
        return render(c, form, { status: 422 })
      }
    }
    const secret = body.secret ?? newWebhookSecret()
    const hook = await createWebhookWithinLimit(db, { url: body.url, events: body.events, session: body.session ?? null, secret }, MAX_WEBHOOKS)
    if (hook === 'limit_reached') {
      form.errors.form = `There are already ${MAX_WEBHOOKS} webhooks; delete one first`
      return render(c, form, { status: 409 })
    }
    // The secret is shown on this answer only (no redirect, so it is not in any URL or history entry).
    return render(c, { url: '', events: ['message.sent', 'message.failed'], session: '', errors: {} }, {
      notice: {
        kind: 'ok',
        text: (
          <span>
            Webhook #{hook.id} added. Its signing secret is <code class="mono" data-field="secret">{secret}</code>. Copy it now: it is not shown again.
          </span>
        ),
      },
    })
  })

  app.post('/endpoints/:id/delete', async (c) => {
    const id = parseId(c.req.param('id'))
    if (id === null) throw new ApiError(400, 'invalid_id', 'Not a webhook number')
    const done = (await deleteWebhook(c.get('db'), id)) ? 'deleted' : 'missing'
    return c.redirect(`${base()}?done=${done}&id=${id}`, 303)
  })

  app.post('/deliveries/:id/replay', async (c) => {
    const id = parseId(c.req.param('id'))
    if (id === null) throw new ApiError(400, 'invalid_id', 'Not a delivery number')
    const result = await replayDelivery(c.get('db'), id)
    const done = result === 'ok' ? 'replayed' : result === 'wrong_status' ? 'not-replayable' : 'missing'
    const target = new URL(safeReturn(shared.base, field(c.var.form, 'back'), base()), 'http://x')
    for (const k of ['done', 'id']) target.searchParams.delete(k)
    target.searchParams.set('done', done)
    target.searchParams.set('id', String(id))
    return c.redirect(`${target.pathname}${target.search}`, 303)
  })

  return app
}
