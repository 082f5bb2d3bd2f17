/**
 * The request schemas of the message kinds beyond text: media (image, document, video, audio — as a multipart upload
 * or as JSON with a `url`), locations and contact cards, and the `reply_to` every send takes. Built per configuration
 * like `createSchemas` (api/schemas.ts), whose send-at and session fields they share.
 */
import * as v from 'valibot'
import type { ApiConfig } from './config.js'
import { groupIdSchema, phoneSchema } from './phone.js'
import {
  array, custom, describe, FieldProblem, integer, object, optional, says, string, typeName, type Infer, type JsonSchema, type Schema,
} from './validation.js'

/** The kinds a `send-batch` item may be: `type` picks one, absent means text. */
export const BATCH_KINDS = ['text', 'location', 'contact', 'image', 'document', 'video', 'audio'] as const
export type BatchKind = (typeof BATCH_KINDS)[number]

/**
 * Files by `url` in one `send-batch`: each is downloaded before the answer (up to 15 s each), so a batch holds a
 * handful, not a thousand.
 */
export const BATCH_MAX_URLS = 20

/** A checked batch item: its kind and that kind's fields. */
export type BatchItem = { type: BatchKind } & Record<string, unknown>

interface Coded {
  code?: string
  status?: Parameters<typeof says>[2]
}

/**
 * A `send-batch` item checked by the schema of its `type` (text when absent), every problem reported under the item's
 * own path (`messages[3].latitude`). valibot's variant needs the key on every item, and text items never carried one.
 */
export function batchItemSchema(kinds: Record<BatchKind, Schema>): Schema<BatchItem> {
  return v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const value = dataset.value
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        addIssue({ message: says('invalid_type', `must be a JSON object, got ${typeName(value)}`) })
        return NEVER
      }
      const type = (value as { type?: unknown }).type ?? 'text'
      if (typeof type !== 'string' || !(BATCH_KINDS as readonly string[]).includes(type)) {
        addIssue({
          message: says('invalid_type', `must be one of ${BATCH_KINDS.join(', ')} (got ${typeof type === 'string' ? JSON.stringify(type.slice(0, 40)) : typeName(type)})`),
          path: [{ type: 'object', origin: 'value', input: value as Record<string, unknown>, key: 'type', value: type }],
        })
        return NEVER
      }
      const result = v.safeParse(kinds[type as BatchKind], value, { abortEarly: false, abortPipeEarly: true })
      if (result.success) return { ...(result.output as Record<string, unknown>), type: type as BatchKind }
      for (const issue of result.issues) {
        const coded = issue as Coded
        addIssue({ message: says(coded.code ?? 'invalid_value', issue.message, coded.status), ...(issue.path ? { path: issue.path } : {}) })
      }
      return NEVER
    }),
    v.metadata({
      type: 'object',
      description: 'A message of any kind; `type` picks which (absent: text, with `message`). Its other fields are those of the kind\'s own route (/api/send, /api/send-location, /api/send-contact, or the file routes\' JSON form with `url`).',
      properties: { type: { type: 'string', enum: [...BATCH_KINDS], default: 'text' } },
    }),
  )
}

/** `reply_to`: a received message's id; a form field arrives as text, JSON as a number. */
export const replyToField = describe(
  optional(integer({ code: 'invalid_reply_to', min: 1, max: Number.MAX_SAFE_INTEGER, fromString: true })),
  'Id of a received message (the inbound id of the message.received webhook) to quote on the phone.',
)

/** A finite number within [min, max] (a JSON number, or a decimal string from a form). */
function coordinate(code: string, min: number, max: number, description: string): Schema<number> {
  const jsonSchema: JsonSchema = { type: 'number', minimum: min, maximum: max, description }
  return custom(jsonSchema, (value) => {
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value.trim()) : value
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new FieldProblem(code, `must be a number, got ${typeName(value)}`)
    if (n < min || n > max) throw new FieldProblem(code, `must be between ${min} and ${max} (got ${n})`)
    return n
  })
}

/** `ptt`: a JSON boolean, or a form's `true`/`false`/`1`/`0`. */
const pttField = describe(
  optional(custom<boolean>({ type: 'boolean' }, (value) => {
    if (typeof value === 'boolean') return value
    if (typeof value === 'string' && /^(true|1|yes|on)$/i.test(value.trim())) return true
    if (typeof value === 'string' && /^(false|0|no|off|)$/i.test(value.trim())) return false
    throw new FieldProblem('invalid_ptt', `must be true or false, got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 20)) : typeName(value)}`)
  }), false),
  'true: send as a voice note (OGG/Opus; other audio is converted when the gateway has ffmpeg). false: an audio file.',
)

/** `url`: where the API fetches the media from, once, before it answers. */
const urlField = describe(
  string({ code: 'invalid_url', notBlank: true, maxLength: 2048 }),
  'http(s) URL of the file. The API downloads it once before answering (15 s, the kind\'s size limit, public addresses only unless MEDIA_ALLOW_HOSTS / MEDIA_ALLOW_PRIVATE allow it).',
  'https://example.com/invoice-1042.pdf',
)

/** The fields every send shares, given `createSchemas`' session and send-at fields. */
export interface SharedSendFields {
  session: Schema<string>
  send_at: Schema<Date | undefined>
}

/** Every schema of the new kinds, for one configuration. */
export function createKindSchemas(config: ApiConfig, shared: SharedSendFields) {
  const caption = describe(
    optional(string({ code: 'invalid_caption', wellFormed: true, maxLength: config.captionMaxChars })),
    `Optional caption, at most ${config.captionMaxChars} characters.`,
  )
  const fileName = describe(
    optional(string({ code: 'invalid_filename', wellFormed: true, maxLength: 255 })),
    'File name the recipient sees (default: the upload\'s own name). Made safe and kept with its extension.',
  )
  // A phone or a group: exactly one (api/routes/send.ts, checkRecipient).
  const common = { phone: optional(phoneSchema), group: optional(groupIdSchema), session: shared.session, send_at: shared.send_at, reply_to: replyToField }
  const text = (code: string, max: number, description: string) =>
    describe(optional(string({ code, wellFormed: true, notBlank: true, maxLength: max })), description)
  const contactCard = object({
    name: describe(string({ code: 'invalid_contact_name', wellFormed: true, notBlank: true, maxLength: 256 }), 'Name shown on the card.', 'Support desk'),
    phones: describe(array(phoneSchema, { minItems: 1, maxItems: 10 }), 'Phone numbers on the card (1–10), with country code.', ['9611234567']),
    email: describe(optional(string({
      code: 'invalid_contact_email', maxLength: 254, pattern: /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/, patternHint: 'an e-mail address such as help@example.com',
    })), 'E-mail address on the card.'),
    organization: text('invalid_contact_organization', 256, 'Company on the card.'),
  }, 'A contact card, sent as a vCard the phone can save.')
  return {
    sendImageFields: object({ ...common, caption }),
    sendImageUrl: object({ ...common, caption, url: urlField }, 'An image to fetch from a URL and queue.'),
    sendDocumentFields: object({ ...common, caption, filename: fileName }),
    sendDocumentUrl: object({ ...common, caption, filename: fileName, url: urlField }, 'A document to fetch from a URL and queue.'),
    sendVideoFields: object({ ...common, caption }),
    sendVideoUrl: object({ ...common, caption, url: urlField }, 'A video to fetch from a URL and queue.'),
    sendAudioFields: object({ ...common, ptt: pttField }),
    sendAudioUrl: object({ ...common, ptt: pttField, url: urlField }, 'Audio to fetch from a URL and queue.'),
    sendLocationBody: object({
      ...common,
      latitude: coordinate('invalid_latitude', -90, 90, 'Latitude in degrees, −90 to 90.'),
      longitude: coordinate('invalid_longitude', -180, 180, 'Longitude in degrees, −180 to 180.'),
      name: text('invalid_location_name', 256, 'Name of the place.'),
      address: text('invalid_location_address', 512, 'Its address.'),
    }, 'A location to queue.'),
    sendContactBody: object({ ...common, contact: contactCard }, 'A contact card to queue.'),
  }
}

export type KindSchemas = ReturnType<typeof createKindSchemas>
export type SendLocationBody = Infer<KindSchemas['sendLocationBody']>
export type SendContactBody = Infer<KindSchemas['sendContactBody']>
