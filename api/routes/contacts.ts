import { Hono } from '../hono-app.js'
import { changeContact, importContacts, type ContactUpdate } from '../../db/lifecycle/contact-change.js'
import { countMessagesOfPhone, listContactChanges } from '../../db/queries/contact-changes.js'
import { getContact, searchContacts } from '../../db/queries/contacts.js'
import type { ContactRecord } from '../../db/types.js'
import { mediaType, readBytes, readJson } from '../body.js'
import { contactImportBody, contactPatchBody, contactsQuery, IMPORT_MAX_ROWS } from '../contact-schemas.js'
import { parseCsv } from '../csv.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { formatTime } from '../format.js'
import { phoneSchema } from '../phone.js'
import type { RouteBook } from '../route-book.js'
import type { JsonSchema } from '../validation.js'

/** Bytes an import may be: 10,000 rows of a long name and a phone. */
const IMPORT_BODY_LIMIT = 4 * 1024 * 1024

const contactAnswer: JsonSchema = {
  type: 'object',
  required: ['phone', 'opt_in'],
  properties: {
    phone: { type: 'string' },
    name: { type: ['string', 'null'] },
    opt_in: { type: 'string', enum: ['pending', 'yes', 'no'] },
    opt_in_at: { type: ['string', 'null'], description: 'When the consent was last set (UTC).' },
    lid: { type: ['string', 'null'], description: 'WhatsApp\'s hidden-number id for the contact, when known.' },
    last_inbound_at: { type: ['string', 'null'], description: 'When the contact last wrote (UTC).' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
}

function formatContact(c: ContactRecord) {
  return {
    phone: c.phone, name: c.name, opt_in: c.optIn, opt_in_at: formatTime(c.optInAt), lid: c.lid,
    last_inbound_at: formatTime(c.lastInboundAt), created_at: formatTime(c.createdAt), updated_at: formatTime(c.updatedAt),
  }
}

function unknownContact(phone: string): ApiError {
  return new ApiError(404, 'unknown_contact', `No contact ${phone}: the number never wrote and its consent was never set`)
}

/** `GET /api/contacts`, `GET|PATCH /api/contacts/:phone`, `POST /api/contacts/import`. */
export function contactRoutes({ book }: { book: RouteBook }) {
  const app = new Hono<AppEnv>()
  const byPhone = { phone: phoneSchema }

  book.serve(app, '/api', {
    method: 'get', path: '/api/contacts', operationId: 'listContacts', tag: 'Contacts', summary: 'Contacts and their consent, by phone (keyset pagination)',
    query: contactsQuery,
    ok: { type: 'object', properties: { contacts: { type: 'array', items: contactAnswer }, next: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' } } },
    errors: [400],
  }, async (c, { query: q }) => {
    const typed = q.q?.trim() ?? ''
    // Digits (as people type them: "+961 1", "00961") search the phone's start; anything else the name.
    const digits = /^[+\d\s\-.()]+$/.test(typed) ? typed.replace(/[\s\-.()]/g, '').replace(/^(\+|00)/, '') : null
    const rows = await searchContacts(c.get('db'), {
      ...(digits ? { phonePrefix: digits } : typed ? { nameContains: typed } : {}),
      ...(q.opt_in ? { optIn: q.opt_in } : {}),
      ...(q.cursor ? { afterPhone: q.cursor } : {}),
      limit: q.limit + 1,
    })
    const page = rows.slice(0, q.limit)
    return c.json({ contacts: page.map(formatContact), next: rows.length > q.limit ? page[page.length - 1]!.phone : null })
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/contacts/{phone}', operationId: 'getContact', tag: 'Contacts', summary: 'One contact: consent, name, last message, counts and changes',
    params: byPhone,
    ok: {
      ...contactAnswer,
      properties: {
        ...(contactAnswer.properties as Record<string, unknown>),
        messages: { type: 'object', description: 'How many of the messages to this phone are in each state (sent, failed, pending, …).' },
        changes: { type: 'array', description: 'The latest 20 changes by the API or the dashboard, newest first: who (`api:key-N`, `dashboard`), before, after.' },
      },
    },
    errors: [400, 404],
  }, async (c, { params: { phone } }) => {
    const db = c.get('db')
    const contact = await getContact(db, phone)
    if (!contact) throw unknownContact(phone)
    const [counts, changes] = await Promise.all([countMessagesOfPhone(db, phone), listContactChanges(db, phone, 20)])
    return c.json({
      ...formatContact(contact),
      messages: counts,
      changes: changes.map((ch) => ({
        actor: ch.actor, opt_in_before: ch.optInBefore, opt_in_after: ch.optInAfter, name_before: ch.nameBefore, name_after: ch.nameAfter,
        changed_at: formatTime(ch.changedAt),
      })),
    })
  })

  book.serve(app, '/api', {
    method: 'patch', path: '/api/contacts/{phone}', operationId: 'updateContact', tag: 'Contacts', summary: 'Set a contact\'s consent or name',
    description: 'Audited (who and what, in the contact\'s `changes`) and reported by `contact.opted_in` / `contact.opted_out`. Setting "no" opts out the pending messages to this phone in the same transaction, as a STOP does.',
    params: byPhone, json: { schema: contactPatchBody },
    ok: { type: 'object', properties: { success: { const: true }, contact: contactAnswer, opted_out: { type: 'integer', description: 'Pending messages moved to opted_out.' } } },
    errors: [400, 413, 415],
  }, async (c, { params: { phone }, body }) => {
    if (body.opt_in === undefined && body.name === undefined) {
      throw new ApiError(400, 'empty_change', 'Nothing to change: send "opt_in" ("yes" or "no") and/or "name"')
    }
    const db = c.get('db')
    const result = await changeContact(db, { phone, optIn: body.opt_in, name: cleanName(body.name), actor: c.get('apiKeyId') })
    return c.json({ success: true, contact: formatContact((await getContact(db, phone))!), opted_out: result.optedOut })
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/contacts/import', operationId: 'importContacts', tag: 'Contacts', summary: `Import up to ${IMPORT_MAX_ROWS} contacts at once`,
    description: 'JSON `{"contacts":[{phone, name?, opt_in?}, …]}`, or text/csv with the header `phone,name,opt_in`. Validated all or nothing (every problem named by its row) and written in one transaction; each row is audited like a change.',
    json: { schema: contactImportBody, read: (c) => readImport(c.req.raw) },
    ok: { type: 'object', properties: { success: { const: true }, rows: { type: 'integer' }, created: { type: 'integer' }, changed: { type: 'integer' }, opted_out: { type: 'integer' } } },
    okExample: { success: true, rows: 2, created: 1, changed: 2, opted_out: 0 },
    errors: [400, 413, 415],
  }, async (c, { body }) => {
    const actor = c.get('apiKeyId')
    const updates: ContactUpdate[] = body.contacts.map((row) => ({ phone: row.phone, optIn: row.opt_in, name: cleanName(row.name), actor }))
    const r = await importContacts(c.get('db'), updates)
    return c.json({ success: true, rows: r.rows, created: r.created, changed: r.changed, opted_out: r.optedOut })
  })

  return app
}

/** A name with its outer spaces trimmed; an empty one clears the name. Absent stays absent. */
function cleanName(name: string | null | undefined): string | null | undefined {
  if (name === undefined || name === null) return name
  const trimmed = name.trim()
  return trimmed === '' ? null : trimmed
}

/**
 * The import body as the schema checks it: JSON as sent, or a CSV turned into the same shape (empty cells are absent
 * fields), so both answer with the same errors — `contacts[3].phone` is the CSV's line 5 (the header is line 1).
 */
async function readImport(req: Request): Promise<unknown> {
  if (mediaType(req) !== 'text/csv') return readJson(req, IMPORT_BODY_LIMIT, { shape: { maxDepth: 4, maxValues: IMPORT_MAX_ROWS * 4 + 16 } })
  const bytes = await readBytes(req, IMPORT_BODY_LIMIT, 'The CSV')
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new ApiError(400, 'invalid_csv', 'The CSV is not UTF-8 text; save it as "CSV UTF-8"')
  }
  const { rows } = parseCsv(text, IMPORT_MAX_ROWS)
  return {
    contacts: rows.map((r) => Object.fromEntries(Object.entries({ phone: r.phone, name: r.name, opt_in: r.opt_in?.trim().toLowerCase() }).filter(([, value]) => value !== undefined && value.trim() !== ''))),
  }
}
