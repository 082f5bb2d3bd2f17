/**
 * The gateway's `Hono`: Hono's own class with its RegExpRouter alone, which matches a request with one regular
 * expression. `hono`'s default wraps it in a SmartRouter with TrieRouter as the fallback for routes it cannot compile;
 * here such a route throws UnsupportedPathError when it is added, so the app refuses to start instead of routing every
 * request, `/api/send` included, through the slower fallback (api/README.md, The dashboard). That also keeps the
 * fallback out of the worker bundle. Every app and sub-app of api/ is built from this class.
 */
import type { Env, Schema } from 'hono'
import { HonoBase } from 'hono/hono-base'
import { RegExpRouter } from 'hono/router/reg-exp-router'
import type { BlankSchema } from 'hono/types'

export class Hono<E extends Env = Env, S extends Schema = BlankSchema, BasePath extends string = '/'> extends HonoBase<E, S, BasePath> {
  constructor(options: ConstructorParameters<typeof HonoBase<E, S, BasePath>>[0] = {}) {
    super(options)
    this.router = options.router ?? new RegExpRouter()
  }
}
