/**
 * The OpenAPI 3.1 document, built from the schemas that validate requests (`schemas.ts`), and a
 * plain HTML reference rendered from it (no external scripts: the gateway is often self-hosted
 * behind a firewall).
 */
import { BATCH_VALUES_PER_ITEM, FORM_MAX_PARTS, JSON_SHAPE } from './body.js'
import type { ReferenceSource } from './app-core.js'
import type { ApiConfig } from './config.js'
import { SESSION_NAME_PATTERN } from '../db/types.js'
import { toJsonSchema } from './json-schema.js'
import type { JsonSchema, Schema } from './schema.js'
import {
  errorAnswer, messageAnswer, sendAnswer, sessionAnswer, successAnswer, type Schemas,
} from './schemas.js'
import { createdWebhookAnswer, deliveryAnswer, webhookAnswer } from './webhook-schemas.js'

interface Operation {
  method: 'get' | 'post' | 'patch' | 'delete'
  path: string
  /** Stable: a client generated from the document names its method after it. */
  operationId: string
  tag: Tag
  summary: string
  description?: string
  auth?: boolean
  query?: Schema
  pathParams?: Record<string, JsonSchema>
  json?: Schema
  /** The body may be left out (`regenerate-qr`). */
  optionalJson?: boolean
  multipart?: JsonSchema
  idempotent?: boolean
  ok: JsonSchema
  okExample?: unknown
  errors: number[]
}

const ERROR_TEXT: Record<number, string> = {
  400: `Malformed JSON (or nested more than ${JSON_SHAPE.maxDepth} levels deep), or a missing or invalid field (the message names it and the rule).`,
  401: 'Missing or wrong X-API-Key: `{"success":false,"error":"Unauthorized"}`.',
  404: 'Unknown session or message.',
  409: 'Conflicting state: the session exists or is being deleted, the message is not resendable, or the Idempotency-Key was used for another request.',
  413: `Body, file or batch too large, or too many JSON values (${JSON_SHAPE.maxValues}, and ${BATCH_VALUES_PER_ITEM} more per send-batch item) or form fields (${FORM_MAX_PARTS}).`,
  415: 'Wrong Content-Type, or a file that is not a JPEG, PNG, GIF or WEBP image.',
  422: 'Valid syntax but unacceptable content (image dimensions, damaged image header).',
  503: 'Database unavailable; nothing was written. Retry later.',
  504: 'No runner answered in time (pairing code); nothing is left pending. Check that a runner holds the session.',
}

/** The document's groups, in the order a reader meets them; a generated client groups its methods by them. */
const TAGS = {
  Sending: 'Queue text and image messages, one at a time or in a batch.',
  Sessions: 'The WhatsApp numbers (sessions): status, linking, sending limits.',
  Messages: 'The message audit log.',
  Webhooks: 'Where to POST message events, and their delivery history.',
  Reference: 'This document.',
  Health: 'Liveness and readiness, for load balancers and orchestrators (no key).',
} as const

type Tag = keyof typeof TAGS

/** Every documented operation, in the guide's order, then the additions. */
export function operations(schemas: Schemas, config: ApiConfig): Operation[] {
  const sessionParam = { type: 'string', pattern: SESSION_NAME_PATTERN.source }
  return [
    {
      method: 'get', path: '/api/status', operationId: 'getStatus', tag: 'Sessions', summary: 'Status of one session (default: "default")',
      query: schemas.statusQuery, ok: sessionAnswer,
      okExample: { name: 'default', status: 'online', phone: '9611234567', last_seen: '2025-05-11 14:00:00', qr_code: null, detail: null, qr: null },
      errors: [400, 404],
    },
    {
      method: 'get', path: '/api/sessions', operationId: 'listSessions', tag: 'Sessions', summary: 'All sessions, "default" first',
      ok: { type: 'array', items: sessionAnswer }, errors: [],
    },
    {
      method: 'post', path: '/api/send', operationId: 'sendText', tag: 'Sending', summary: 'Queue a text message', idempotent: true,
      json: schemas.sendBody, ok: sendAnswer, okExample: { success: true, message_id: 42 }, errors: [400, 404, 409, 413, 415],
    },
    {
      method: 'post', path: '/api/send-image', operationId: 'sendImage', tag: 'Sending', summary: 'Queue an image message (multipart/form-data)', idempotent: true,
      description: `JPEG, PNG, GIF or WEBP (decided by the file's content), at most ${config.imageMaxBytes / 1048576} MB and ${config.imageMaxPixels / 1e6} megapixels. The original is stored; the runner compresses it before sending.`,
      multipart: {
        ...toJsonSchema(schemas.sendImageFields),
        properties: {
          ...(toJsonSchema(schemas.sendImageFields).properties as Record<string, JsonSchema>),
          file: { type: 'string', contentMediaType: 'application/octet-stream', description: 'The image file.' },
        },
        required: ['phone', 'file'],
      },
      ok: sendAnswer, okExample: { success: true, message_id: 43 }, errors: [400, 404, 409, 413, 415, 422],
    },
    {
      method: 'post', path: '/api/resend/{id}', operationId: 'resendMessage', tag: 'Sending', summary: 'Put a failed or opted_out message back in the queue',
      pathParams: { id: toJsonSchema(schemas.messageId) }, ok: successAnswer, okExample: { success: true }, errors: [400, 404, 409],
    },
    {
      method: 'post', path: '/api/regenerate-qr', operationId: 'regenerateQr', tag: 'Sessions', summary: 'Disconnect a session and show a new QR code',
      json: schemas.regenerateQrBody, optionalJson: true, ok: { type: 'object', properties: { success: { const: true }, message: { type: 'string' } } },
      okExample: { success: true, message: 'Reconnection initiated for session "default"' }, errors: [400, 404, 409, 415],
    },
    {
      method: 'post', path: '/api/sessions', operationId: 'createSession', tag: 'Sessions', summary: 'Create a session (another WhatsApp number)',
      json: schemas.createSessionBody, ok: { type: 'object', properties: { success: { const: true }, message: { type: 'string' } } },
      okExample: { success: true, message: 'Session "support" created — check dashboard for QR code' }, errors: [400, 409, 415],
    },
    {
      method: 'delete', path: '/api/sessions/{name}', operationId: 'deleteSession', tag: 'Sessions', summary: 'Disconnect and remove a session ("default" cannot be deleted)',
      pathParams: { name: sessionParam }, ok: successAnswer, okExample: { success: true }, errors: [400, 404, 409],
    },
    {
      method: 'get', path: '/api/sessions/{name}', operationId: 'getSession', tag: 'Sessions', summary: 'One session: its status, sending limits and today\'s counters',
      pathParams: { name: sessionParam }, ok: { type: 'object' }, errors: [400, 404],
    },
    {
      method: 'patch', path: '/api/sessions/{name}', operationId: 'updateSessionSettings', tag: 'Sessions', summary: 'Change a session\'s sending limits (daily cap, warm-up, first-contact cap, circuit breaker, quiet hours)',
      description: 'Each field is optional: an omitted field stays, null returns it to the runner default (.env), 0 turns a cap off. A hold for a cap or quiet hours is re-decided by the runner within 15 s.',
      pathParams: { name: sessionParam }, json: schemas.sessionSettingsBody, ok: { type: 'object' }, errors: [400, 404, 409, 415],
    },
    {
      method: 'post', path: '/api/sessions/{name}/pairing-code', operationId: 'requestPairingCode', tag: 'Sessions', summary: 'Link a number by an 8-character code instead of the QR',
      description: 'The session\'s runner asks WhatsApp for a code for this phone; enter it on the phone under Linked devices → Link with phone number instead. Waits for the runner (PAIRING_CODE_WAIT_MS, 15 s by default), else 504.',
      pathParams: { name: sessionParam }, json: schemas.pairingCodeBody,
      ok: { type: 'object', required: ['success', 'code'], properties: { success: { const: true }, code: { type: 'string', pattern: '^[A-Z0-9]{4}-[A-Z0-9]{4}$' } } },
      okExample: { success: true, code: 'ABCD-EFGH' }, errors: [400, 404, 409, 415, 504],
    },
    {
      method: 'post', path: '/api/send-batch', operationId: 'sendBatch', tag: 'Sending', summary: `Queue up to ${config.batchMaxItems} text messages at once`, idempotent: true,
      description: 'Validated all-or-nothing (an error names the item index) and written in one statement; ids come back in order.',
      json: schemas.sendBatchBody,
      ok: { type: 'object', properties: { success: { const: true }, message_ids: { type: 'array', items: { type: 'integer' } } } },
      okExample: { success: true, message_ids: [44, 45] }, errors: [400, 404, 409, 413, 415],
    },
    {
      method: 'get', path: '/api/messages', operationId: 'listMessages', tag: 'Messages', summary: 'The message audit log, newest first (keyset pagination)',
      query: schemas.messagesQuery,
      ok: { type: 'object', properties: { messages: { type: 'array', items: messageAnswer }, next: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' } } },
      errors: [400],
    },
    {
      method: 'get', path: '/api/messages/{id}', operationId: 'getMessage', tag: 'Messages', summary: 'One message: status, attempts, error, times, WhatsApp id',
      pathParams: { id: toJsonSchema(schemas.messageId) }, ok: messageAnswer, errors: [400, 404],
    },
    {
      method: 'post', path: '/api/webhooks', operationId: 'createWebhook', tag: 'Webhooks', summary: 'Add a webhook: where to POST which events, signed with a secret',
      description: 'The answer carries the signing secret once; it is never shown again. Each call has X-Event-Id, X-Event-Type, X-Timestamp and X-Signature: sha256=HMAC-SHA256(secret, "<X-Timestamp>.<body>") in hex.',
      json: schemas.createWebhookBody, ok: createdWebhookAnswer,
      okExample: { success: true, webhook: { id: 3, url: 'https://example.com/wa-events', events: ['message.sent', 'message.failed'], session: null, enabled: true, created_at: '2025-05-11 14:00:00', secret: 'whsec_…' } },
      errors: [400, 404, 409, 415, 422],
    },
    {
      method: 'get', path: '/api/webhooks', operationId: 'listWebhooks', tag: 'Webhooks', summary: 'The configured webhooks (without their secrets)',
      ok: { type: 'object', properties: { webhooks: { type: 'array', items: webhookAnswer } } }, errors: [],
    },
    {
      method: 'delete', path: '/api/webhooks/{id}', operationId: 'deleteWebhook', tag: 'Webhooks', summary: 'Remove a webhook and its delivery history',
      pathParams: { id: toJsonSchema(schemas.webhookId) }, ok: successAnswer, okExample: { success: true }, errors: [400, 404],
    },
    {
      method: 'get', path: '/api/webhooks/{id}/deliveries', operationId: 'listWebhookDeliveries', tag: 'Webhooks', summary: 'A webhook\'s deliveries, newest first (keyset pagination)',
      pathParams: { id: toJsonSchema(schemas.webhookId) }, query: schemas.deliveriesQuery,
      ok: { type: 'object', properties: { deliveries: { type: 'array', items: deliveryAnswer }, next: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' } } },
      errors: [400, 404],
    },
    {
      method: 'post', path: '/api/webhooks/deliveries/{id}/replay', operationId: 'replayWebhookDelivery', tag: 'Webhooks', summary: 'Send a dead delivery again (same event id, a fresh 24 h of retries)',
      pathParams: { id: toJsonSchema(schemas.deliveryId) }, ok: successAnswer, okExample: { success: true }, errors: [400, 404, 409],
    },
    {
      method: 'get', path: '/api/openapi.json', operationId: 'getOpenApiDocument', tag: 'Reference', summary: 'This document', ok: { type: 'object' }, errors: [],
    },
    {
      method: 'get', path: '/healthz', operationId: 'checkLiveness', tag: 'Health', summary: 'Liveness: the process answers', auth: false,
      ok: { type: 'object' }, okExample: { success: true, status: 'ok' }, errors: [413],
    },
    {
      method: 'get', path: '/readyz', operationId: 'checkReadiness', tag: 'Health', summary: 'Readiness: database reachable and migrations current', auth: false,
      ok: { type: 'object' }, okExample: { success: true, status: 'ready', engine: 'mysql', schema_version: 1, expected_schema_version: 1 }, errors: [413, 503],
    },
  ]
}

function queryParameters(schema: JsonSchema): unknown[] {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((schema.required ?? []) as string[])
  return Object.entries(props).map(([name, s]) => ({
    name, in: 'query', required: required.has(name), schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }))
}

/** The OpenAPI 3.1 document. */
export function buildOpenApi(schemas: Schemas, config: ApiConfig): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const op of operations(schemas, config)) {
    const parameters: unknown[] = []
    if (op.query) parameters.push(...queryParameters(toJsonSchema(op.query)))
    for (const [name, s] of Object.entries(op.pathParams ?? {})) parameters.push({ name, in: 'path', required: true, schema: s })
    if (op.idempotent) {
      parameters.push({
        name: 'Idempotency-Key', in: 'header', required: false,
        description: 'Retrying with the same key and body returns the same message id without a second message; the same key with another body is a 409.',
        schema: { type: 'string', pattern: '^[\\x21-\\x7E]{1,200}$' },
      })
    }
    const responses: Record<string, unknown> = {
      200: { description: 'Success', content: { 'application/json': { schema: op.ok, ...(op.okExample === undefined ? {} : { example: op.okExample }) } } },
    }
    const codes = new Set(op.errors)
    if (op.auth !== false) codes.add(401)
    if (op.path !== '/healthz') codes.add(503)
    for (const code of [...codes].sort()) {
      responses[code] = { description: ERROR_TEXT[code] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
    }
    const operation: Record<string, unknown> = {
      operationId: op.operationId,
      tags: [op.tag],
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(op.auth === false ? { security: [] } : {}),
      responses,
    }
    if (op.json) {
      operation.requestBody = { required: !op.optionalJson, content: { 'application/json': { schema: toJsonSchema(op.json) } } }
    } else if (op.multipart) {
      operation.requestBody = { required: true, content: { 'multipart/form-data': { schema: op.multipart } } }
    }
    ;(paths[op.path] ??= {})[op.method] = operation
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'WA Gateway API',
      version: '1',
      license: { name: 'GPL-3.0-or-later', identifier: 'GPL-3.0-or-later' },
      description: 'Queue WhatsApp text and image messages, manage sessions (numbers) and read the audit log. Every /api route needs the X-API-Key header. Errors are {"success":false,"error":"…","code":"…"}. Times are UTC, "YYYY-MM-DD HH:MM:SS".',
    },
    servers: [{ url: '/' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
      schemas: { Error: errorAnswer },
    },
    paths,
  }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

/** The JSON Schema keywords the reference table shows, with the types our schemas give them. */
interface FieldFacts {
  type?: string | string[]
  const?: unknown
  enum?: string[]
  pattern?: string
  maxLength?: number
  minimum?: number
  maximum?: number
  maxItems?: number
  default?: unknown
  description?: string
}

function schemaRows(schema: JsonSchema | undefined): string {
  const props = (schema?.properties ?? {}) as Record<string, FieldFacts>
  const required = new Set((schema?.required ?? []) as string[])
  const rows = Object.entries(props).map(([name, s]) => {
    const type = Array.isArray(s.type) ? s.type.join(' | ') : String(s.type ?? (s.const !== undefined ? JSON.stringify(s.const) : ''))
    const rules = [
      s.enum ? `one of ${s.enum.join(', ')}` : '',
      s.pattern ? `pattern ${s.pattern}` : '',
      s.maxLength !== undefined ? `≤ ${s.maxLength} chars` : '',
      s.minimum !== undefined || s.maximum !== undefined ? `${s.minimum ?? ''}–${s.maximum ?? ''}` : '',
      s.maxItems !== undefined ? `≤ ${s.maxItems} items` : '',
      s.default !== undefined ? `default ${JSON.stringify(s.default)}` : '',
    ].filter(Boolean).join('; ')
    return `<tr><td><code>${escapeHtml(name)}</code></td><td>${escapeHtml(type)}</td><td>${required.has(name) ? 'yes' : 'no'}</td><td>${escapeHtml([s.description ?? '', rules].filter(Boolean).join(' — '))}</td></tr>`
  })
  return rows.length ? `<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Notes</th></tr>${rows.join('')}</table>` : ''
}

/**
 * The reference page's stylesheet, served at `/docs/style.css`: the page's Content-Security-Policy (the dashboard's)
 * allows no inline style.
 */
export const REFERENCE_CSS = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font-family:ui-monospace,monospace}pre{background:#f4f4f4;padding:.5rem;overflow:auto}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
.m{background:#075e54;color:#fff;padding:0 .4rem;border-radius:3px;font-size:.8em}section{margin-bottom:2rem}
`

/** A readable reference page rendered from the same operations (its stylesheet is `REFERENCE_CSS`). */
export function renderReference(schemas: Schemas, config: ApiConfig): string {
  const sections = operations(schemas, config).map((op) => {
    const fields = op.json ? schemaRows(toJsonSchema(op.json)) : op.multipart ? schemaRows(op.multipart) : op.query ? schemaRows(toJsonSchema(op.query)) : ''
    const example = op.okExample === undefined ? '' : `<pre>${escapeHtml(JSON.stringify(op.okExample))}</pre>`
    const errs = [...new Set([...(op.auth === false ? [] : [401]), ...op.errors])].sort().map((c) => `<li><b>${c}</b> ${escapeHtml(ERROR_TEXT[c] ?? '')}</li>`).join('')
    return `<section><h2><span class="m">${op.method.toUpperCase()}</span> <code>${escapeHtml(op.path)}</code></h2>
<p>${escapeHtml(op.summary)}${op.description ? `. ${escapeHtml(op.description)}` : ''}${op.idempotent ? ' Accepts an <code>Idempotency-Key</code> header.' : ''}</p>
${fields}${example}${errs ? `<ul>${errs}</ul>` : ''}</section>`
  })
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>WA Gateway API reference</title>
<link rel="stylesheet" href="docs/style.css"></head>
<body><h1>WA Gateway API</h1>
<p>Send the header <code>X-API-Key: your_api_secret</code> with every <code>/api</code> request. Errors are
<code>{"success":false,"error":"…","code":"…"}</code>. Times are UTC, <code>YYYY-MM-DD HH:MM:SS</code>.
Machine-readable: <code>GET /api/openapi.json</code> (OpenAPI 3.1, needs the key).</p>
${sections.join('\n')}</body></html>`
}

/** The reference's files, as the app serves them: the Workers build writes them into the worker's static assets. */
export function referenceFiles(schemas: Schemas, config: ApiConfig): Record<'openapi.json' | 'docs.html' | 'docs.css', string> {
  return { 'openapi.json': JSON.stringify(buildOpenApi(schemas, config)), 'docs.html': renderReference(schemas, config), 'docs.css': REFERENCE_CSS }
}

/** The reference generated once, when the app is built. */
export const generatedReference: ReferenceSource = (schemas, config) => {
  const files = referenceFiles(schemas, config)
  return {
    document: (c) => c.body(files['openapi.json'], 200, { 'Content-Type': 'application/json' }),
    page: (c) => c.html(files['docs.html']),
    stylesheet: (c) => c.body(files['docs.css'], 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'public, max-age=300' }),
  }
}
