/**
 * The OpenAPI 3.1 document, generated from the app's route declarations (`route-book.ts`) and the valibot schemas
 * they check requests with, and a plain HTML reference rendered from the same declarations (no external scripts:
 * the gateway is often self-hosted behind a firewall).
 */
import { toJsonSchema as convert, type ConversionConfig, type JsonSchema as LibrarySchema } from '@valibot/to-json-schema'
import type { Context } from 'hono'
import { REFERENCE_PARTS, type ApiReference, type ReferenceSource } from './app-core.js'
import { BATCH_VALUES_PER_ITEM, FORM_MAX_PARTS, JSON_SHAPE } from './body.js'
import type { RouteDeclaration, Tag } from './route-book.js'
import type { JsonSchema, Schema } from './validation.js'
import { errorAnswer } from './schemas.js'

const ERROR_TEXT: Record<number, string> = {
  400: `Malformed JSON (or nested more than ${JSON_SHAPE.maxDepth} levels deep), or a missing or invalid field (the message names it and the rule).`,
  401: 'Missing or wrong X-API-Key: `{"success":false,"error":"Unauthorized"}`.',
  404: 'Unknown session or message.',
  409: 'Conflicting state: the session exists or is being deleted, the session is not online (number check), the message is not resendable, or the Idempotency-Key was used for another request.',
  413: `Body, file or batch too large, or too many JSON values (${JSON_SHAPE.maxValues}, and ${BATCH_VALUES_PER_ITEM} more per send-batch item) or form fields (${FORM_MAX_PARTS}).`,
  410: 'The file was deleted after MEDIA_RETENTION_DAYS.',
  415: 'Wrong Content-Type, or a file that is not a JPEG, PNG, GIF or WEBP image.',
  422: 'Valid syntax but unacceptable content (image dimensions, damaged image header).',
  429: 'Too many number checks on this session this minute (NUMBER_CHECK_PER_MINUTE); Retry-After says when to retry.',
  502: 'WhatsApp did not answer the runner (number check); nothing is cached. Retry later.',
  503: 'Database unavailable; nothing was written. Retry later.',
  504: 'No runner answered in time (pairing code, number check); nothing is left pending. Check that a runner holds the session.',
}

/** The document's groups, in the order a reader meets them; a generated client groups its methods by them. */
const TAGS: Record<Tag, string> = {
  Sending: 'Queue messages of every kind (text, images, documents, video, audio, locations, contacts), one at a time or in a batch; cancel or revoke them.',
  Sessions: 'The WhatsApp numbers (sessions): status, linking, sending limits.',
  Messages: 'The message audit log.',
  Inbound: 'What people wrote to the numbers: text, media metadata, reactions, the message they reply to, STOP and YES.',
  Contacts: 'The people the numbers write to: consent, names, who changed them.',
  Webhooks: 'Where to POST message events, and their delivery history.',
  Reference: 'This document.',
  Health: 'Liveness and readiness, for load balancers and orchestrators (no key).',
}

/** The actions that only check or normalise a value (`custom` rules describe themselves with `v.metadata`). */
const UNDESCRIBED_ACTIONS = ['check', 'transform', 'raw_transform']

/**
 * How @valibot/to-json-schema reads the schemas `validation.ts` builds. Its errors are ignored only so that a pipe with
 * several schemas (`array`: length, then items; `object`: a type check, then fields) merges them into one schema;
 * every other thing it cannot convert still throws, from the overrides below.
 */
const CONVERSION: ConversionConfig = {
  target: 'draft-2020-12',
  errorMode: 'ignore',
  ignoreActions: UNDESCRIBED_ACTIONS,
  overrideAction({ valibotAction: action, jsonSchema, errors }) {
    const { requirement, examples } = action as typeof action & { requirement?: number; examples?: LibrarySchema['examples'] }
    // The library has no keyword for code points; JSON Schema's minLength and maxLength count code points.
    if (action.type === 'min_code_points') return { ...jsonSchema, minLength: requirement }
    if (action.type === 'max_code_points') return { ...jsonSchema, maxLength: requirement }
    // A field's `describe` replaces its value's example as it replaces its description (the library appends examples).
    if (action.type === 'examples') return { ...jsonSchema, examples }
    if (errors) throw new Error(errors.join(' '))
    return undefined
  },
  overrideSchema({ valibotSchema: schema, jsonSchema, errors }) {
    if (errors) throw new Error(errors.join(' '))
    if (schema.type !== 'nullable' && schema.type !== 'nullish') return undefined
    const inner = (jsonSchema.anyOf as LibrarySchema[])[0]!
    // `optional` reads JSON null as absent: the field is documented by its value (query and form fields have no null).
    if (schema.type === 'nullish') return jsonSchema.default === undefined ? inner : { ...inner, default: jsonSchema.default }
    // A type list keeps the field's keywords at the top, where the reference table (and a reader) looks for them.
    return typeof inner.type === 'string' ? { ...inner, type: [inner.type, 'null'] } : undefined
  },
}

/** The JSON Schema of one valibot schema, as it appears inside the document (without its own `$schema`). */
function toJsonSchema(schema: Schema): JsonSchema {
  const { $schema: _dialect, ...js } = convert(schema, CONVERSION)
  return js
}

/** A form's text fields and its (required) files, as one object schema. */
function multipartSchema({ fields, files }: NonNullable<RouteDeclaration['multipart']>): JsonSchema {
  const js = toJsonSchema(fields)
  const fileProperties = Object.fromEntries(Object.entries(files).map(([name, description]) => [name, { type: 'string', contentMediaType: 'application/octet-stream', description }]))
  return {
    ...js,
    properties: { ...(js.properties as Record<string, JsonSchema>), ...fileProperties },
    required: [...((js.required ?? []) as string[]), ...Object.keys(files)],
  }
}

function queryParameters(schema: JsonSchema): unknown[] {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((schema.required ?? []) as string[])
  return Object.entries(props).map(([name, s]) => ({
    name, in: 'query', required: required.has(name), schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }))
}

/** The OpenAPI 3.1 document of the declared routes. */
export function buildOpenApi(routes: readonly RouteDeclaration[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const op of routes) {
    const parameters: unknown[] = []
    if (op.query) parameters.push(...queryParameters(toJsonSchema(op.query)))
    for (const [name, s] of Object.entries(op.params ?? {})) parameters.push({ name, in: 'path', required: true, schema: toJsonSchema(s) })
    if (op.idempotent) {
      parameters.push({
        name: 'Idempotency-Key', in: 'header', required: false,
        description: 'Retrying with the same key and body returns the same message id without a second message; the same key with another body is a 409.',
        schema: { type: 'string', pattern: '^[\\x21-\\x7E]{1,200}$' },
      })
    }
    const responses: Record<string, unknown> = {
      200: { description: 'Success', content: { [op.okMedia ?? 'application/json']: { schema: op.ok, ...(op.okExample === undefined ? {} : { example: op.okExample }) } } },
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
      operation.requestBody = { required: !op.json.optional, content: { 'application/json': { schema: toJsonSchema(op.json.schema) } } }
    } else if (op.multipart) {
      operation.requestBody = {
        required: true,
        content: {
          'multipart/form-data': { schema: multipartSchema(op.multipart) },
          ...(op.multipart.orJson ? { 'application/json': { schema: toJsonSchema(op.multipart.orJson) } } : {}),
        },
      }
    }
    ;(paths[op.path] ??= {})[op.method] = operation
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'WA Gateway API',
      version: '1',
      license: { name: 'GPL-3.0-or-later', identifier: 'GPL-3.0-or-later' },
      description: 'Queue WhatsApp messages of every kind, manage sessions (numbers) and read the audit log. Every /api route needs the X-API-Key header. Errors are {"success":false,"error":"…","code":"…"}. Times are UTC, "YYYY-MM-DD HH:MM:SS".',
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

/** A readable reference page rendered from the same declarations (its stylesheet is `REFERENCE_CSS`). */
export function renderReference(routes: readonly RouteDeclaration[]): string {
  const sections = routes.map((op) => {
    const fields = op.json
      ? schemaRows(toJsonSchema(op.json.schema))
      : op.multipart
        ? schemaRows(multipartSchema(op.multipart)) + (op.multipart.orJson ? `<p>Or as JSON, with the file given by <code>url</code>:</p>${schemaRows(toJsonSchema(op.multipart.orJson))}` : '')
        : op.query ? schemaRows(toJsonSchema(op.query)) : ''
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
export function referenceFiles(routes: readonly RouteDeclaration[]): Record<'openapi.json' | 'docs.html' | 'docs.css', string> {
  return { 'openapi.json': JSON.stringify(buildOpenApi(routes)), 'docs.html': renderReference(routes), 'docs.css': REFERENCE_CSS }
}

/**
 * The reference generated from the app's declared routes once, when it is first asked for: not while the process
 * starts, where it cost about 30 ms of `npm start`'s time to ready.
 */
export const generatedReference: ReferenceSource = (routes) => {
  let files: ReturnType<typeof referenceFiles> | undefined
  const answer = (part: keyof ApiReference) => (c: Context) =>
    c.body((files ??= referenceFiles(routes))[REFERENCE_PARTS[part].file], 200, { ...REFERENCE_PARTS[part].headers })
  return { document: answer('document'), page: answer('page'), stylesheet: answer('stylesheet') }
}
