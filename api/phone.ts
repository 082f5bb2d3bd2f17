import { custom, describe, FieldProblem, string, type Schema } from './validation.js'

/** What a stored phone looks like: E.164 digits without the plus. */
export const PHONE_DIGITS = /^[1-9]\d{6,14}$/

export const PHONE_RULE =
  'must be 7–15 digits with the country code and no leading 0, e.g. 9611234567 ' +
  '(spaces, dashes, dots, parentheses and a leading + or 00 are removed first)'

/**
 * Normalizes a phone as typed by a person or stored by an app: `+961 (1) 234-567`, `00961.1.234.567`
 * and `9611234567` all become `9611234567`. Returns null when the result is not 7–15 digits that
 * start with a non-zero digit.
 */
export function normalizePhone(input: string): string | null {
  const stripped = input.trim().replace(/[\s\-.()]/g, '').replace(/^(\+|00)/, '')
  return PHONE_DIGITS.test(stripped) ? stripped : null
}

/** The `phone` field: a string (or, leniently, a JSON integer such as PHP sends for an int column). */
export const phoneSchema: Schema<string> = custom(
  {
    type: ['string', 'integer'],
    description: `Recipient with country code, digits only; ${PHONE_RULE}.`,
    examples: ['9611234567'],
  },
  (value) => {
    let text: string
    if (typeof value === 'string') text = value
    else if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) text = String(value)
    else throw new FieldProblem('invalid_type', `must be a string of digits, got ${value === null ? 'null' : typeof value}`)
    const phone = normalizePhone(text)
    if (!phone) throw new FieldProblem('invalid_phone', `${PHONE_RULE}; got ${JSON.stringify(text.slice(0, 40))}`)
    return phone
  },
)

/** A group JID (`120363…@g.us`, or an older `<phone>-<time>@g.us`) or its numeric part; `@g.us` is added. */
export const groupIdSchema = /* @__PURE__ */ describe(
  string({ code: 'invalid_group', pattern: /^\d{5,30}(-\d{1,15})?(@g\.us)?$/, patternHint: 'a group JID (120363…@g.us) or its numeric part' }),
  'A group (its JID or numeric part) instead of phone: give exactly one of the two.',
  '120363012345678901@g.us',
)
