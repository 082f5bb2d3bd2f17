import { Hono } from 'hono'
import { getMessage, listMessages } from '../../db/queries/messages.js'
import { resendMessage } from '../../db/lifecycle/resend.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { formatMessage } from '../format.js'
import { singleQuery } from '../query.js'
import type { Schemas } from '../schemas.js'
import { parse } from '../schema.js'

function unknownMessage(id: number): ApiError {
  return new ApiError(404, 'unknown_message', `Message ${id} does not exist (sent messages are pruned after the retention period)`)
}

/** `POST /api/resend/:id`, `GET /api/messages`, `GET /api/messages/:id`. */
export function messageRoutes({ schemas }: { schemas: Schemas }) {
  const app = new Hono<AppEnv>()

  app.post('/resend/:id', async (c) => {
    const id = parse(schemas.messageId, c.req.param('id'), 'id')
    const result = await resendMessage(c.get('db'), id)
    if (result === 'not_found') throw unknownMessage(id)
    if (result === 'wrong_status') {
      const current = await getMessage(c.get('db'), id)
      throw new ApiError(
        409,
        'not_resendable',
        `Message ${id} is ${current?.status ?? 'not resendable'}; only failed or opted_out messages can be resent`,
      )
    }
    return c.json({ success: true })
  })

  app.get('/messages', async (c) => {
    const q = parse(schemas.messagesQuery, singleQuery(c), '')
    // One extra row tells whether another page exists without a COUNT.
    const rows = await listMessages(c.get('db'), {
      status: q.status, session: q.session, phone: q.phone, since: q.since, until: q.until,
      beforeId: q.cursor, limit: q.limit + 1,
    })
    const page = rows.slice(0, q.limit)
    const next = rows.length > q.limit ? String(page[page.length - 1]!.id) : null
    return c.json({ messages: page.map(formatMessage), next })
  })

  app.get('/messages/:id', async (c) => {
    const id = parse(schemas.messageId, c.req.param('id'), 'id')
    const message = await getMessage(c.get('db'), id)
    if (!message) throw unknownMessage(id)
    return c.json(formatMessage(message))
  })

  return app
}
