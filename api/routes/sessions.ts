import { Hono } from 'hono'
import { createSession, getSession, listSessions, requestReconnect, requestSessionDelete } from '../../db/queries/sessions.js'
import { updateSessionSettings } from '../../db/lifecycle/settings.js'
import type { SessionSettings } from '../../db/types.js'
import { DEFAULT_SESSION } from '../../db/types.js'
import { readJson } from '../body.js'
import type { ApiConfig } from '../config.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { formatSession, formatSessionLimits } from '../format.js'
import { obtainPairingCode } from '../pairing.js'
import { singleQuery } from '../query.js'
import { sessionNameSchema, type Schemas } from '../schemas.js'
import type { SessionGate } from '../session-gate.js'
import { parse } from '../schema.js'

export interface SessionRoutesOptions {
  config: ApiConfig
  schemas: Schemas
  gate: SessionGate
}

function unknownSession(name: string): ApiError {
  return new ApiError(404, 'unknown_session', `Session "${name}" does not exist; GET /api/sessions lists the sessions`)
}

function deleting(name: string): ApiError {
  return new ApiError(409, 'session_deleting', `Session "${name}" is being deleted; wait until it is gone, then create it again if needed`)
}

/**
 * `GET /api/status`, `GET|POST /api/sessions`, `GET|PATCH|DELETE /api/sessions/:name`,
 * `POST /api/sessions/:name/pairing-code`, `POST /api/regenerate-qr`.
 */
export function sessionRoutes({ config, schemas, gate }: SessionRoutesOptions) {
  const app = new Hono<AppEnv>()

  app.get('/status', async (c) => {
    const { session } = parse(schemas.statusQuery, singleQuery(c), '')
    const found = await getSession(c.get('db'), session)
    // A session whose deletion is pending is already gone for clients, as in GET /api/sessions.
    if (!found || found.deleteRequestedAt) throw unknownSession(session)
    return c.json(formatSession(found))
  })

  app.get('/sessions', async (c) => {
    const now = new Date()
    return c.json((await listSessions(c.get('db'))).map((s) => formatSession(s, now)))
  })

  app.post('/sessions', async (c) => {
    const { name } = parse(schemas.createSessionBody, await readJson(c.req.raw, config.jsonBodyLimit), '')
    const result = await createSession(c.get('db'), name)
    if (result === 'exists') {
      throw new ApiError(409, 'session_exists', `Session "${name}" already exists; pick another name or use the existing session`)
    }
    if (result === 'deleting') throw deleting(name)
    return c.json({ success: true, message: `Session "${name}" created — check dashboard for QR code` })
  })

  app.delete('/sessions/:name', async (c) => {
    const name = parse(sessionNameSchema, c.req.param('name'), 'name')
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
  app.patch('/sessions/:name', async (c) => {
    const name = parse(sessionNameSchema, c.req.param('name'), 'name')
    const body = parse(schemas.sessionSettingsBody, await readJson(c.req.raw, config.jsonBodyLimit), '')
    const patch: Partial<SessionSettings> = {
      dailyCap: body.daily_cap,
      warmupStart: body.warmup_start,
      warmupDays: body.warmup_days,
      firstContactCap: body.first_contact_daily_cap,
      breakerFailures: body.circuit_breaker_failures,
      quietHours: body.quiet_hours,
      timeZone: body.time_zone,
    }
    if (!(await updateSessionSettings(c.get('db'), name, patch))) {
      const found = await getSession(c.get('db'), name)
      if (found) throw deleting(name)
      throw unknownSession(name)
    }
    const s = (await getSession(c.get('db'), name))!
    return c.json({ success: true, name, ...formatSessionLimits(s) })
  })

  app.get('/sessions/:name', async (c) => {
    const name = parse(sessionNameSchema, c.req.param('name'), 'name')
    const s = await getSession(c.get('db'), name)
    if (!s || s.deleteRequestedAt) throw unknownSession(name)
    return c.json({ ...formatSession(s), ...formatSessionLimits(s) })
  })

  // Link a number by code instead of QR (runner/README.md): waits for the session's runner to answer (api/pairing.ts).
  app.post('/sessions/:name/pairing-code', async (c) => {
    const name = parse(sessionNameSchema, c.req.param('name'), 'name')
    const { phone } = parse(schemas.pairingCodeBody, await readJson(c.req.raw, config.jsonBodyLimit), '')
    const code = await obtainPairingCode(c.get('db'), name, phone, { waitMs: config.pairingCodeWaitMs })
    return c.json({ success: true, code })
  })

  app.post('/regenerate-qr', async (c) => {
    const { session } = parse(schemas.regenerateQrBody, (await readJson(c.req.raw, config.jsonBodyLimit, { allowEmpty: true })) ?? {}, '')
    const result = await requestReconnect(c.get('db'), session)
    if (result === 'not_found') throw unknownSession(session)
    if (result === 'deleting') throw deleting(session)
    return c.json({ success: true, message: `Reconnection initiated for session "${session}"` })
  })

  return app
}
