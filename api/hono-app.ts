/**
 * The gateway's `Hono`: Hono's own class with its TrieRouter alone. `hono`'s default bundles two routers (RegExpRouter,
 * with TrieRouter as the fallback for the routes it cannot compile) that answer every route the same; one is enough,
 * and the other weighs about 2 KiB gzipped in the worker bundle (infra/README.md). Every app and sub-app of api/ is
 * built from this class, so the Node app and the worker route alike.
 */
import type { Env, Schema } from 'hono'
import { HonoBase } from 'hono/hono-base'
import { TrieRouter } from 'hono/router/trie-router'
import type { BlankSchema } from 'hono/types'

export class Hono<E extends Env = Env, S extends Schema = BlankSchema, BasePath extends string = '/'> extends HonoBase<E, S, BasePath> {
  constructor(options: ConstructorParameters<typeof HonoBase<E, S, BasePath>>[0] = {}) {
    super(options)
    this.router = options.router ?? new TrieRouter()
  }
}
