import type { Context } from 'hono'
import { ApiError } from './errors.js'

/**
 * The query parameters of a request, each given at most once. A repeated one (`status=a&status=b`) is refused with
 * 400 `repeated_parameter` rather than silently reduced to its first value: the caller meant something this API
 * does not do (filter by several values), and would otherwise get a listing that looks like an answer to it.
 * @example const q = schemas.messagesQuery.parse(singleQuery(c), '')
 */
export function singleQuery(c: Context): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, values] of Object.entries(c.req.queries())) {
    if (values.length > 1) {
      throw new ApiError(400, 'repeated_parameter', `${name}: is given ${values.length} times; give each query parameter once`)
    }
    out[name] = values[0]!
  }
  return out
}
