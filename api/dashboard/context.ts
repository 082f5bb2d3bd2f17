import type { Context } from 'hono'
import type { MediaType } from '../../db/types.js'
import type { ApiConfig } from '../config.js'
import type { AppEnv } from '../env.js'
import type { KindRules, MediaRuntime } from '../routes/send-media.js'
import type { Schemas } from '../schemas.js'
import type { SessionGate } from '../session-gate.js'
import type { DashboardAuth } from './auth.js'
import type { Page } from './views/layout.js'

/** Hono environment of the dashboard: the API's variables plus the signed-in request's own. */
export interface DashboardEnv {
  Variables: AppEnv['Variables'] & {
      /** Set by `requireSignIn` on every signed-in request. */
      signedIn: { session: string; csrf: string }
      /** The POSTed form, read once (with a byte limit) by the CSRF check. */
      form: FormData
    }
}

export type DashboardContext = Context<DashboardEnv>

/** What the route files share, built once by `createDashboard`. */
export interface DashboardShared {
  /** Mount path, e.g. `/dashboard`; every link and the cookie's Path use it. */
  base: string
  cookieName: string
  auth: DashboardAuth
  config: ApiConfig
  schemas: Schemas
  gate: SessionGate
  /** The API's rules for each file kind (size, type, voice-note conversion), built on the API's MediaRuntime. */
  kinds: Record<MediaType, KindRules>
  /** The API's MediaRuntime (whether voice notes can be converted here). */
  media: MediaRuntime
  clock: () => number
}

/** The page props of a signed-in request. */
export function pageOf(shared: DashboardShared, c: DashboardContext): Page {
  return { base: shared.base, csrf: c.var.signedIn.csrf, now: shared.clock() }
}

/**
 * A same-dashboard path to return to after a POST, or `fallback`. Only paths under the mount
 * point are accepted, so a crafted `back` or `next` cannot send anyone to another site.
 */
export function safeReturn(base: string, value: unknown, fallback: string): string {
  if (typeof value !== 'string' || value.length > 2000) return fallback
  if (value !== base && !value.startsWith(`${base}/`) && !value.startsWith(`${base}?`)) return fallback
  if (/[\\\r\n\t]|\/\/|\/\.\.?(\/|$|\?)/.test(value)) return fallback
  return value
}

/** A text field of the form (undefined when absent or a file). */
export function field(form: FormData, name: string): string | undefined {
  const v = form.get(name)
  return typeof v === 'string' ? v : undefined
}

/** The message of a schema error without its field path, first letter capitalised, for inline display. */
export function inlineMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.charAt(0).toUpperCase() + text.slice(1)
}
