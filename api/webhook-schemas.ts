/**
 * Request and answer schemas of the webhook routes (`/api/webhooks…`), merged into `createSchemas` so the OpenAPI
 * document is generated from the same objects that check requests.
 */
import { DELIVERY_STATES } from '../db/queries/webhook-deliveries.js'
import { WEBHOOK_EVENTS } from '../db/queries/webhook-endpoints.js'
import { checkWebhookUrl, WEBHOOK_URL_MAX_LENGTH, type WebhookUrlPolicy } from '../db/shared/url-guard.js'
import { cursorSchema, rowIdSchema } from './listing-schemas.js'
import { array, custom, describe, FieldProblem, integer, object, oneOf, optional, string, type JsonSchema, type Schema } from './validation.js'

/** Most endpoints a gateway keeps (each event fans out to every matching one, in the transaction of the change). */
export const MAX_WEBHOOKS = 50

/** A webhook URL: http(s), no credentials, and not a loopback/private target unless allow-listed (db/shared/url-guard.ts). */
export function webhookUrlSchema(policy: WebhookUrlPolicy): Schema<string> {
  return describe(custom(
    { type: 'string', format: 'uri', maxLength: WEBHOOK_URL_MAX_LENGTH },
    (value) => {
      if (typeof value !== 'string') throw new FieldProblem('invalid_url', 'must be a string such as "https://example.com/wa-events"')
      const r = checkWebhookUrl(value.trim(), policy)
      if (!r.ok) {
        // A well-formed URL aimed at a refused target is a 422; a malformed one a 400.
        const refused = r.reason.startsWith('targets')
        throw new FieldProblem(refused ? 'url_not_allowed' : 'invalid_url', r.reason, refused ? 422 : undefined)
      }
      return r.url.href
    },
  ), 'Where to POST the events: an http:// or https:// URL. Loopback and private-network targets are refused unless the host is in WEBHOOK_ALLOW_HOSTS (or WEBHOOK_ALLOW_PRIVATE=1).', 'https://example.com/wa-events')
}

/** The webhook schemas for one URL policy (from `WEBHOOK_ALLOW_HOSTS` / `WEBHOOK_ALLOW_PRIVATE`). */
export function createWebhookSchemas(policy: WebhookUrlPolicy, sessionName: Schema<string>) {
  return {
    createWebhookBody: object({
      url: webhookUrlSchema(policy),
      events: describe(
        array(oneOf(WEBHOOK_EVENTS, 'invalid_event'), { minItems: 1, maxItems: WEBHOOK_EVENTS.length * 2 }),
        'Event types to receive.',
        ['message.sent', 'message.failed'],
      ),
      session: describe(optional(sessionName), 'Only events of this session (number); absent or null = every session.'),
      secret: describe(
        optional(string({ code: 'invalid_secret', pattern: /^[\x21-\x7E]{16,200}$/, patternHint: '16–200 printable ASCII characters without spaces' })),
        'The signing secret (16–200 printable ASCII characters). Absent = one is generated. Shown only in this answer.',
      ),
    }, 'A webhook endpoint.'),
    webhookId: rowIdSchema,
    deliveryId: rowIdSchema,
    deliveriesQuery: object({
      status: describe(optional(oneOf(DELIVERY_STATES, 'invalid_status')), 'Only deliveries in this state.'),
      limit: describe(optional(integer({ code: 'invalid_limit', min: 1, max: 500, fromString: true }), 50), 'Page size, 1–500.'),
      cursor: describe(optional(cursorSchema), 'The `next` value of the previous page.'),
    }),
  }
}

/* ---------- answers (documentation only) ---------- */

const nullable = (type: string, extra: JsonSchema = {}): JsonSchema => ({ type: [type, 'null'], ...extra })

export const webhookAnswer: JsonSchema = {
  type: 'object',
  required: ['id', 'url', 'events', 'session', 'enabled', 'created_at'],
  properties: {
    id: { type: 'integer', examples: [3] },
    url: { type: 'string', examples: ['https://example.com/wa-events'] },
    events: { type: 'array', items: { type: 'string', enum: [...WEBHOOK_EVENTS] } },
    session: nullable('string', { description: 'Session filter; null = every session.' }),
    enabled: { type: 'boolean' },
    created_at: { type: 'string', description: 'UTC, "YYYY-MM-DD HH:MM:SS".' },
  },
}

export const createdWebhookAnswer: JsonSchema = {
  type: 'object',
  required: ['success', 'webhook'],
  properties: {
    success: { const: true },
    webhook: {
      ...webhookAnswer,
      required: [...(webhookAnswer.required as string[]), 'secret'],
      properties: {
        ...(webhookAnswer.properties as Record<string, JsonSchema>),
        secret: { type: 'string', description: 'The signing secret. Shown only here: store it now.' },
      },
    },
  },
}

export const deliveryAnswer: JsonSchema = {
  type: 'object',
  required: ['id', 'webhook_id', 'event_id', 'type', 'status', 'attempts', 'created_at'],
  properties: {
    id: { type: 'integer' },
    webhook_id: { type: 'integer' },
    event_id: { type: 'string', description: 'The X-Event-Id header: the same on every attempt and for every webhook the event went to.' },
    type: { type: 'string', enum: [...WEBHOOK_EVENTS] },
    status: { type: 'string', enum: [...DELIVERY_STATES] },
    attempts: { type: 'integer' },
    next_attempt_at: nullable('string', { description: 'When it is tried next (pending), UTC.' }),
    last_status: nullable('integer', { description: 'HTTP status of the last attempt; null when there was no answer.' }),
    last_error: nullable('string'),
    data: { type: 'object', description: 'The event data, as in the body of the call.' },
    created_at: { type: 'string', description: 'When the event happened, UTC.' },
    first_attempt_at: nullable('string'),
    last_attempt_at: nullable('string'),
    delivered_at: nullable('string'),
  },
}
