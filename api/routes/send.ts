import { Hono } from 'hono'
import { UniqueViolationError, type Queryable } from '../../db/driver.js'
import { enqueueMessage, enqueueMessages, type EnqueueInput, type EnqueueResult } from '../../db/lifecycle/enqueue.js'
import { findMessageByKey, findMessagesByKeys } from '../../db/queries/messages.js'
import { BATCH_VALUES_PER_ITEM, JSON_SHAPE, readJson } from '../body.js'
import type { ApiConfig } from '../config.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { batchItemKey, idempotencyConflict, idempotencyKey } from '../idempotency.js'
import { assertReplyable } from '../reply-to.js'
import type { RouteBook } from '../route-book.js'
import { sendAnswer, type Schemas } from '../schemas.js'
import { batchHash, detailsSend, textSend } from '../send-request.js'
import type { SessionGate } from '../session-gate.js'

/**
 * Writes one `POST /api/send` without an Idempotency-Key and resolves with its message id. The entry chooses:
 * Node passes its group commit (api/coalescer.ts: concurrent sends share one multi-row INSERT on the pool),
 * Workers the default, one INSERT on the request's own connection.
 */
export type EnqueueSend = (input: EnqueueInput, db: Queryable) => Promise<number>

/** One INSERT per send, on the request's database. */
export const insertOne: EnqueueSend = async (input, db) => (await enqueueMessages(db, [input]))[0]!

export interface SendRoutesOptions {
  config: ApiConfig
  schemas: Schemas
  gate: SessionGate
  /** How a single send without a key is written (default `insertOne`). */
  enqueueSend?: EnqueueSend
  book: RouteBook
}

function answerFor(result: EnqueueResult): { success: true; message_id: number } {
  if (result.kind === 'conflict') throw idempotencyConflict()
  return { success: true, message_id: result.id }
}

async function sendableOrIndexed(gate: SessionGate, db: Queryable, session: string, index: number | null): Promise<void> {
  try {
    await gate.assertSendable(db, session)
  } catch (err) {
    if (err instanceof ApiError && index !== null) throw new ApiError(err.status, err.code, `messages[${index}].session: ${err.message}`)
    throw err
  }
}

/** `POST /api/send`, `/api/send-batch`, `/api/send-location`, `/api/send-contact` (files: routes/send-media.ts). */
export function sendRoutes({ config, schemas, gate, enqueueSend = insertOne, book }: SendRoutesOptions) {
  const app = new Hono<AppEnv>()
  // A batch of the most items, each with extras, passes; a body of a million tiny arrays is refused unparsed.
  const batchShape = { maxDepth: JSON_SHAPE.maxDepth, maxValues: config.batchMaxItems * BATCH_VALUES_PER_ITEM + JSON_SHAPE.maxValues }

  book.serve(app, '/api', {
    method: 'post', path: '/api/send', operationId: 'sendText', tag: 'Sending', summary: 'Queue a text message', idempotent: true,
    json: { schema: schemas.sendBody }, ok: sendAnswer, okExample: { success: true, message_id: 42 }, errors: [400, 404, 409, 413, 415],
  }, async (c, { body }) => {
    const db = c.get('db')
    const key = idempotencyKey(c)
    await gate.assertSendable(db, body.session)
    await assertReplyable(db, body.reply_to, body.session)
    const input = await textSend({ session: body.session, phone: body.phone, message: body.message, sendAt: body.send_at, replyTo: body.reply_to }, key)
    if (key) return c.json(answerFor(await enqueueMessage(db, input)))
    return c.json({ success: true, message_id: await enqueueSend(input, db) })
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/send-location', operationId: 'sendLocation', tag: 'Sending', summary: 'Queue a location', idempotent: true,
    description: 'A pin the recipient can open in their maps app, with an optional name and address.',
    json: { schema: schemas.sendLocationBody }, ok: sendAnswer, okExample: { success: true, message_id: 46 }, errors: [400, 404, 409, 413, 415],
  }, async (c, { body }) => {
    const db = c.get('db')
    await gate.assertSendable(db, body.session)
    await assertReplyable(db, body.reply_to, body.session)
    const { latitude, longitude, name, address } = body
    const location = { latitude, longitude, ...(name === undefined ? {} : { name }), ...(address === undefined ? {} : { address }) }
    const input = await detailsSend('location', { session: body.session, phone: body.phone, details: { location }, sendAt: body.send_at, replyTo: body.reply_to }, idempotencyKey(c))
    return c.json(answerFor(await enqueueMessage(db, input)))
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/send-contact', operationId: 'sendContact', tag: 'Sending', summary: 'Queue a contact card', idempotent: true,
    description: 'Sent as a vCard the recipient can save: a name, 1–10 phone numbers, optionally an e-mail address and a company.',
    json: { schema: schemas.sendContactBody }, ok: sendAnswer, okExample: { success: true, message_id: 47 }, errors: [400, 404, 409, 413, 415],
  }, async (c, { body }) => {
    const db = c.get('db')
    await gate.assertSendable(db, body.session)
    await assertReplyable(db, body.reply_to, body.session)
    const { name, phones, email, organization } = body.contact
    const contact = { name, phones, ...(email === undefined ? {} : { email }), ...(organization === undefined ? {} : { organization }) }
    const input = await detailsSend('contact', { session: body.session, phone: body.phone, details: { contact }, sendAt: body.send_at, replyTo: body.reply_to }, idempotencyKey(c))
    return c.json(answerFor(await enqueueMessage(db, input)))
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/send-batch', operationId: 'sendBatch', tag: 'Sending', summary: `Queue up to ${config.batchMaxItems} text messages at once`, idempotent: true,
    description: 'Validated all-or-nothing (an error names the item index) and written in one statement; ids come back in order.',
    json: { schema: schemas.sendBatchBody, read: (c) => readJson(c.req.raw, config.batchBodyLimit, { shape: batchShape }) },
    ok: { type: 'object', properties: { success: { const: true }, message_ids: { type: 'array', items: { type: 'integer' } } } },
    okExample: { success: true, message_ids: [44, 45] }, errors: [400, 404, 409, 413, 415],
  }, async (c, { body: { messages, send_at: batchSendAt } }) => {
    const db = c.get('db')
    const key = idempotencyKey(c)
    const firstIndex = new Map<string, number>()
    messages.forEach((m, i) => {
      if (!firstIndex.has(m.session)) firstIndex.set(m.session, i)
    })
    for (const [session, index] of firstIndex) await sendableOrIndexed(gate, db, session, index)
    const inputs: EnqueueInput[] = messages.map((m) => ({
      session: m.session, phone: m.phone, type: 'text', body: m.message, sendAt: m.send_at ?? batchSendAt ?? null,
    }))
    if (!key) return c.json({ success: true, message_ids: await enqueueMessages(db, inputs) })

    const hash = await batchHash(inputs)
    const keys = inputs.map((_, i) => batchItemKey(key, i))
    const earlier = async (): Promise<number[] | null> => {
      const first = await findMessageByKey(db, keys[0]!)
      if (!first) return null
      if (first.requestHash !== hash) throw idempotencyConflict()
      const found = await findMessagesByKeys(db, keys)
      return keys.map((k) => {
        const row = found.get(k)
        if (!row || row.requestHash !== hash) throw idempotencyConflict()
        return row.id
      })
    }
    const repeat = await earlier()
    if (repeat) return c.json({ success: true, message_ids: repeat })
    try {
      const ids = await enqueueMessages(db, inputs.map((m, i) => ({ ...m, idempotencyKey: keys[i], requestHash: hash })))
      return c.json({ success: true, message_ids: ids })
    } catch (err) {
      // A concurrent twin committed first: the whole statement was refused, answer with its ids.
      if (!(err instanceof UniqueViolationError)) throw err
      const ids = await earlier()
      if (!ids) throw err
      return c.json({ success: true, message_ids: ids })
    }
  })

  return app
}
