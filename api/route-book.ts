/**
 * Routes declared once: a `RouteDeclaration` holds an operation's method, path, parameters, body and answers, and
 * `RouteBook.serve` both registers its handler on a Hono app and keeps the declaration, from which
 * `api/openapi.ts` generates `/api/openapi.json` and `/docs`. The handler receives the parameters, query and body
 * already checked by the declared schemas, so what is documented is what is checked, and nothing is served
 * undocumented.
 */
import type { Context, Hono, MiddlewareHandler } from 'hono'
import { readJson } from './body.js'
import type { AppEnv } from './env.js'
import { singleQuery } from './query.js'
import { parse, type Infer, type JsonSchema, type Schema } from './validation.js'

/** The document's groups, in the order a reader meets them (their descriptions are in `api/openapi.ts`). */
export type Tag = 'Sending' | 'Sessions' | 'Messages' | 'Inbound' | 'Contacts' | 'Webhooks' | 'Reference' | 'Health'

export interface JsonBody<S extends Schema = Schema> {
  schema: S
  /** The body may be left out (`regenerate-qr`): then the schema sees `{}`. */
  optional?: boolean
  /** Reads the raw body within the route's limits (default: `readJson` within `JSON_BODY_LIMIT`). */
  read?: (c: Context<AppEnv>) => Promise<unknown>
}

export interface RouteDeclaration {
  method: 'get' | 'post' | 'patch' | 'delete'
  /** OpenAPI form, `/api/sessions/{name}`; Hono's `:name` is derived from it. */
  path: string
  /** Stable: a client generated from the document names its method after it. */
  operationId: string
  tag: Tag
  summary: string
  description?: string
  /** False for the routes that need no key (`/healthz`, `/readyz`). */
  auth?: false
  params?: Record<string, Schema>
  query?: Schema
  json?: JsonBody
  /**
   * A multipart form the handler reads itself (its size and parts are limited by `readMultipart`): its text fields'
   * schema, and its required file fields with their descriptions.
   */
  multipart?: {
    fields: Schema
    files: Record<string, string>
    /** The same operation also takes JSON (media by `url` instead of an uploaded file): that body's schema. */
    orJson?: Schema
  }
  /** Accepts an `Idempotency-Key` header. */
  idempotent?: boolean
  ok: JsonSchema
  /** The success answer's media type when it is not JSON (a file: `ok` is then `{type: 'string', format: 'binary'}`). */
  okMedia?: string
  okExample?: unknown
  /** Error statuses besides 401 and 503, which every keyed, database-reading operation can answer. */
  errors: number[]
}

type Params<D extends RouteDeclaration> = D['params'] extends Record<string, Schema> ? { [K in keyof D['params']]: Infer<D['params'][K]> } : Record<string, never>
type QueryOf<D extends RouteDeclaration> = D['query'] extends Schema ? Infer<D['query']> : undefined
type BodyOf<D extends RouteDeclaration> = D['json'] extends JsonBody<infer S> ? Infer<S> : undefined

/** What a declared route's handler receives, checked by its declaration's schemas. */
export interface Checked<D extends RouteDeclaration> {
  params: Params<D>
  query: QueryOf<D>
  body: BodyOf<D>
}

export type DeclaredHandler<D extends RouteDeclaration> = (c: Context<AppEnv>, input: Checked<D>) => Response | Promise<Response>

const honoPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1')

/** The declared routes of one app, in the order they were served. */
export class RouteBook {
  readonly routes: RouteDeclaration[] = []

  /**
   * Serves `declaration` on `app` (whose mount point is `prefix`, e.g. '/api'): `middleware` run first, then the
   * path parameters, the query and the body are checked (one answer lists every problem of the part that failed),
   * then `handler` runs with them.
   */
  serve<const D extends RouteDeclaration>(app: Hono<AppEnv>, prefix: string, declaration: D, handler: DeclaredHandler<D>, ...middleware: MiddlewareHandler<AppEnv>[]): void {
    if (!declaration.path.startsWith(prefix)) throw new Error(`${declaration.path} is not under ${prefix}`)
    this.routes.push(declaration)
    const { params, query, json } = declaration
    const checkThenHandle: MiddlewareHandler<AppEnv> = async (c) => {
      const input = { params: {}, query: undefined, body: undefined } as Record<string, unknown>
      if (params) {
        const values: Record<string, unknown> = {}
        for (const [name, schema] of Object.entries(params)) values[name] = parse(schema, c.req.param(name), name)
        input.params = values
      }
      if (query) input.query = parse(query, singleQuery(c))
      if (json) {
        const raw = await (json.read ? json.read(c) : readJson(c.req.raw, c.get('config').jsonBodyLimit, json.optional ? { allowEmpty: true } : undefined))
        input.body = parse(json.schema, raw ?? (json.optional ? {} : raw))
      }
      return handler(c, input as unknown as Checked<D>)
    }
    app.on(declaration.method.toUpperCase(), [honoPath(declaration.path.slice(prefix.length)) || '/'], ...middleware, checkThenHandle)
  }
}
