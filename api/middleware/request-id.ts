import type { Context } from 'hono'
import type { AppEnv } from '../env.js'

/**
 * The key under which a serving runtime passes, in the request's `env`, an id it has already chosen and set on
 * the response itself (api/node.ts does). A symbol, so that no Workers binding can be mistaken for it.
 */
export const CHOSEN_REQUEST_ID = Symbol.for('wa-gateway.request-id')

export interface RequestIdEnv {
  [CHOSEN_REQUEST_ID]?: string
}

const WELL_FORMED = /^[\w\-=]{1,255}$/

/**
 * The request id: the caller's own `X-Request-Id` when it is well-formed (letters, digits, `_`, `-`, `=`; at most
 * 255 characters), so a request can be followed from the caller's logs into ours; otherwise a new UUID.
 */
export function chooseRequestId(given: string | null | undefined): string {
  return given && WELL_FORMED.test(given) ? given : crypto.randomUUID()
}

/**
 * Puts the request id in `c.get('requestId')` (every log line and 500 message of the request names it) and in the
 * `X-Request-Id` response header. Called by the app's per-request middleware (api/app.ts), with the rest of a
 * request's bookkeeping.
 *
 * Where the runtime has set the header on its own response object (Node: api/node.ts, on the ServerResponse) and
 * passes the id in `env[CHOSEN_REQUEST_ID]`, this only records it. Setting it with `c.header()` makes the
 * response's headers a `Headers` object, which the Node adapter then copies back into a plain one on every
 * response (measured with callgrind on the API's main thread: ~3 % of the instructions of a `POST /api/send`).
 */
export function assignRequestId(c: Context<AppEnv>): void {
  const chosen = (c.env as RequestIdEnv | undefined)?.[CHOSEN_REQUEST_ID]
  if (typeof chosen === 'string') {
    c.set('requestId', chosen)
    return
  }
  const id = chooseRequestId(c.req.header('X-Request-Id'))
  c.set('requestId', id)
  c.header('X-Request-Id', id)
}
