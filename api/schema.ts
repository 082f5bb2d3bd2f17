/**
 * A small schema layer: each definition both validates a request value and describes itself as
 * OpenAPI 3.1 JSON Schema, so `/api/openapi.json` is generated from the very objects that check
 * requests. An object or array checks every field and item, then throws one `ApiError` whose message names
 * the first problem's field (`messages[3].phone: …`) and how to fix it, and whose `errors` lists them all.
 */
import { ApiError, type ApiErrorStatus, type FieldError } from './errors.js'

export type JsonSchema = { [key: string]: unknown }

export interface Schema<T> {
  /** OpenAPI 3.1 (JSON Schema 2020-12) description of the accepted value. */
  readonly jsonSchema: JsonSchema
  /** False when the field may be absent (then `parse` receives undefined). */
  readonly required: boolean
  /** Checks and normalizes `value`; `path` names it in error messages. */
  parse(value: unknown, path: string): T
}

export type Infer<S> = S extends Schema<infer T> ? T : never

/** Thrown by schemas; the status is 400 unless a rule says otherwise. */
export function invalid(path: string, code: string, message: string, status: ApiErrorStatus = 400): ApiError {
  return new ApiError(status, code, path ? `${path}: ${message}` : message, { errors: [{ path, code, message }] })
}

/**
 * At most this many field problems are listed in one answer: a batch of a thousand bad items would otherwise
 * answer with thousands, and the first hundred are enough to fix a request or a form.
 */
export const MAX_FIELD_ERRORS = 100

/**
 * Collects the problems of several checks instead of stopping at the first: `check` runs one and keeps its
 * problems, `done` throws the first problem's error (status, code and message unchanged) carrying them all.
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
        // Every schema rule throws through `invalid`, which lists its field; any other refusal is the part's own.
        for (const e of err.errors ?? [{ path, code: err.code, message: err.message }]) if (all.length < MAX_FIELD_ERRORS) all.push(e)
        return undefined
      }
    },
    done(): void {
      if (first) throw new ApiError(first.status, first.code, first.message, { errors: all })
    },
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/** A schema from a JSON Schema fragment and a parse function. */
export function custom<T>(jsonSchema: JsonSchema, parse: (value: unknown, path: string) => T): Schema<T> {
  return { jsonSchema, required: true, parse }
}

/** Adds `description`/`example` to a schema's JSON Schema without changing its checks. */
export function describe<T>(schema: Schema<T>, description: string, example?: unknown): Schema<T> {
  return {
    ...schema,
    jsonSchema: { ...schema.jsonSchema, description, ...(example === undefined ? {} : { examples: [example] }) },
    parse: schema.parse.bind(schema),
  }
}

/** The field may be absent (or JSON null); then `fallback` is used. */
export function optional<T>(schema: Schema<T>): Schema<T | undefined>
export function optional<T>(schema: Schema<T>, fallback: T): Schema<T>
export function optional<T>(schema: Schema<T>, fallback?: T): Schema<T | undefined> {
  return {
    jsonSchema: fallback === undefined ? schema.jsonSchema : { ...schema.jsonSchema, default: fallback },
    required: false,
    parse: (value, path) => (value === undefined || value === null ? fallback : schema.parse(value, path)),
  }
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

export function string(options: StringOptions): Schema<string> {
  const js: JsonSchema = { type: 'string' }
  if (options.minLength !== undefined) js.minLength = options.minLength
  else if (options.notBlank) js.minLength = 1
  if (options.maxLength !== undefined) js.maxLength = options.maxLength
  if (options.pattern) js.pattern = options.pattern.source
  return custom(js, (raw, path) => {
    if (raw === undefined) throw invalid(path, 'missing_field', 'is required')
    if (typeof raw !== 'string') throw invalid(path, 'invalid_type', `must be a string, got ${typeName(raw)}`)
    const value = options.wellFormed && raw.startsWith('\uFEFF') ? raw.slice(1) : raw
    if (options.wellFormed && (LONE_SURROGATE.test(value) || value.includes('\u0000'))) {
      throw invalid(path, options.code, 'must be well-formed Unicode text (no unpaired surrogate halves, no NUL characters)')
    }
    if (options.notBlank && value.trim().length === 0) throw invalid(path, options.code, 'must not be empty or only whitespace')
    const n = options.minLength !== undefined || options.maxLength !== undefined ? charCount(value) : 0
    if (options.minLength !== undefined && n < options.minLength) {
      throw invalid(path, options.code, `must be at least ${options.minLength} characters long`)
    }
    if (options.maxLength !== undefined && n > options.maxLength) {
      throw invalid(path, options.code, `must be at most ${options.maxLength} characters long (got ${n}); split it into several messages`, options.maxLengthStatus)
    }
    if (options.pattern && !options.pattern.test(value)) {
      throw invalid(path, options.code, `must be ${options.patternHint ?? `match ${options.pattern.source}`} (got ${JSON.stringify(value.slice(0, 60))})`)
    }
    return value
  })
}

export interface IntegerOptions {
  code: string
  min?: number
  max?: number
  /** Accept decimal strings (query parameters, path parameters, form fields). */
  fromString?: boolean
}

export function integer(options: IntegerOptions): Schema<number> {
  const js: JsonSchema = { type: 'integer' }
  if (options.min !== undefined) js.minimum = options.min
  if (options.max !== undefined) js.maximum = options.max
  return custom(js, (value, path) => {
    if (value === undefined) throw invalid(path, 'missing_field', 'is required')
    let n: number
    if (typeof value === 'number') n = value
    else if (options.fromString && typeof value === 'string' && /^-?\d{1,16}$/.test(value.trim())) n = Number(value.trim())
    else throw invalid(path, options.fromString ? options.code : 'invalid_type', `must be an integer, got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeName(value)}`)
    if (!Number.isSafeInteger(n)) throw invalid(path, options.code, 'must be a whole number')
    if (options.min !== undefined && n < options.min) throw invalid(path, options.code, `must be at least ${options.min}`)
    if (options.max !== undefined && n > options.max) throw invalid(path, options.code, `must be at most ${options.max}`)
    return n
  })
}

export function oneOf<const V extends readonly string[]>(values: V, code: string): Schema<V[number]> {
  return custom({ type: 'string', enum: [...values] }, (value, path) => {
    if (value === undefined) throw invalid(path, 'missing_field', 'is required')
    if (typeof value !== 'string' || !values.includes(value)) {
      throw invalid(path, code, `must be one of ${values.join(', ')} (got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeName(value)})`)
    }
    return value
  })
}

export interface ArrayOptions {
  minItems?: number
  maxItems?: number
  /** Error status and code when maxItems is passed. */
  tooMany?: { status: ApiErrorStatus; code: string }
}

export function array<T>(item: Schema<T>, options: ArrayOptions = {}): Schema<T[]> {
  const js: JsonSchema = { type: 'array', items: item.jsonSchema }
  if (options.minItems !== undefined) js.minItems = options.minItems
  if (options.maxItems !== undefined) js.maxItems = options.maxItems
  return custom(js, (value, path) => {
    if (value === undefined) throw invalid(path, 'missing_field', 'is required')
    if (!Array.isArray(value)) throw invalid(path, 'invalid_type', `must be an array, got ${typeName(value)}`)
    if (options.minItems !== undefined && value.length < options.minItems) {
      throw invalid(path, 'invalid_array', `must hold at least ${options.minItems} item${options.minItems === 1 ? '' : 's'}`)
    }
    if (options.maxItems !== undefined && value.length > options.maxItems) {
      const t = options.tooMany ?? { status: 400, code: 'invalid_array' }
      throw invalid(path, t.code, `must hold at most ${options.maxItems} items (got ${value.length}); split it into several requests`, t.status)
    }
    const out = new Array<T>(value.length)
    everyProblem(value.length, (i) => `${path}[${i}]`, (i, at) => item.parse(value[i], at), (i, parsed) => {
      out[i] = parsed
    })
    return out
  })
}

/**
 * Parses `count` parts into `out` (an array, or an object keyed by `keyOf`). A valid value takes the plain loop
 * (nothing allocated for problems, which halved the throughput of valid sends when every part was wrapped);
 * at the first problem the rest are checked too and every problem is thrown at once.
 */
function everyProblem<T>(
  count: number,
  pathOf: (i: number) => string,
  parsePart: (i: number, at: string) => T,
  keep: (i: number, parsed: T) => void,
): void {
  for (let i = 0; i < count; i++) {
    try {
      keep(i, parsePart(i, pathOf(i)))
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      // Parsing is pure, so part i fails again the same way here, then the rest are checked too.
      const problems = gatherProblems()
      for (let j = i; j < count; j++) {
        const at = pathOf(j)
        problems.check(at, () => parsePart(j, at))
      }
      problems.done()
    }
  }
}

type Shape = Record<string, Schema<unknown>>
export type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> }

/**
 * A JSON object with known fields. Unknown fields are ignored (clients may send extra data),
 * and they are not copied into the result.
 */
export function object<S extends Shape>(shape: S, description?: string): Schema<ObjectOf<S>> & { shape: S } {
  const properties: Record<string, JsonSchema> = {}
  const required: string[] = []
  for (const [k, s] of Object.entries(shape)) {
    properties[k] = s.jsonSchema
    if (s.required) required.push(k)
  }
  const entries = Object.entries(shape)
  const js: JsonSchema = { type: 'object', properties, ...(required.length ? { required } : {}) }
  if (description) js.description = description
  return {
    shape,
    jsonSchema: js,
    required: true,
    parse(value, path) {
      if (value === undefined) throw invalid(path, 'missing_field', 'is required')
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw invalid(path, 'invalid_type', `must be a JSON object, got ${typeName(value)}`)
      }
      const out: Record<string, unknown> = {}
      everyProblem(entries.length, (i) => (path ? `${path}.${entries[i]![0]}` : entries[i]![0]), (i, at) => {
        const k = entries[i]![0]
        const v = Object.prototype.hasOwnProperty.call(value, k) ? (value as Record<string, unknown>)[k] : undefined
        return entries[i]![1].parse(v, at)
      }, (i, parsed) => {
        out[entries[i]![0]] = parsed
      })
      return out as ObjectOf<S>
    },
  }
}
