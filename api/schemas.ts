/**
 * One definition per request body, query and answer. The route declarations (`routes/*.ts`) check requests with
 * these, and `openapi.ts` publishes the same objects, so the reference cannot drift from the checks.
 * Later fields (`send_at`, webhooks…) are added here as one more `optional(...)` line.
 */
import { isValidTimeZone, parseQuietHours } from '../db/local-time.js'
import { checkProxyUrl, PROXY_MAX_LENGTH } from '../db/shared/proxy.js'
import { DEFAULT_SESSION, INBOUND_TYPES, MESSAGE_STATES, MESSAGE_TYPES, SESSION_NAME_PATTERN, SESSION_STATES } from '../db/types.js'
import type { ApiConfig } from './config.js'
import { cursorSchema, rowIdSchema } from './listing-schemas.js'
import { groupIdSchema, phoneSchema } from './phone.js'
export { groupIdSchema }
import { createWebhookSchemas } from './webhook-schemas.js'
import { BATCH_MAX_URLS, batchItemSchema, createKindSchemas, replyToField } from './kind-schemas.js'
import * as v from 'valibot'
import {
  array, custom, describe, FieldProblem, integer, MAX_FIELD_ERRORS, object, oneOf, optional, string,
  type Infer, type JsonSchema, type Schema,
} from './validation.js'

export const SESSION_NAME_HINT = 'letters, digits, dash or underscore only, 1–40 characters (e.g. "support")'

export const sessionNameSchema = describe(
  string({ code: 'invalid_session_name', pattern: SESSION_NAME_PATTERN, patternHint: SESSION_NAME_HINT }),
  'Session name: letters, digits, dash and underscore, at most 40 characters.',
  'support',
)

const sessionField = describe(optional(sessionNameSchema, DEFAULT_SESSION), 'Session (WhatsApp number) to send from.', DEFAULT_SESSION)

/**
 * True when the date and time written at the start of `v` exist. `Date` rolls impossible ones over silently
 * (`2025-02-30` is 2 March, `T24:00` the next day), so a filter or a schedule would quietly mean another time.
 */
function isRealDateTime(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?/.exec(v)
  if (!m) return false
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x))) as number[]
  if (month! < 1 || month! > 12 || day! < 1 || hour > 23 || minute > 59 || second > 59) return false
  const lastDay = new Date(0)
  lastDay.setUTCFullYear(year!, month, 0)
  if (day! > lastDay.getUTCDate()) return false
  const zone = /([+-])(\d{2}):?(\d{2})$/.exec(v.slice(10))
  return !zone || (Number(zone[2]) <= 23 && Number(zone[3]) <= 59)
}

function notARealTime(code: string, v: string) {
  return new FieldProblem(code, `is not a real date and time (got ${JSON.stringify(v.slice(0, 40))}): the month, day, hour, minute or zone is out of range`)
}

/** `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` (UTC, as the API prints times) or ISO 8601 with a zone. */
const timestampSchema: Schema<Date> = custom(
  {
    type: 'string',
    description: 'UTC time as "YYYY-MM-DD HH:MM:SS" (the format the API prints), "YYYY-MM-DD", or ISO 8601 with a zone.',
    examples: ['2025-05-11 14:00:00'],
  },
  (value) => {
    if (typeof value !== 'string') throw new FieldProblem('invalid_timestamp', 'must be a time such as "2025-05-11 14:00:00"')
    const v = value.trim()
    let iso: string | null = null
    if (/^\d{4}-\d{2}-\d{2}$/.test(v)) iso = `${v}T00:00:00Z`
    else if (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$/.test(v)) iso = `${v.replace(' ', 'T')}Z`
    else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/i.test(v)) iso = v
    if (iso && !isRealDateTime(v)) throw notARealTime('invalid_timestamp', v)
    const d = iso ? new Date(iso) : null
    if (!d || Number.isNaN(d.getTime())) {
      throw new FieldProblem('invalid_timestamp', `must be a UTC time such as "2025-05-11 14:00:00" or "2025-05-11T14:00:00Z" (got ${JSON.stringify(v.slice(0, 40))})`)
    }
    // Every engine stores these columns, but year 0 and 10000 are outside what Postgres accepts as a
    // parameter and MySQL's DATETIME range starts at 1000: keep filters to years anyone has messages in.
    const year = d.getUTCFullYear()
    if (year < 1970 || year > 9999) {
      throw new FieldProblem('invalid_timestamp', `must be between 1970-01-01 and 9999-12-31 (got ${JSON.stringify(v.slice(0, 40))})`)
    }
    return d
  },
)

/** How far ahead `send_at` may be. */
export const SEND_AT_MAX_AHEAD = 'one year'

/**
 * `send_at`: ISO 8601 with a zone (`Z` or `±HH:MM`), e.g. `2026-11-25T09:00:00+02:00`. Absent, null or in the past
 * means now (the database decides "past" with its own clock). More than a year ahead is refused with 422; the
 * bound is checked against this process's clock, which is close enough for a one-year limit.
 */
export function sendAtSchema(clock: () => number = Date.now): Schema<Date | undefined> {
  return describe(optional(custom(
    { type: 'string', format: 'date-time' },
    (value) => {
      if (typeof value !== 'string') throw new FieldProblem('invalid_send_at', 'must be an ISO 8601 time with its zone, e.g. "2026-11-25T09:00:00+02:00"')
      const v = value.trim()
      const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/i.test(v)
      if (ok && !isRealDateTime(v)) throw notARealTime('invalid_send_at', v)
      const d = ok ? new Date(v) : null
      if (!d || Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1970) {
        throw new FieldProblem('invalid_send_at', `must be an ISO 8601 time with its zone (Z or ±HH:MM), e.g. "2026-11-25T09:00:00+02:00" (got ${JSON.stringify(v.slice(0, 40))})`)
      }
      const limit = new Date(clock())
      limit.setUTCFullYear(limit.getUTCFullYear() + 1)
      if (d.getTime() > limit.getTime()) {
        throw new FieldProblem('send_at_too_far', `is more than ${SEND_AT_MAX_AHEAD} ahead; schedule it at most one year from now`, 422)
      }
      return d
    },
  )), 'Send no earlier than this time: ISO 8601 with its zone. Absent or past = now; at most one year ahead.', '2026-11-25T09:00:00+02:00')
}

/** A limit setting in a PATCH: an integer ≥ 0 (0 = off), null = back to the runner's default, absent = unchanged. */
function settingInt(code: string, max: number, description: string) {
  return v.optional(v.nullable(describe(integer({ code, min: 0, max }), description)))
}

/** A text limit setting: checked by `check`, null = default, absent = unchanged. */
function settingText(check: (v: string) => string, code: string, jsonSchema: JsonSchema) {
  return v.optional(v.nullable(custom({ ...jsonSchema, type: 'string' }, (value) => {
    if (typeof value !== 'string') throw new FieldProblem('invalid_type', 'must be a string or null')
    try {
      return check(value.trim())
    } catch (err) {
      throw new FieldProblem(code, (err as Error).message)
    }
  })))
}

/** `PATCH /api/sessions/:name`: the session's sending limits. */
export const sessionSettingsBody = object({
  daily_cap: settingInt('invalid_daily_cap', 100_000, 'Messages per local day (0 = no cap). The warm-up ramps up to it.'),
  warmup_start: settingInt('invalid_warmup_start', 100_000, 'Cap on the day a number is linked (0 = no warm-up).'),
  warmup_days: settingInt('invalid_warmup_days', 365, 'Days the warm-up takes to reach daily_cap (0 = no warm-up).'),
  first_contact_daily_cap: settingInt('invalid_first_contact_daily_cap', 100_000, 'Messages per local day to numbers that never wrote to this session (0 = no cap).'),
  circuit_breaker_failures: settingInt('invalid_circuit_breaker_failures', 1000, 'Consecutive send failures that pause the session (0 = off).'),
  quiet_hours: settingText((v) => {
    const w = parseQuietHours(v)
    return w ? v : 'off'
  }, 'invalid_quiet_hours', { description: 'Local time window with no sends, "22:00-08:00", or "off".', examples: ['22:00-08:00'] }),
  time_zone: settingText((v) => {
    if (!isValidTimeZone(v)) throw new Error(`must be an IANA time zone such as "Asia/Beirut" or "UTC" (got ${JSON.stringify(v.slice(0, 64))})`)
    return v
  }, 'invalid_time_zone', { description: 'IANA time zone of quiet hours and of the daily counters\' midnight.', examples: ['Asia/Beirut'] }),
  presence: settingText((v) => {
    if (v !== 'on' && v !== 'off') throw new Error(`must be "on", "off" or null (got ${JSON.stringify(v.slice(0, 20))})`)
    return v
  }, 'invalid_presence', { description: 'Show "typing…" ("recording…" before a voice note) to the recipient before each send: "on" or "off".', enum: ['on', 'off'], examples: ['off'] }),
  proxy: settingText((v) => checkProxyUrl(v).href, 'invalid_proxy', { description: 'Proxy of this number, e.g. socks5://user:pass@host:1080; null = none.', maxLength: PROXY_MAX_LENGTH }),
}, 'Sending limits of one session; omitted fields stay as they are, null returns a field to the runner default (.env).')

/** The page size and cursor of a keyset-paginated listing. */
const page = {
  limit: describe(optional(integer({ code: 'invalid_limit', min: 1, max: 500, fromString: true }), 50), 'Page size, 1–500.'),
  cursor: describe(optional(cursorSchema), 'The `next` value of the previous page.'),
}

/** Every request schema, built for one configuration (limits come from it). */
export function createSchemas(config: ApiConfig) {
  const messageText = describe(
    string({ code: 'invalid_message', notBlank: true, wellFormed: true, maxLength: config.messageMaxChars }),
    `Message text (Unicode, emoji, Arabic), at most ${config.messageMaxChars} characters.`,
    'Hello from the gateway!',
  )
  const sendAt = sendAtSchema()
  const sendBody = object({ phone: optional(phoneSchema), group: optional(groupIdSchema), message: messageText, session: sessionField, send_at: sendAt, reply_to: replyToField }, 'A text message to queue.')
  const kinds = createKindSchemas(config, { session: sessionField, send_at: sendAt })
  const batchItem = batchItemSchema({
    text: sendBody, location: kinds.sendLocationBody, contact: kinds.sendContactBody,
    image: kinds.sendImageUrl, document: kinds.sendDocumentUrl, video: kinds.sendVideoUrl, audio: kinds.sendAudioUrl,
  })
  return {
    sendBody,
    sendBatchBody: object({
      messages: array(batchItem, {
        minItems: 1,
        maxItems: config.batchMaxItems,
        tooMany: { status: 413, code: 'too_many_messages' },
      }),
      send_at: describe(sendAt, 'Default send_at for the items that carry none.'),
    }, `Up to ${config.batchMaxItems} messages of any kind (files by url, at most ${BATCH_MAX_URLS}), validated all-or-nothing and queued in one transaction.`),
    ...kinds,
    regenerateQrBody: object({ session: describe(optional(sessionNameSchema, DEFAULT_SESSION), 'Session to reconnect.', DEFAULT_SESSION) }),
    createSessionBody: object({ name: sessionNameSchema }),
    pairingCodeBody: object({ phone: describe(phoneSchema, 'The number to link, with country code (the phone that will enter the code).') }),
    sessionSettingsBody,
    statusQuery: object({ session: describe(optional(sessionNameSchema, DEFAULT_SESSION), 'Session to report.', DEFAULT_SESSION) }),
    messagesQuery: object({
      status: describe(optional(oneOf(MESSAGE_STATES, 'invalid_status')), 'Only messages in this state.'),
      session: describe(optional(sessionNameSchema), 'Only messages of this session.'),
      phone: describe(optional(phoneSchema), 'Only messages to this phone (normalized like `send`).'),
      group: describe(optional(groupIdSchema), 'Only messages to this group (its JID or numeric part); not with `phone`.'),
      since: describe(optional(timestampSchema), 'Created at or after this time (UTC).'),
      until: describe(optional(timestampSchema), 'Created before this time (UTC).'),
      ...page,
    }),
    inboundQuery: object({
      session: describe(optional(sessionNameSchema), 'Only messages received by this session.'),
      phone: describe(optional(phoneSchema), 'Only messages from this phone (normalized like `send`).'),
      type: describe(optional(oneOf(INBOUND_TYPES, 'invalid_inbound_type')), 'Only messages of this kind.'),
      since: describe(optional(timestampSchema), 'Received at or after this time (UTC).'),
      until: describe(optional(timestampSchema), 'Received before this time (UTC).'),
      ...page,
    }),
    messageId: rowIdSchema,
    ...createWebhookSchemas(config.webhookUrlPolicy, sessionNameSchema),
  }
}

export type Schemas = ReturnType<typeof createSchemas>
export type SendBody = Infer<Schemas['sendBody']>

/** The `session` field of a send, for a form that checks it on its own. */
export { sessionField }

/* ---------- answers (documentation only: the handlers build them with the format helpers) ---------- */

const nullable = (type: string, extra: JsonSchema = {}): JsonSchema => ({ type: [type, 'null'], ...extra })

export const sessionAnswer: JsonSchema = {
  type: 'object',
  required: ['name', 'status', 'phone', 'last_seen', 'qr_code', 'detail', 'qr'],
  properties: {
    name: { type: 'string', examples: ['default'] },
    status: { type: 'string', enum: [...SESSION_STATES] },
    phone: nullable('string', { description: 'The linked number, digits only.', examples: ['9611234567'] }),
    last_seen: nullable('string', { description: 'UTC, "YYYY-MM-DD HH:MM:SS".', examples: ['2025-05-11 14:00:00'] }),
    qr_code: nullable('string', { description: 'PNG data URL of the QR to scan while connecting.' }),
    detail: nullable('string', { description: 'Why the session is offline or paused (logged_out, restricted, conflict…).' }),
    qr: nullable('string', { description: 'Raw QR text while waiting for a scan, for clients that draw their own code.' }),
    proxy: nullable('string'),
  },
}

export const messageAnswer: JsonSchema = {
  type: 'object',
  required: ['id', 'session', 'phone', 'type', 'status', 'attempts', 'created_at'],
  properties: {
    id: { type: 'integer' },
    session: { type: 'string' },
    phone: nullable('string'),
    group: nullable('string', { description: 'The group JID of a message to a group (then phone is null).' }),
    type: { type: 'string', enum: [...MESSAGE_TYPES] },
    body: nullable('string', { description: 'Text, or the caption of an image, document or video.' }),
    media_id: nullable('integer'),
    status: { type: 'string', enum: [...MESSAGE_STATES] },
    attempts: { type: 'integer' },
    error: nullable('string'),
    wa_message_id: nullable('string', { description: 'WhatsApp message id, fixed at enqueue and reused on every retry.' }),
    created_at: { type: 'string', description: 'UTC, "YYYY-MM-DD HH:MM:SS".' },
    available_at: { type: 'string', description: 'Not sent before this time (UTC).' },
    send_at: nullable('string', { description: 'A scheduled send: the time it asked for (UTC); null if sent as soon as possible.' }),
    scheduled: { type: 'boolean', description: 'True when send_at was later than the time the message was queued.' },
    sent_at: nullable('string'),
    delivered_at: nullable('string'),
    read_at: nullable('string'),
    updated_at: { type: 'string' },
    file_name: nullable('string', { description: 'A document\'s file name as the recipient sees it.' }),
    ptt: nullable('boolean', { description: 'Audio: true for a voice note; null for other kinds.' }),
    location: nullable('object', { description: 'A location\'s latitude, longitude, name and address.' }),
    contact: nullable('object', { description: 'A contact card\'s name, phones, email and organization.' }),
    reply_to: nullable('integer', { description: 'The received message this one quotes.' }),
    revokes: nullable('integer', { description: 'For a revoke: the message it takes back.' }),
    revoked_at: nullable('string', { description: 'When the message was deleted for everyone (UTC).' }),
    media: nullable('object', { description: 'GET /api/messages/{id} only: the stored file\'s mimetype and size in bytes.' }),
  },
}

export const errorAnswer: JsonSchema = {
  type: 'object',
  required: ['success', 'error', 'code'],
  properties: {
    success: { const: false },
    error: { type: 'string', description: 'What is wrong and how to fix it.' },
    code: { type: 'string', description: 'Stable machine-readable code.' },
    errors: {
      type: 'array',
      maxItems: MAX_FIELD_ERRORS,
      description: 'Every field problem (path e.g. "messages[3].phone"); the first is `error` and `code`.',
      items: { type: 'object', required: ['path', 'code', 'message'], properties: { path: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } } },
    },
  },
}

export const successAnswer: JsonSchema = { type: 'object', required: ['success'], properties: { success: { const: true } } }

export const sendAnswer: JsonSchema = {
  type: 'object',
  required: ['success', 'message_id'],
  properties: { success: { const: true }, message_id: { type: 'integer', examples: [42] } },
}
