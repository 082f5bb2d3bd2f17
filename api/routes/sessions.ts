import { Hono } from '../hono-app.js'
import { getGroup, listGroups, requestGroupRefresh, type GroupRecord } from '../../db/queries/groups.js'
import { createSession, getSession, listSessions, requestReconnect, requestSessionDelete } from '../../db/queries/sessions.js'
import { updateSessionSettings } from '../../db/lifecycle/settings.js'
import { readRunnerKey } from '../../db/queries/proxy.js'
import { maskProxyUrl, sealProxyUrl } from '../../db/shared/proxy.js'
import type { PresenceSetting, SessionSettings } from '../../db/types.js'
import { DEFAULT_SESSION } from '../../db/types.js'
import type { ApiConfig } from '../config.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { formatSession, formatSessionLimits, formatTime } from '../format.js'
import { checkNumber } from '../number-check.js'
import { obtainPairingCode } from '../pairing.js'
import { phoneSchema } from '../phone.js'
import type { RouteBook } from '../route-book.js'
import { groupIdSchema, sessionAnswer, sessionNameSchema, successAnswer, type Schemas } from '../schemas.js'
import type { SessionGate } from '../session-gate.js'

export interface SessionRoutesOptions {
  config: ApiConfig
  schemas: Schemas
  gate: SessionGate
  book: RouteBook
}

function unknownSession(name: string): ApiError {
  return new ApiError(404, 'unknown_session', `Session "${name}" does not exist; GET /api/sessions lists the sessions`)
}

function deleting(name: string): ApiError {
  return new ApiError(409, 'session_deleting', `Session "${name}" is being deleted; wait until it is gone, then create it again if needed`)
}

const named = { name: sessionNameSchema }
const groupAnswer = { type: 'object' }

const formatGroup = (g: GroupRecord) => ({
  id: g.id, subject: g.subject, participants: g.participantCount, announce: g.announce, can_send: g.canSend,
  created_at: formatTime(g.createdAt),
})
const messageAnswer = { type: 'object', properties: { success: { const: true }, message: { type: 'string' } } }

/**
 * `GET /api/status`, `GET|POST /api/sessions`, `GET|PATCH|DELETE /api/sessions/:name`,
 * `POST /api/sessions/:name/pairing-code`, `GET /api/sessions/:name/check/:phone`, `POST /api/regenerate-qr`,
 * `GET /api/sessions/:name/groups[/:id]`, `POST /api/sessions/:name/groups/refresh`.
 */
export function sessionRoutes({ config, schemas, gate, book }: SessionRoutesOptions) {
  const app = new Hono<AppEnv>()

  book.serve(app, '/api', {
    method: 'get', path: '/api/status', operationId: 'getStatus', tag: 'Sessions', summary: 'Status of one session (default: "default")',
    query: schemas.statusQuery, ok: sessionAnswer,
    okExample: { name: 'default', status: 'online', phone: '9611234567', last_seen: '2025-05-11 14:00:00', qr_code: null, detail: null, qr: null },
    errors: [400, 404],
  }, async (c, { query: { session } }) => {
    const found = await getSession(c.get('db'), session)
    // A session whose deletion is pending is already gone for clients, as in GET /api/sessions.
    if (!found || found.deleteRequestedAt) throw unknownSession(session)
    return c.json(formatSession(found))
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/sessions', operationId: 'listSessions', tag: 'Sessions', summary: 'All sessions, "default" first',
    ok: { type: 'array', items: sessionAnswer }, errors: [],
  }, async (c) => {
    const now = new Date()
    return c.json((await listSessions(c.get('db'))).map((s) => formatSession(s, now)))
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/sessions', operationId: 'createSession', tag: 'Sessions', summary: 'Create a session (another WhatsApp number)',
    json: { schema: schemas.createSessionBody }, ok: messageAnswer,
    okExample: { success: true, message: 'Session "support" created — check dashboard for QR code' }, errors: [400, 409, 415],
  }, async (c, { body: { name } }) => {
    const result = await createSession(c.get('db'), name)
    if (result === 'exists') {
      throw new ApiError(409, 'session_exists', `Session "${name}" already exists; pick another name or use the existing session`)
    }
    if (result === 'deleting') throw deleting(name)
    return c.json({ success: true, message: `Session "${name}" created — check dashboard for QR code` })
  })

  book.serve(app, '/api', {
    method: 'delete', path: '/api/sessions/{name}', operationId: 'deleteSession', tag: 'Sessions', summary: 'Disconnect and remove a session ("default" cannot be deleted)',
    params: named, ok: successAnswer, okExample: { success: true }, errors: [400, 404, 409],
  }, async (c, { params: { name } }) => {
    if (name === DEFAULT_SESSION) {
      throw new ApiError(409, 'default_session', 'The "default" session cannot be deleted; use POST /api/regenerate-qr to link another number to it')
    }
    const result = await requestSessionDelete(c.get('db'), name)
    if (result === 'not_found') throw unknownSession(name)
    if (result === 'deleting') throw deleting(name)
    gate.forget(name)
    return c.json({ success: true })
  })

  // Sending limits of one session; each field optional, null = back to the runner's default.
  book.serve(app, '/api', {
    method: 'patch', path: '/api/sessions/{name}', operationId: 'updateSessionSettings', tag: 'Sessions', summary: 'Change a session\'s sending limits (daily cap, warm-up, first-contact cap, circuit breaker, quiet hours, typing before each send)',
    description: 'Each field is optional: an omitted field stays, null returns it to the runner default (.env), 0 turns a cap off. A hold for a cap or quiet hours is re-decided by the runner within 15 s.',
    params: named, json: { schema: schemas.sessionSettingsBody }, ok: { type: 'object' }, errors: [400, 404, 409, 415],
  }, async (c, { params: { name }, body }) => {
    const patch: Partial<SessionSettings> = {
      dailyCap: body.daily_cap,
      warmupStart: body.warmup_start,
      warmupDays: body.warmup_days,
      firstContactCap: body.first_contact_daily_cap,
      breakerFailures: body.circuit_breaker_failures,
      quietHours: body.quiet_hours,
      timeZone: body.time_zone,
      presence: body.presence as PresenceSetting | null | undefined,
    }
    // A body with no setting it knows (`{}`, or a misspelt name) is refused rather than answered as a change.
    if (body.proxy === undefined && Object.values(patch).every((v) => v === undefined)) {
      throw new ApiError(400, 'empty_patch', 'Nothing to change: the body names none of the settings (daily_cap, warmup_start, warmup_days, first_contact_daily_cap, circuit_breaker_failures, quiet_hours, time_zone, presence, proxy)')
    }
    const db = c.get('db')
    // Sealed for the runners before anything is written, so a refusal changes nothing (runner/README.md, Proxy per number).
    let proxy: { sealed: string; url: string } | null | undefined = body.proxy === undefined ? undefined : null
    if (body.proxy) {
      const key = await readRunnerKey(db, 'proxy')
      if (!key) throw new ApiError(409, 'no_runner_key', 'Start a runner first: the proxy is sealed with its key')
      proxy = { sealed: await sealProxyUrl(body.proxy, key, name), url: maskProxyUrl(new URL(body.proxy)) }
    }
    if (!(await updateSessionSettings(db, name, patch, proxy))) {
      const found = await getSession(db, name)
      if (found) throw deleting(name)
      throw unknownSession(name)
    }
    const s = (await getSession(db, name))!
    return c.json({ success: true, name, ...formatSessionLimits(s) })
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/sessions/{name}', operationId: 'getSession', tag: 'Sessions', summary: 'One session: its status, sending limits and today\'s counters',
    params: named, ok: { type: 'object' }, errors: [400, 404],
  }, async (c, { params: { name } }) => {
    const s = await getSession(c.get('db'), name)
    if (!s || s.deleteRequestedAt) throw unknownSession(name)
    return c.json({ ...formatSession(s), ...formatSessionLimits(s) })
  })

  // Link a number by code instead of QR (runner/README.md): waits for the session's runner to answer (api/pairing.ts).
  book.serve(app, '/api', {
    method: 'post', path: '/api/sessions/{name}/pairing-code', operationId: 'requestPairingCode', tag: 'Sessions', summary: 'Link a number by an 8-character code instead of the QR',
    description: 'The session\'s runner asks WhatsApp for a code for this phone; enter it on the phone under Linked devices → Link with phone number instead. Waits for the runner (PAIRING_CODE_WAIT_MS, 15 s by default), else 504.',
    params: named, json: { schema: schemas.pairingCodeBody },
    ok: { type: 'object', required: ['success', 'code'], properties: { success: { const: true }, code: { type: 'string', pattern: '^[A-Z0-9]{4}-[A-Z0-9]{4}$' } } },
    okExample: { success: true, code: 'ABCD-EFGH' }, errors: [400, 404, 409, 415, 504],
  }, async (c, { params: { name }, body: { phone } }) => {
    const code = await obtainPairingCode(c.get('db'), name, phone, { waitMs: config.pairingCodeWaitMs })
    return c.json({ success: true, code })
  })

  // Groups as the session's runner last fetched them (db/README.md, Groups): read from the database, never the runner.
  const liveSession = async (db: AppEnv['Variables']['db'], name: string) => {
    const s = await getSession(db, name)
    if (!s || s.deleteRequestedAt) throw unknownSession(name)
  }

  book.serve(app, '/api', {
    method: 'get', path: '/api/sessions/{name}/groups', operationId: 'listGroups', tag: 'Sessions', summary: 'Groups this number is in',
    params: named, ok: { type: 'array', items: groupAnswer }, errors: [400, 404],
  }, async (c, { params: { name } }) => {
    await liveSession(c.get('db'), name)
    return c.json((await listGroups(c.get('db'), name)).map(formatGroup))
  })

  book.serve(app, '/api', {
    method: 'get', path: '/api/sessions/{name}/groups/{id}', operationId: 'getGroup', tag: 'Sessions', summary: 'One group and its members',
    params: { ...named, id: groupIdSchema }, ok: groupAnswer, errors: [400, 404],
  }, async (c, { params: { name, id } }) => {
    await liveSession(c.get('db'), name)
    const g = await getGroup(c.get('db'), name, id.endsWith('@g.us') ? id : `${id}@g.us`)
    if (!g) throw new ApiError(404, 'unknown_group', `Not in group ${id}`)
    return c.json({ ...formatGroup(g), is_admin: g.isAdmin, members: g.participants, fetched_at: formatTime(g.fetchedAt) })
  })

  book.serve(app, '/api', {
    method: 'post', path: '/api/sessions/{name}/groups/refresh', operationId: 'refreshGroups', tag: 'Sessions', summary: 'Fetch the groups again',
    params: named, ok: successAnswer, okExample: { success: true }, errors: [400, 404, 409],
  }, async (c, { params: { name } }) => {
    const result = await requestGroupRefresh(c.get('db'), name)
    if (result === 'not_found') throw unknownSession(name)
    if (result === 'deleting') throw deleting(name)
    return c.json({ success: true })
  })

  // One number at a time, by design (README.md): asked of the session's runner, cached a day (api/number-check.ts).
  // The answer's schema is terse, as the worker bundle carries it; api/README.md, Routes, is its reference.
  book.serve(app, '/api', {
    method: 'get', path: '/api/sessions/{name}/check/{phone}', operationId: 'checkNumber', tag: 'Sessions', summary: 'Is one number on WhatsApp? (api/README.md)',
    params: { ...named, phone: phoneSchema }, ok: { type: 'object' },
    okExample: { exists: true, jid: '9611234567@s.whatsapp.net' }, errors: [400, 404, 409, 429, 502, 504],
  }, async (c, { params: { name, phone } }) => c.json(await checkNumber(c.get('db'), name, phone, config.numberCheckPerMinute, (s) => c.header('Retry-After', String(s)), unknownSession)))

  book.serve(app, '/api', {
    method: 'post', path: '/api/regenerate-qr', operationId: 'regenerateQr', tag: 'Sessions', summary: 'Disconnect a session and show a new QR code',
    json: { schema: schemas.regenerateQrBody, optional: true }, ok: messageAnswer,
    okExample: { success: true, message: 'Reconnection initiated for session "default"' }, errors: [400, 404, 409, 415],
  }, async (c, { body: { session } }) => {
    const result = await requestReconnect(c.get('db'), session)
    if (result === 'not_found') throw unknownSession(session)
    if (result === 'deleting') throw deleting(session)
    return c.json({ success: true, message: `Reconnection initiated for session "${session}"` })
  })

  return app
}
