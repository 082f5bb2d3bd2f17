import { Hono } from '../../hono-app.js'
import { listGroups } from '../../../db/queries/groups.js'
import { createSession, getSession, listSessions, requestReconnect, requestSessionDelete } from '../../../db/queries/sessions.js'
import { updateSessionSettings } from '../../../db/lifecycle/settings.js'
import { DEFAULT_SESSION, SESSION_NAME_PATTERN, type PresenceSetting } from '../../../db/types.js'
import { ApiError } from '../../errors.js'
import { obtainPairingCode } from '../../pairing.js'
import { normalizePhone } from '../../phone.js'
import { sessionNameSchema } from '../../schemas.js'
import { field, inlineMessage, pageOf, type DashboardContext, type DashboardEnv, type DashboardShared } from '../context.js'
import type { Notice } from '../views/layout.js'
import { DeleteSessionPage, liveSession, SessionsPage } from '../views/sessions.js'
import { singleQuery } from '../../query.js'
import { parse } from '../../validation.js'

/** The sending-limits form's fields, as `PATCH /api/sessions/:name` names them. */
const LIMIT_FIELDS = ['daily_cap', 'warmup_start', 'warmup_days', 'first_contact_daily_cap', 'circuit_breaker_failures', 'quiet_hours', 'time_zone', 'presence'] as const

function noticeFrom(query: Record<string, string>): Notice | null {
  const name = query.name && SESSION_NAME_PATTERN.test(query.name) ? query.name : null
  if (!name) return null
  switch (query.done) {
    case 'created':
      return { kind: 'ok', text: `Session “${name}” created. A runner picks it up within a few seconds and its QR code appears below.` }
    case 'regenerate':
      return { kind: 'ok', text: `Reconnection requested for “${name}”: the number is logged out and a fresh QR code follows shortly.` }
    case 'deleted':
      return { kind: 'ok', text: `Session “${name}” is being deleted: its runner logs the number out and removes it.` }
    case 'gone':
      return { kind: 'bad', text: `Session “${name}” does not exist (any more).` }
    case 'deleting':
      return { kind: 'warn', text: `Session “${name}” is already being deleted.` }
    case 'default':
      return { kind: 'bad', text: 'The default session cannot be deleted; use Regenerate QR to link another number to it.' }
    case 'pairing':
      return { kind: 'ok', text: `Pairing code ready for “${name}”: it is shown on the card below. Enter it on the phone before the QR code runs out.` }
    case 'settings':
      return { kind: 'ok', text: `Sending limits of “${name}” saved. A session holding for a limit decides again within 15 seconds.` }
    default:
      return null
  }
}

/**
 * The sessions page's live JSON (polled by assets/live.js), served at `/dashboard/sessions.json`: beside
 * `/sessions/:name/…` a static `/sessions/live.json` made Hono fall back from its RegExpRouter to the slower
 * TrieRouter for the whole app, the API's send path included.
 */
export function liveSessionsJson(shared: DashboardShared) {
  return async (c: DashboardContext) => {
    const now = shared.clock()
    const sessions = await listSessions(c.get('db'))
    return c.json({ sessions: sessions.map((s) => liveSession(s, now)) })
  }
}

/** Sessions page, add / regenerate / delete. */
export function sessionPages(shared: DashboardShared) {
  const app = new Hono<DashboardEnv>()
  const back = (done: string, name: string) => `${shared.base}/sessions?done=${done}&name=${encodeURIComponent(name)}`

  app.get('/', async (c) => {
    const sessions = await listSessions(c.get('db'))
    const groups = new Map(await Promise.all(sessions.map(async (s) => [s.name, await listGroups(c.get('db'), s.name)] as const)))
    return c.html(<SessionsPage page={pageOf(shared, c)} sessions={sessions} notice={noticeFrom(singleQuery(c))} groups={groups} />)
  })

  app.post('/', async (c) => {
    const raw = field(c.var.form, 'name') ?? ''
    const renderError = async (error: string, status: 409 | 422) => {
      const sessions = await listSessions(c.get('db'))
      return c.html(<SessionsPage page={pageOf(shared, c)} sessions={sessions} form={{ name: raw, error }} />, status)
    }
    let name: string
    try {
      name = parse(sessionNameSchema, raw.trim(), '')
    } catch (err) {
      return renderError(inlineMessage(err), 422)
    }
    const result = await createSession(c.get('db'), name)
    if (result === 'exists') return renderError(`A session named “${name}” already exists; pick another name.`, 409)
    if (result === 'deleting') return renderError(`Session “${name}” is still being deleted; wait until it is gone, then add it again.`, 409)
    return c.redirect(back('created', name), 303)
  })

  app.post('/:name/regenerate', async (c) => {
    const name = c.req.param('name')
    if (!SESSION_NAME_PATTERN.test(name)) return c.redirect(`${shared.base}/sessions`, 303)
    const result = await requestReconnect(c.get('db'), name)
    return c.redirect(back(result === 'ok' ? 'regenerate' : result === 'deleting' ? 'deleting' : 'gone', name), 303)
  })

  const renderNotice = async (c: DashboardContext, text: string, status: 404 | 409 | 422 | 504) => {
    const sessions = await listSessions(c.get('db'))
    return c.html(<SessionsPage page={pageOf(shared, c)} sessions={sessions} notice={{ kind: 'bad', text }} />, status)
  }

  app.post('/:name/pairing-code', async (c) => {
    const name = c.req.param('name')
    if (!SESSION_NAME_PATTERN.test(name)) return c.redirect(`${shared.base}/sessions`, 303)
    const phone = normalizePhone(field(c.var.form, 'phone') ?? '')
    if (!phone) return renderNotice(c, 'The phone to link must be 7–15 digits with the country code, e.g. 9611234567.', 422)
    try {
      await obtainPairingCode(c.get('db'), name, phone, { waitMs: shared.config.pairingCodeWaitMs })
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      return renderNotice(c, err.message, err.status === 404 || err.status === 504 ? err.status : 409)
    }
    return c.redirect(back('pairing', name), 303)
  })

  // Blank fields go back to the runner's default; the API's own schema checks the rest (PATCH /api/sessions/:name).
  app.post('/:name/settings', async (c) => {
    const name = c.req.param('name')
    if (!SESSION_NAME_PATTERN.test(name)) return c.redirect(`${shared.base}/sessions`, 303)
    const raw: Record<string, unknown> = {}
    const typed: Record<string, string> = {}
    for (const key of LIMIT_FIELDS) {
      const v = field(c.var.form, key)
      if (v === undefined) continue
      const t = v.trim()
      typed[key] = v
      raw[key] = t === '' ? null : key === 'quiet_hours' || key === 'time_zone' || key === 'presence' ? t : /^\d{1,9}$/.test(t) ? Number(t) : t
    }
    let body
    try {
      body = parse(shared.schemas.sessionSettingsBody, raw, '')
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      // Every refused limit beside its field, the form open with what was typed.
      const errors: Record<string, string> = {}
      for (const problem of err.errors ?? []) errors[problem.path] ??= problem.message
      const sessions = await listSessions(c.get('db'))
      const notice: Notice = { kind: 'bad', text: `The limits of “${name}” were not saved: ${Object.keys(errors).length === 1 ? 'one field needs' : 'some fields need'} fixing.` }
      return c.html(<SessionsPage page={pageOf(shared, c)} sessions={sessions} limits={{ session: name, values: typed, errors }} notice={notice} />, 422)
    }
    const ok = await updateSessionSettings(c.get('db'), name, {
      dailyCap: body.daily_cap, warmupStart: body.warmup_start, warmupDays: body.warmup_days,
      firstContactCap: body.first_contact_daily_cap, breakerFailures: body.circuit_breaker_failures,
      quietHours: body.quiet_hours, timeZone: body.time_zone, presence: body.presence as PresenceSetting | null | undefined,
    })
    return c.redirect(back(ok ? 'settings' : 'gone', name), 303)
  })

  app.get('/:name/delete', async (c) => {
    const name = c.req.param('name')
    if (!SESSION_NAME_PATTERN.test(name)) return c.redirect(`${shared.base}/sessions`, 303)
    if (name === DEFAULT_SESSION) return c.redirect(back('default', name), 303)
    const session = await getSession(c.get('db'), name)
    if (!session) return c.redirect(back('gone', name), 303)
    if (session.deleteRequestedAt) return c.redirect(back('deleting', name), 303)
    return c.html(<DeleteSessionPage page={pageOf(shared, c)} session={session} />)
  })

  app.post('/:name/delete', async (c) => {
    const name = c.req.param('name')
    if (!SESSION_NAME_PATTERN.test(name)) return c.redirect(`${shared.base}/sessions`, 303)
    if (name === DEFAULT_SESSION) return c.redirect(back('default', name), 303)
    const result = await requestSessionDelete(c.get('db'), name)
    if (result === 'ok') shared.gate.forget(name)
    return c.redirect(back(result === 'ok' ? 'deleted' : result === 'deleting' ? 'deleting' : 'gone', name), 303)
  })

  return app
}
