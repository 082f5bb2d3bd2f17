/**
 * The gateway's field rules, built on valibot: each builder returns a valibot schema whose every rule carries the
 * API's stable error code and its wording, and `parse` runs one with every problem collected (valibot's
 * `abortEarly: false`, one problem per field) into one `ApiError`: `error` names the first problem's field
 * (`messages[3].phone: …`), `errors` lists them all. `api/openapi.ts` describes the same objects as JSON Schema
 * for `/api/openapi.json`, so the reference cannot drift from the checks.
 */
import * as v from 'valibot'
import { ApiError, type ApiErrorStatus, type FieldError } from './errors.js'

export type JsonSchema = { [key: string]: unknown }
export type Schema<TOutput = unknown> = v.GenericSchema<unknown, TOutput>
export type Infer<S extends v.GenericSchema> = v.InferOutput<S>

/**
 * A valibot issue with the API's code and, for the few rules that are not a 400, its status. valibot issues carry a
 * message only, so each rule's message function stamps them on the issue it words.
 */
interface CodedIssue extends v.BaseIssue<unknown> {
  code?: string
  status?: ApiErrorStatus
}

/** A rule's message: sets the issue's code (and status) and returns the words, without the field's path. */
export function says<I extends v.BaseIssue<unknown>>(code: string, words: string | ((issue: I) => string), status?: ApiErrorStatus) {
  return (issue: I): string => {
    const coded = issue as I & CodedIssue
    coded.code = code
    if (status) coded.status = status
    return typeof words === 'string' ? words : words(issue)
  }
}

/** Thrown inside a `custom` rule: one problem with the value being checked. */
export class FieldProblem extends Error {
  constructor(readonly code: string, message: string, readonly status?: ApiErrorStatus) {
    super(message)
  }
}

/** Thrown by hand-written checks outside a schema (multipart fields); the status is 400 unless a rule says otherwise. */
export function invalid(path: string, code: string, message: string, status: ApiErrorStatus = 400): ApiError {
  return new ApiError(status, code, path ? `${path}: ${message}` : message, { errors: [{ path, code, message }] })
}

/**
 * At most this many field problems are listed in one answer: a batch of a thousand bad items would otherwise
 * answer with thousands, and the first hundred are enough to fix a request or a form.
 */
export const MAX_FIELD_ERRORS = 100

/**
 * Collects the problems of several checks instead of stopping at the first (a multipart form's text fields and its
 * file): `check` runs one and keeps its problems, `done` throws the first problem's error carrying them all.
 */
export function gatherProblems() {
  let first: ApiError | null = null
  const all: FieldError[] = []
  return {
    check<T>(path: string, fn: () => T): T | undefined {
      try {
        return fn()
      } catch (err) {
        if (!(err instanceof ApiError)) throw err
        first ??= err
        for (const e of err.errors ?? [{ path, code: err.code, message: err.message }]) if (all.length < MAX_FIELD_ERRORS) all.push(e)
        return undefined
      }
    },
    done(): void {
      if (first) throw new ApiError(first.status, first.code, first.message, { errors: all })
    },
  }
}

/** `messages[3].phone` from valibot's path items, under `base` (a field name when a single field is parsed). */
function pathOf(issue: v.BaseIssue<unknown>, base: string): string {
  let path = base
  for (const item of issue.path ?? []) {
    const key = String(item.key)
    path = item.type === 'array' ? `${path}[${key}]` : path ? `${path}.${key}` : key
  }
  return path
}

/** The first problem's status, code and message, with every problem (at most `MAX_FIELD_ERRORS`) in `errors`. */
function refusal(issues: readonly v.BaseIssue<unknown>[], base: string): ApiError {
  const errors: FieldError[] = issues.slice(0, MAX_FIELD_ERRORS).map((issue) => ({
    path: pathOf(issue, base),
    code: (issue as CodedIssue).code ?? 'invalid_value',
    message: issue.message,
  }))
  const first = errors[0]!
  return new ApiError((issues[0] as CodedIssue).status ?? 400, first.code, first.path ? `${first.path}: ${first.message}` : first.message, { errors })
}

const EVERY_PROBLEM = { abortEarly: false, abortPipeEarly: true } as const

/**
 * Checks and normalises `value` with `schema`, or throws one `ApiError` listing every problem. `path` names the
 * value when it is one field rather than a whole body (`parse(sessionName, raw, 'session')`).
 */
export function parse<S extends v.GenericSchema>(schema: S, value: unknown, path = ''): v.InferOutput<S> {
  if (value === undefined && !isOptional(schema)) throw invalid(path, 'missing_field', 'is required')
  const result = v.safeParse(schema, value, EVERY_PROBLEM)
  if (result.success) return result.output
  throw refusal(result.issues, path)
}

function isOptional(schema: v.GenericSchema): boolean {
  return schema.type === 'optional' || schema.type === 'nullish'
}

/** `a string`, `an array`, `null`: the wording of a wrong type in a message. */
export function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/** A wrong value's message, `code` and `words(input)`; an absent form field (undefined) is a missing one instead. */
function wrongValue(code: string, words: (input: unknown) => string) {
  return (issue: v.BaseIssue<unknown>): string =>
    issue.input === undefined ? says('missing_field', 'is required')(issue) : says(code, words(issue.input))(issue)
}

/** `must be a string, got an array`. */
const wrongType = (expected: string) => wrongValue('invalid_type', (input) => `${expected}, got ${typeName(input)}`)

/**
 * A rule valibot has no action for: `check` returns the normalised value or throws a `FieldProblem`. `jsonSchema`
 * is how the document shows the field, since valibot cannot see inside the function.
 */
export function custom<T>(jsonSchema: JsonSchema, check: (value: unknown) => T): Schema<T> {
  return v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      if (dataset.value === undefined) {
        addIssue({ message: says('missing_field', 'is required') })
        return NEVER
      }
      try {
        return check(dataset.value)
      } catch (err) {
        if (!(err instanceof FieldProblem)) throw err
        addIssue({ message: says(err.code, err.message, err.status) })
        return NEVER
      }
    }),
    v.metadata(jsonSchema),
  )
}

/** Adds a description (and an example) to a schema without changing its checks. */
export function describe<S extends v.GenericSchema>(schema: S, description: string, example?: unknown): Schema<v.InferOutput<S>> {
  return example === undefined
    ? v.pipe(schema, v.description(description))
    : v.pipe(schema, v.description(description), v.examples([example as v.InferOutput<S>]))
}

/** The field may be absent (or JSON null); then `fallback` is used. */
export function optional<S extends v.GenericSchema>(schema: S): Schema<v.InferOutput<S> | undefined>
export function optional<S extends v.GenericSchema>(schema: S, fallback: v.InferOutput<S>): Schema<v.InferOutput<S>>
export function optional<S extends v.GenericSchema>(schema: S, fallback?: v.InferOutput<S>): Schema<v.InferOutput<S> | undefined> {
  if (fallback !== undefined) return v.nullish(schema, fallback)
  // Without a fallback JSON null reads as absent too, as the handlers expect.
  return v.pipe(v.nullish(schema), v.transform((value) => value ?? undefined))
}

export interface StringOptions {
  /** Error code for every rule of this field (type errors use `invalid_type`). */
  code: string
  minLength?: number
  /** In Unicode characters (code points), not UTF-16 units. */
  maxLength?: number
  /** Error status when maxLength is passed (default 400). */
  maxLengthStatus?: ApiErrorStatus
  pattern?: RegExp
  /** Said when the pattern does not match, e.g. "letters, digits, dash and underscore, at most 40". */
  patternHint?: string
  /** Refuse strings that are empty or whitespace only. */
  notBlank?: boolean
  /**
   * Refuse lone surrogates and NUL (both unstorable), and drop one leading U+FEFF: a byte-order mark is an
   * encoding artifact (a PHP file saved "with BOM" prepends it to its output), invisible on the phone, and
   * PGlite cannot even read it back, so every engine stores the text without it.
   */
  wellFormed?: boolean
}

// In /u mode a surrogate pair is one code point, so \p{Cs} matches only lone (ill-formed) halves.
const LONE_SURROGATE = /\p{Cs}/u

/** Code points, which is what "characters" means for a person typing an emoji. */
export function charCount(s: string): number {
  let n = 0
  for (const _ of s) n++
  return n
}

type StringRule = v.PipeItem<string, string, v.BaseIssue<unknown>>

export function string(options: StringOptions): Schema<string> {
  const { code } = options
  const rules: StringRule[] = []
  if (options.wellFormed) {
    rules.push(
      v.transform((s) => (s.startsWith('\uFEFF') ? s.slice(1) : s)),
      v.check((s) => !LONE_SURROGATE.test(s) && !s.includes('\u0000'), says(code, 'must be well-formed Unicode text (no unpaired surrogate halves, no NUL characters)')),
    )
  }
  if (options.notBlank) rules.push(v.check((s) => s.trim().length > 0, says(code, 'must not be empty or only whitespace')))
  const min = options.minLength ?? (options.notBlank ? 1 : undefined)
  if (min !== undefined) rules.push(v.minCodePoints(min, says(code, `must be at least ${min} characters long`)))
  const max = options.maxLength
  if (max !== undefined) {
    rules.push(v.maxCodePoints(max, says(code, (i) => `must be at most ${max} characters long (got ${i.received}); split it into several messages`, options.maxLengthStatus)))
  }
  const pattern = options.pattern
  if (pattern) {
    rules.push(v.regex(pattern, says(code, (i) => `must be ${options.patternHint ?? `match ${pattern.source}`} (got ${JSON.stringify(String(i.input).slice(0, 60))})`)))
  }
  return v.pipe(v.string(wrongType('must be a string')), ...rules)
}

export interface IntegerOptions {
  code: string
  min?: number
  max?: number
  /** Accept decimal strings (query parameters, path parameters, form fields). */
  fromString?: boolean
}

const quoted = (value: unknown) => (typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeName(value))

export function integer(options: IntegerOptions): Schema<number> {
  const { code, min, max } = options
  const rules: v.PipeItem<number, number, v.BaseIssue<unknown>>[] = [v.safeInteger(says(code, 'must be a whole number'))]
  if (min !== undefined) rules.push(v.minValue(min, says(code, `must be at least ${min}`)))
  if (max !== undefined) rules.push(v.maxValue(max, says(code, `must be at most ${max}`)))
  if (!options.fromString) return v.pipe(v.number(wrongType('must be an integer')), ...rules)
  // A path or query parameter is text: a decimal integer is turned into its number before the rules above.
  const fromText = custom<number>({ type: 'integer' }, (value) => {
    if (typeof value === 'number') return value
    if (typeof value === 'string' && /^-?\d{1,16}$/.test(value.trim())) return Number(value.trim())
    throw new FieldProblem(code, `must be an integer, got ${quoted(value)}`)
  })
  return v.pipe(fromText, ...rules)
}

export function oneOf<const V extends readonly string[]>(values: V, code: string): Schema<V[number]> {
  return v.picklist(values, wrongValue(code, (input) => `must be one of ${values.join(', ')} (got ${quoted(input)})`))
}

export interface ArrayOptions {
  minItems?: number
  maxItems?: number
  /** Error status and code when maxItems is passed. */
  tooMany?: { status: ApiErrorStatus; code: string }
}

/** An array: its length is checked before its items, so an oversized batch is refused without reading them. */
export function array<T>(item: Schema<T>, options: ArrayOptions = {}): Schema<T[]> {
  const rules: v.PipeItem<unknown[], unknown[], v.BaseIssue<unknown>>[] = []
  const { minItems, maxItems } = options
  if (minItems !== undefined) rules.push(v.minLength(minItems, says('invalid_array', `must hold at least ${minItems} item${minItems === 1 ? '' : 's'}`)))
  if (maxItems !== undefined) {
    const tooMany = options.tooMany ?? { status: 400, code: 'invalid_array' }
    rules.push(v.maxLength(maxItems, says(tooMany.code, (i) => `must hold at most ${maxItems} items (got ${i.received}); split it into several requests`, tooMany.status)))
  }
  return v.pipe(v.array(v.unknown(), wrongType('must be an array')), ...rules, v.array(item)) as unknown as Schema<T[]>
}

/** A JSON object (not an array) with known fields. Unknown fields are ignored and not copied into the result. */
export function object<E extends v.ObjectEntries>(entries: E, description?: string): Schema<v.InferOutput<v.ObjectSchema<E, undefined>>> {
  const checked = v.pipe(
    v.unknown(),
    v.check((value) => typeof value === 'object' && value !== null && !Array.isArray(value), wrongType('must be a JSON object')),
    v.object(entries, says('missing_field', 'is required')),
  )
  return description ? v.pipe(checked, v.description(description)) : checked
}
