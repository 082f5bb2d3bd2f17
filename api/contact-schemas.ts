/**
 * Request schemas of the contacts API (`/api/contacts`): listing filters, a change, and an import. Kept apart from
 * api/schemas.ts, which holds the send and session schemas.
 */
import * as v from 'valibot'
import { OPT_IN_STATES } from '../db/types.js'
import { phoneSchema } from './phone.js'
import {
  array, custom, describe, FieldProblem, integer, object, oneOf, optional, string, type Infer, type Schema,
} from './validation.js'

/** Most rows one `POST /api/contacts/import` takes. */
export const IMPORT_MAX_ROWS = 10_000

/** A contact's name as the gateway keeps it (contacts.name is 200 characters). */
const nameField = string({ code: 'invalid_name', wellFormed: true, maxLength: 200 })

/** `cursor` of the contact listing: the last phone of the previous page (contacts are ordered by phone). */
const phoneCursor: Schema<string> = custom({ type: 'string', description: 'The `next` value of the previous page, unchanged.' }, (value) => {
  if (typeof value !== 'string' || !/^[1-9]\d{6,14}$/.test(value)) {
    throw new FieldProblem('invalid_cursor', 'must be the `next` value of a previous page, passed back unchanged')
  }
  return value
})

/** The fields one contact takes in a change or an import: consent yes or no, a name (null clears it). */
const optInField = describe(optional(oneOf(['yes', 'no'] as const, 'invalid_opt_in')), 'Consent: "yes" or "no". "no" opts out the contact\'s pending messages, as a STOP does.')
// v.optional(v.nullable(…)), not `optional`: here null means "clear the name", not "absent".
const nameChange = v.optional(v.nullable(describe(nameField, 'The name the gateway keeps for the contact; null clears it.')))

export const contactsQuery = object({
  opt_in: describe(optional(oneOf(OPT_IN_STATES, 'invalid_opt_in')), 'Only contacts in this consent state.'),
  q: describe(optional(string({ code: 'invalid_query', wellFormed: true, maxLength: 100 })), 'Phone digits the number starts with, or part of the name.'),
  limit: describe(optional(integer({ code: 'invalid_limit', min: 1, max: 500, fromString: true }), 50), 'Page size, 1–500.'),
  cursor: describe(optional(phoneCursor), 'The `next` value of the previous page.'),
})

export const contactPatchBody = object({ opt_in: optInField, name: nameChange }, 'What to change; absent fields stay as they are.')

const importRow = object({ phone: phoneSchema, opt_in: optInField, name: nameChange })

export const contactImportBody = object({
  contacts: array(importRow, { minItems: 1, maxItems: IMPORT_MAX_ROWS, tooMany: { status: 413, code: 'too_many_contacts' } }),
}, `Up to ${IMPORT_MAX_ROWS} contacts, validated all or nothing and written in one transaction. The same rows may be sent as text/csv with the header phone,name,opt_in.`)

export type ContactImportRow = Infer<typeof importRow>
