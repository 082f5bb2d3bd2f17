import { Hono } from '../hono-app.js'
import { UniqueViolationError, type Queryable } from '../../db/driver.js'
import { enqueueMessage, enqueueMessages, type EnqueueInput, type EnqueueResult } from '../../db/lifecycle/enqueue.js'
import { findMessageByKey, findMessagesByKeys } from '../../db/queries/messages.js'
import { BATCH_VALUES_PER_ITEM, JSON_SHAPE, readJson } from '../body.js'
import type { ApiConfig } from '../config.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { checkRecipient, recipientOf } from '../recipient.js'
import { batchItemKey, idempotencyConflict, idempotencyKey } from '../idempotency.js'
import { assertReplyable } from '../reply-to.js'
import type { RouteBook } from '../route-book.js'
import { sendAnswer, type Schemas } from '../schemas.js'
import { batchHash, captionOrNull, contactDetails, detailsSend, locationDetails, mediaReuseSeconds, textSend } from '../send-request.js'
import { BATCH_MAX_URLS, type BatchItem } from '../kind-schemas.js'
import { fetchKindFile, mediaKindRules, type AcceptedFile, type MediaRuntime, type SendFields } from './send-media.js'
import { findReusableMedia, insertMedia } from '../../db/queries/media.js'
import { sha256Hex } from '../idempotency.js'
import type { ContactCard, Location, MessageDetails } from '../../db/types.js'
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
  /** What the runtime offers the files of batch items (DNS, ffmpeg): api/routes/send-media.ts. */
  runtime?: MediaRuntime
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

type StoredFile = AcceptedFile['media'] & { sha256: string }
interface BatchInput {
  input: EnqueueInput
  file?: StoredFile
}

/** The details of a location or contact item, as the single routes store them. */
function structuredDetails(m: BatchItem): MessageDetails {
  if (m.type === 'location') return locationDetails(m as BatchItem & Location)
  return contactDetails((m as BatchItem & { contact: ContactCard }).contact)
}

/** Runs an item's checks; a refusal names the item (`messages[3].url: …`), as the schema's own errors do. */
async function atItem<T>(index: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (!(err instanceof ApiError)) throw err
    const at = (path: string) => `messages[${index}]${path ? `.${path}` : ''}`
    throw new ApiError(err.status, err.code, `messages[${index}].${err.message}`, err.errors ? { errors: err.errors.map((e) => ({ ...e, path: at(e.path) })) } : undefined)
  }
}

/** `POST /api/send`, `/api/send-batch`, `/api/send-location`, `/api/send-contact` (files: routes/send-media.ts). */
export function sendRoutes({ config, schemas, gate, enqueueSend = insertOne, book, runtime = {} }: SendRoutesOptions) {
  const app = new Hono<AppEnv>()
  const fileKinds = mediaKindRules(config, schemas, runtime)
  // A batch of the most items, each with extras, passes; a body of a million tiny arrays is refused unparsed.
  const batchShape = { maxDepth: JSON_SHAPE.maxDepth, maxValues: config.batchMaxItems * BATCH_VALUES_PER_ITEM + JSON_SHAPE.maxValues }

  book.serve(app, '/api', {
    method: 'post', path: '/api/send', operationId: 'sendText', tag: 'Sending', summary: 'Queue a text message', idempotent: true,
    json: { schema: schemas.sendBody }, ok: sendAnswer, okExample: { success: true, message_id: 42 }, errors: [400, 404, 409, 413, 415],
  }, async (c, { body }) => {
    const db = c.get('db')
    const key = idempotencyKey(c)
    checkRecipient(body)
    await gate.assertSendable(db, body.session)
    const phone = await recipientOf(db, body.session, body)
    await assertReplyable(db, body.reply_to, body.session)
    const input = await textSend({ session: body.session, phone, message: body.message, sendAt: body.send_at, replyTo: body.reply_to }, key)
    if (key) return c.json(answerFor(await enqueueMessage(db, input)))
    return c.json({ success: true, message_id: await enqueueSend(input, db) })
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/send-location', operationId: 'sendLocation', tag: 'Sending', summary: 'Queue a location', idempotent: true,
    description: 'A pin the recipient can open in their maps app, with an optional name and address.',
    json: { schema: schemas.sendLocationBody }, ok: sendAnswer, okExample: { success: true, message_id: 46 }, errors: [400, 404, 409, 413, 415],
  }, async (c, { body }) => {
    const db = c.get('db')
    checkRecipient(body)
    await gate.assertSendable(db, body.session)
    const phone = await recipientOf(db, body.session, body)
    await assertReplyable(db, body.reply_to, body.session)
    const input = await detailsSend('location', { session: body.session, phone, details: locationDetails(body), sendAt: body.send_at, replyTo: body.reply_to }, idempotencyKey(c))
    return c.json(answerFor(await enqueueMessage(db, input)))
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/send-contact', operationId: 'sendContact', tag: 'Sending', summary: 'Queue a contact card', idempotent: true,
    description: 'Sent as a vCard the recipient can save: a name, 1–10 phone numbers, optionally an e-mail address and a company.',
    json: { schema: schemas.sendContactBody }, ok: sendAnswer, okExample: { success: true, message_id: 47 }, errors: [400, 404, 409, 413, 415],
  }, async (c, { body }) => {
    const db = c.get('db')
    checkRecipient(body)
    await gate.assertSendable(db, body.session)
    const phone = await recipientOf(db, body.session, body)
    await assertReplyable(db, body.reply_to, body.session)
    const input = await detailsSend('contact', { session: body.session, phone, details: contactDetails(body.contact), sendAt: body.send_at, replyTo: body.reply_to }, idempotencyKey(c))
    return c.json(answerFor(await enqueueMessage(db, input)))
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/send-batch', operationId: 'sendBatch', tag: 'Sending', summary: `Queue up to ${config.batchMaxItems} messages at once`, idempotent: true,
    description: `Validated all-or-nothing (an error names the item index) and written in one transaction; ids come back in order. Each item is a text (\`message\`) unless its \`type\` says location, contact, image, document, video or audio; files are fetched from their \`url\` (at most ${BATCH_MAX_URLS} a batch).`,
    json: { schema: schemas.sendBatchBody, read: (c) => readJson(c.req.raw, config.batchBodyLimit, { shape: batchShape }) },
    ok: { type: 'object', properties: { success: { const: true }, message_ids: { type: 'array', items: { type: 'integer' } } } },
    okExample: { success: true, message_ids: [44, 45] }, errors: [400, 404, 409, 413, 415],
  }, async (c, { body: { messages, send_at: batchSendAt } }) => {
    const db = c.get('db')
    const key = idempotencyKey(c)
    const firstIndex = new Map<string, number>()
    messages.forEach((m, i) => {
      if (!firstIndex.has(m.session as string)) firstIndex.set(m.session as string, i)
    })
    for (const [session, index] of firstIndex) await sendableOrIndexed(gate, db, session, index)
    const urls = messages.filter((m) => typeof m.url === 'string').length
    if (urls > BATCH_MAX_URLS) {
      throw new ApiError(413, 'too_many_urls', `messages: ${urls} items name a url; a batch may fetch at most ${BATCH_MAX_URLS} files (send the rest in further batches)`)
    }
    const items: BatchInput[] = []
    for (const [i, m] of messages.entries()) items.push(await atItem(i, () => batchInput(m, batchSendAt ?? null, db, c.req.raw.signal)))
    const inputs = items.map((item) => item.input)
    const write = (rows: EnqueueInput[]) => (items.some((item) => item.file)
      ? db.transaction(async (tx) => {
        for (const [i, item] of items.entries()) if (item.file) rows[i] = { ...rows[i]!, mediaId: await storeMedia(tx, item.file) }
        return enqueueMessages(tx, rows)
      })
      : enqueueMessages(db, rows))
    if (!key) return c.json({ success: true, message_ids: await write(inputs) })

    const hash = await batchHash(inputs, items.map((item) => item.file?.sha256 ?? null))
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
      const ids = await write(inputs.map((m, i) => ({ ...m, idempotencyKey: keys[i], requestHash: hash })))
      return c.json({ success: true, message_ids: ids })
    } catch (err) {
      // A concurrent twin committed first: the whole statement was refused, answer with its ids.
      if (!(err instanceof UniqueViolationError)) throw err
      const ids = await earlier()
      if (!ids) throw err
      return c.json({ success: true, message_ids: ids })
    }
  })

  /** One checked batch item as a row to insert, with its file (fetched from its url and checked) when it has one. */
  async function batchInput(m: BatchItem, batchSendAt: Date | null, db: Queryable, signal: AbortSignal): Promise<BatchInput> {
    const f = m as BatchItem & SendFields & { message?: string; url?: string }
    checkRecipient(f)
    const phone = await recipientOf(db, f.session, f)
    await assertReplyable(db, f.reply_to, f.session)
    const common = { session: f.session, phone, sendAt: f.send_at ?? batchSendAt, replyTo: f.reply_to ?? null }
    switch (m.type) {
      case 'text':
        return { input: { ...common, type: 'text', body: f.message! } }
      case 'location':
      case 'contact':
        return { input: (await detailsSend(m.type, { ...common, details: structuredDetails(m) })) }
      default: {
        const rules = fileKinds[m.type]
        const accepted = await rules.accept(await fetchKindFile(f.url!, rules, config, runtime, signal), f)
        const caption = m.type === 'audio' ? null : captionOrNull(f.caption)
        return {
          input: { ...common, type: m.type, body: caption, details: accepted.details },
          file: { ...accepted.media, sha256: await sha256Hex(accepted.media.bytes) },
        }
      }
    }
  }

  /** Stores a batch item's file, or reuses an identical recent one (the rule of the single-file routes). */
  async function storeMedia(tx: Queryable, file: StoredFile): Promise<number> {
    return (await findReusableMedia(tx, file.sha256, file.mime, mediaReuseSeconds(config)))
      ?? insertMedia(tx, { bytes: file.bytes, mime: file.mime, width: file.width ?? null, height: file.height ?? null, sha256: file.sha256 })
  }

  return app
}
