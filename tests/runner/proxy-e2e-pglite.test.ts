/**
 * A proxy per number (runner/README.md, Proxy per number) with the real Baileys against the loopback server and real
 * proxies that leave from 127.0.0.2 (tests/support/proxies.ts), set through the HTTP API:
 * - tinyproxy (HTTP CONNECT, Basic auth): the session pairs, sends a text and an image; its WebSocket and its media
 *   upload arrive from 127.0.0.2 while the session without a proxy arrives from 127.0.0.1;
 * - SOCKS5 with username/password (the test's own proxy: dante checks passwords against system accounts), with the
 *   download of a file someone sends;
 * - downloads (fetch with the route's dispatcher, as Baileys downloads) leave through the proxy too;
 * - a change (to dante, SOCKS5 without auth, then to none) reconnects the session through the new route;
 * - a proxy that refuses (tinyproxy, wrong password: 401) or is dead (a closed port) shows as
 *   `proxy unreachable: …` in the session's detail;
 * - no proxy password in any API answer, any session detail or any runner or API log line.
 */
import { randomBytes } from 'node:crypto'
import { pino } from 'pino'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { listInbound } from '../../db/queries/inbound.js'
import { getMessage } from '../../db/queries/messages.js'
import { getSession } from '../../db/queries/sessions.js'
import { createRunner, type Runner } from '../../runner/runner.js'
import { createProxyRoute } from '../../runner/whatsapp/proxy.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import { freePort } from '../support/free-port.js'
import { skipReason } from '../support/prerequisites.js'
import { OUTGOING_ADDRESS, startDante, startSocks5WithPassword, startTinyproxy, type TestProxy } from '../support/proxies.js'
import { whatsAppWithTestTimers } from '../support/runner-hooks.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { enqueueMedia } from './media-fixtures.js'
import { newKey, pairSession, startLoopbackServer, testConfig, waitFor } from './helpers.js'

const noProxies = skipReason('proxies')
const TP_PASS = `tp-${randomBytes(6).toString('hex')}`
const SOCKS_PASS = `sk-${randomBytes(6).toString('hex')}`
const DEAD_PASS = `dead-${randomBytes(6).toString('hex')}`

describe.skipIf(noProxies)(`proxy per number on PGlite with real Baileys and real proxies${noProxies ? ` (${noProxies})` : ''}`, () => {
  let t: TestDatabase
  let server: LoopbackServer
  let runner: Runner
  let api: TestApp
  let tiny: TestProxy
  let socks: TestProxy
  let dante: TestProxy
  const phones: Record<string, string> = {}
  const logLines: string[] = []
  const answers: string[] = []
  const log = pino({ level: 'debug' }, { write: (s: string) => void logLines.push(s) })

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await api.app.request(path, {
      method, headers: api.headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    answers.push(text)
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> }
  }
  const setProxy = async (session: string, proxy: string | null) => {
    const res = await call('PATCH', `/api/sessions/${session}`, { proxy })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  }
  /** Connections the loopback saw for `phone`, oldest first. */
  const connectionsOf = (phone: string) => server.connections().filter((c) => c.phone === phone)
  const sent = (id: number) =>
    waitFor(async () => {
      const m = await getMessage(t.db, id)
      if (m?.status === 'failed') throw new Error(`message ${id} failed: ${m.error}`)
      return m?.status === 'sent' ? server.messages(m.phone).find((r) => r.id === m.waMessageId) : null
    }, 30_000, `message ${id} at the contact`)
  const uploadsFrom = (address: string) => server.mediaRequests().filter((r) => r.method === 'POST' && r.kind === 'mms' && r.remote_address === address).length
  const image = () => sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 30, b: 90 } } }).png().toBuffer()

  beforeAll(async () => {
    t = await createTestDatabase('pglite')
    server = await startLoopbackServer()
    tiny = await startTinyproxy('tpuser', TP_PASS)
    socks = await startSocks5WithPassword('skuser', SOCKS_PASS)
    dante = await startDante()
    api = createTestApp(t.db, { deps: { log: pino({ level: 'debug' }, { write: (s: string) => void logLines.push(s) }) } })
    // The factory publishes the runners' key; the proxies are set (sealed with it) before the runner takes the sessions.
    const factory = await whatsAppWithTestTimers({ db: t.db, authStateKey: newKey(), env: server.info.env, log })
    for (const name of ['viahttp', 'viasocks']) expect((await call('POST', '/api/sessions', { name })).status).toBe(200)
    await setProxy('viahttp', tiny.url)
    await setProxy('viasocks', socks.url)
    runner = createRunner({ db: t.db, config: testConfig(), log, whatsapp: factory })
    await runner.start()
    for (const name of ['default', 'viahttp', 'viasocks']) phones[name] = await pairSession(t.db, server, name)
  }, 120_000)

  afterAll(async () => {
    await runner?.stop()
    await server?.stop()
    await Promise.all([tiny?.stop(), socks?.stop(), dante?.stop()])
    await t?.drop()
  })

  it('HTTP CONNECT (tinyproxy): the WebSocket and the image upload come from the proxy; the direct session from 127.0.0.1', async () => {
    const via = connectionsOf(phones.viahttp!)
    expect(via.length).toBeGreaterThan(0)
    expect(via.map((c) => c.remote_address)).toEqual(via.map(() => OUTGOING_ADDRESS))
    const direct = connectionsOf(phones.default!)
    expect(direct.length).toBeGreaterThan(0)
    expect(direct.map((c) => c.remote_address)).toEqual(direct.map(() => '127.0.0.1'))

    const text = await sent((await enqueueMessage(t.db, { session: 'viahttp', phone: '96171300001', type: 'text', body: 'through the proxy' })).id)
    expect(text).toMatchObject({ from: phones.viahttp, text: 'through the proxy' })
    const proxiedBefore = uploadsFrom(OUTGOING_ADDRESS)
    const directBefore = uploadsFrom('127.0.0.1')
    const pic = await sent((await enqueueMedia(t.db, { session: 'viahttp', phone: '96171300002', type: 'image', bytes: await image(), mime: 'image/png' })).id)
    expect(pic).toMatchObject({ type: 'image', from: phones.viahttp })
    expect(uploadsFrom(OUTGOING_ADDRESS)).toBe(proxiedBefore + 1)
    expect(uploadsFrom('127.0.0.1')).toBe(directBefore)
    // The session without a proxy uploads directly.
    await sent((await enqueueMedia(t.db, { session: 'default', phone: '96171300003', type: 'image', bytes: await image(), mime: 'image/png' })).id)
    expect(uploadsFrom('127.0.0.1')).toBe(directBefore + 1)
    expect(uploadsFrom(OUTGOING_ADDRESS)).toBe(proxiedBefore + 1)
  })

  it('SOCKS5 with username and password: connection, upload and the download of a received file through it', async () => {
    const via = connectionsOf(phones.viasocks!)
    expect(via.length).toBeGreaterThan(0)
    expect(via.every((c) => c.remote_address === OUTGOING_ADDRESS)).toBe(true)
    const acceptedBefore = socks.accepted()!
    expect(acceptedBefore).toBeGreaterThan(0)
    const proxiedBefore = uploadsFrom(OUTGOING_ADDRESS)
    const pic = await sent((await enqueueMedia(t.db, { session: 'viasocks', phone: '96171300004', type: 'image', bytes: await image(), mime: 'image/png' })).id)
    expect(pic).toMatchObject({ type: 'image', from: phones.viasocks })
    expect(uploadsFrom(OUTGOING_ADDRESS)).toBe(proxiedBefore + 1)
    // The upload took its own connection through the proxy.
    expect(socks.accepted()!).toBeGreaterThan(acceptedBefore)

    // A file someone sends is downloaded through the proxy too (runner/whatsapp/download.ts).
    const downloadsBefore = server.mediaRequests().filter((r) => r.method === 'GET' && r.kind === 'v')
    const photo = randomBytes(20_000)
    await server.inbound({ from: '96171300010', to: phones.viasocks!, text: 'a photo', file: { type: 'image', mimetype: 'image/jpeg', bytes: photo } })
    const row = await waitFor(async () => (await listInbound(t.db, { phone: '96171300010', limit: 1 }))[0], 30_000, 'the inbound photo')
    expect(row).toMatchObject({ session: 'viasocks', type: 'image', media_status: 'stored', size: photo.length })
    const downloads = server.mediaRequests().filter((r) => r.method === 'GET' && r.kind === 'v').slice(downloadsBefore.length)
    expect(downloads.length).toBeGreaterThan(0)
    expect(downloads.every((r) => r.remote_address === OUTGOING_ADDRESS)).toBe(true)
  })

  it('downloads (fetch with the route\'s dispatcher, as Baileys downloads media and blobs) go through the proxy too', async () => {
    const ca = server.info.env.WA_LOOPBACK_CA_PEM!
    const missing = `${server.info.media_url}/v/t62.loopback/${'0'.repeat(64)}.enc`
    for (const url of [tiny.url, socks.url, dante.url]) {
      const before = server.mediaRequests().length
      const route = createProxyRoute(url, { ca })
      const res = await fetch(missing, { dispatcher: route.dispatcher } as RequestInit)
      expect(res.status).toBe(404)
      await res.text()
      expect(server.mediaRequests().slice(before)).toEqual([{ method: 'GET', kind: 'v', remote_address: OUTGOING_ADDRESS }])
      await route.dispatcher.close()
    }
    // A refused proxy is reported without its password.
    const dead = createProxyRoute(`http://u:${DEAD_PASS}@127.0.0.1:${await freePort()}`, { ca })
    await expect(fetch(missing, { dispatcher: dead.dispatcher } as RequestInit)).rejects.toThrow()
    expect(dead.failure).toMatch(/ECONNREFUSED/)
    expect(dead.failure).not.toContain(DEAD_PASS)
    await dead.dispatcher.close()
  })

  it('changing the proxy reconnects: to dante (SOCKS5, no auth), then to none', async () => {
    const phone = phones.viahttp!
    const before = connectionsOf(phone).length
    await setProxy('viahttp', dante.url)
    const viaDante = await waitFor(async () => {
      const list = connectionsOf(phone)
      return list.length > before && list.at(-1)!.open && (await getSession(t.db, 'viahttp'))?.status === 'online' ? list.at(-1) : null
    }, 30_000, 'viahttp online again through dante')
    expect(viaDante.remote_address).toBe(OUTGOING_ADDRESS)
    // The old connection is closed, not left beside the new one.
    expect(connectionsOf(phone).filter((c) => c.open)).toHaveLength(1)
    const text = await sent((await enqueueMessage(t.db, { session: 'viahttp', phone: '96171300005', type: 'text', body: 'through dante' })).id)
    expect(text.from).toBe(phone)

    const count = connectionsOf(phone).length
    await setProxy('viahttp', null)
    const direct = await waitFor(async () => {
      const list = connectionsOf(phone)
      return list.length > count && list.at(-1)!.open && (await getSession(t.db, 'viahttp'))?.status === 'online' ? list.at(-1) : null
    }, 30_000, 'viahttp online again directly')
    expect(direct.remote_address).toBe('127.0.0.1')
    expect((await call('GET', '/api/sessions/viahttp')).body.proxy).toBeNull()
  })

  it('a proxy that refuses (wrong password) or is dead (closed port) shows as "proxy unreachable: …", without its password', async () => {
    const unreachable = async (match: RegExp) =>
      waitFor(async () => {
        const body = (await call('GET', '/api/sessions/viasocks')).body
        if (typeof body.detail === 'string' && match.test(body.detail)) return body
        throw new Error(`detail is ${JSON.stringify(body.detail)}`)
      }, 30_000, `detail matching ${match}`)
    await setProxy('viasocks', tiny.url.replace(TP_PASS, DEAD_PASS))
    // tinyproxy answers a wrong Basic auth with 401 (other proxies say 407).
    await unreachable(/^proxy unreachable: the proxy answered 40[17] /)
    const port = await freePort()
    await setProxy('viasocks', `socks5://skuser:${DEAD_PASS}@127.0.0.1:${port}`)
    const s = await unreachable(/^proxy unreachable: .*ECONNREFUSED/)
    expect(s.proxy).toBe(`socks5://skuser:***@127.0.0.1:${port}`)
    expect((await call('GET', '/api/status?session=viasocks')).body.detail).toMatch(/^proxy unreachable:/)
    // Nothing went around the proxy.
    expect(connectionsOf(phones.viasocks!).every((c) => c.remote_address === OUTGOING_ADDRESS)).toBe(true)
  })

  it('no proxy password in any API answer, session row or log line', async () => {
    answers.push(JSON.stringify(await call('GET', '/api/sessions')))
    expect(logLines.some((l) => l.includes('connecting through a proxy'))).toBe(true)
    expect(logLines.some((l) => l.includes('tpuser:***@127.0.0.1'))).toBe(true)
    for (const text of [...answers, ...logLines]) {
      for (const secret of [TP_PASS, SOCKS_PASS, DEAD_PASS]) expect(text).not.toContain(secret)
    }
  })
})
