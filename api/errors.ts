import type { Context, ErrorHandler, NotFoundHandler } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { HTTPException } from 'hono/http-exception'
import { DatabaseUnavailableError, ContentionError } from '../db/driver.js'
import type { AppEnv } from './env.js'

/** HTTP statuses an `ApiError` may carry (the list, plus 401, 503, 504: no runner answered in time, a pruned file's 410, and a number check's 429 and 502). */
export type ApiErrorStatus = 400 | 401 | 404 | 409 | 410 | 413 | 415 | 422 | 429 | 500 | 502 | 503 | 504

/** One problem with one field of a request: `path` names it (`messages[3].phone`, '' for the whole body). */
export interface FieldError {
  path: string
  code: string
  /** What is wrong with the field, without its path (`is required`). */
  message: string
}

/**
 * The one error type handlers throw. `onError` renders it as
 * `{"success":false,"error":"<what is wrong and how to fix it>","code":"<stable_machine_code>"}`:
 * the guide's clients read `error` as a string, programs switch on `code`. A validation failure also carries
 * `errors`, every field problem of the request (`error` and `code` are the first one's).
 * @example throw new ApiError(404, 'unknown_session', 'session "sales" does not exist; create it with POST /api/sessions')
 */
export class ApiError extends Error {
  readonly errors: readonly FieldError[] | undefined

  constructor(
    readonly status: ApiErrorStatus,
    readonly code: string,
    message: string,
    options?: { cause?: unknown; errors?: readonly FieldError[] },
  ) {
    super(message, options)
    this.name = 'ApiError'
    this.errors = options?.errors
  }
}

/** The JSON body of every error answer; `errors` only when the request was validated field by field. */
export function errorBody(code: string, error: string, errors?: readonly FieldError[]): { success: false; error: string; code: string; errors?: readonly FieldError[] } {
  return errors ? { success: false, error, code, errors } : { success: false, error, code }
}

/** Renders an ApiError (or a database outage) as JSON; anything else is logged and becomes a bare 500. */
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof ApiError) {
    if (err.status >= 500) c.get('log')?.error({ err, requestId: c.get('requestId') }, 'request failed')
    return c.json(errorBody(err.code, err.message, err.errors), err.status as ContentfulStatusCode)
  }
  if (err instanceof DatabaseUnavailableError || err instanceof ContentionError) {
    c.get('log')?.warn({ err: { name: err.name, message: err.message }, requestId: c.get('requestId') }, 'database unavailable')
    c.header('Retry-After', '5')
    return c.json(errorBody('database_unavailable', 'The database is unavailable right now; nothing was written. Retry in a few seconds.'), 503)
  }
  if (err instanceof HTTPException) {
    // Thrown by Hono's own helpers; keep their status but answer in our shape.
    const status = err.status
    return c.json(errorBody(status === 413 ? 'body_too_large' : 'http_error', err.message || 'Request refused'), status)
  }
  c.get('log')?.error({ err, requestId: c.get('requestId'), method: c.req.method, path: c.req.path }, 'unhandled error')
  return c.json(errorBody('internal_error', `Internal server error (request id ${c.get('requestId') ?? 'unknown'}); the details are in the server log.`), 500)
}

/** Unknown routes answer JSON too, never Hono's plain-text 404. */
export const notFound: NotFoundHandler<AppEnv> = (c: Context<AppEnv>) =>
  c.json(
    errorBody('not_found', `No route ${c.req.method} ${c.req.path}. The API reference is at /api/openapi.json and /docs.`),
    404,
  )
