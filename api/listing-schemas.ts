import { custom, FieldProblem, integer, type Schema } from './validation.js'

/** A row id in a URL path (`/api/messages/:id`, `/api/webhooks/:id`): a positive integer, given as text. */
export const rowIdSchema = integer({ code: 'invalid_id', min: 1, fromString: true })

/** The `next` cursor of a keyset-paginated listing, passed back unchanged for the following page. */
export const cursorSchema: Schema<number> = custom(
  { type: 'string', description: 'The `next` value of the previous page, unchanged.' },
  (value) => {
    if (typeof value !== 'string' || !/^[1-9]\d{0,15}$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw new FieldProblem('invalid_cursor', 'must be the `next` value of a previous page, passed back unchanged')
    }
    return Number(value)
  },
)
