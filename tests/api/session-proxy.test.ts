/**
 * `PATCH /api/sessions/:name` `proxy` (runner/README.md, Proxy per number) through the HTTP API, on every engine:
 * 409 until a runner published its key; sealed so only that key opens it; shown masked by GET /api/sessions/:name,
 * GET /api/sessions and GET /api/status; omitted = unchanged, null = none; bad values 400 with nothing changed; the
 * password in no answer and no log line.
 */
import { pino } from 'pino'
import { expect, it } from 'vitest'
import { publishRunnerKey, readSealedProxy } from '../../db/queries/proxy.js'
import { deriveProxyKey } from '../../runner/proxy-key.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'
import { newKey } from '../runner/helpers.js'

const PASSWORD = 'Zq8-proxy-Pass-4471'

/** The fields of the answers this file reads. */
interface Answer {
  code?: string
  proxy?: string | null
  settings: { proxy?: string | null; daily_cap?: number | null }
}

describeEachEngine('PATCH /api/sessions/:name proxy', (ctx) => {
  const lines: string[] = []
  const answers: string[] = []
  const t = () => createTestApp(ctx.db, { deps: { log: pino({ level: 'trace' }, { write: (s: string) => void lines.push(s) }) } })
  const call = async (method: string, path: string, body?: unknown) => {
    const app = t()
    const res = await app.app.request(path, {
      method, headers: app.headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    answers.push(text)
    return { status: res.status, body: JSON.parse(text) as Answer }
  }
  const key = deriveProxyKey(newKey())
  const url = `socks5://alice:${PASSWORD}@10.1.2.3:1080`

  it('answers 409 while no runner has published its key, and changes nothing', async () => {
    const res = await call('PATCH', '/api/sessions/default', { proxy: url, daily_cap: 77 })
    expect(res.status).toBe(409)
    expect(res.body.code).toBe('no_runner_key')
    const s = await call('GET', '/api/sessions/default')
    expect(s.body.proxy).toBeNull()
    expect(s.body.settings.daily_cap).not.toBe(77)
    expect(await readSealedProxy(ctx.db, 'default')).toBeNull()
  })

  it('seals the URL for the runners and shows it masked everywhere', async () => {
    await publishRunnerKey(ctx.db, 'proxy', key.publicKey)
    const res = await call('PATCH', '/api/sessions/default', { proxy: url })
    expect(res.status).toBe(200)
    const masked = 'socks5://alice:***@10.1.2.3:1080'
    expect(res.body.settings.proxy).toBe(masked)
    expect((await call('GET', '/api/sessions/default')).body).toMatchObject({ proxy: masked, settings: { proxy: masked } })
    expect((await call('GET', '/api/status?session=default')).body.proxy).toBe(masked)
    const list = (await call('GET', '/api/sessions')).body as unknown as { name: string; proxy: string | null }[]
    expect(list.find((s) => s.name === 'default')?.proxy).toBe(masked)
    const sealed = (await readSealedProxy(ctx.db, 'default'))!
    expect(key.open(sealed, 'default')).toBe(url)
    // Without a password nothing is masked; the path "/" of an http URL is not shown.
    expect((await call('PATCH', '/api/sessions/default', { proxy: 'http://proxy.example:3128/' })).body.settings.proxy).toBe('http://proxy.example:3128')
    expect(key.open((await readSealedProxy(ctx.db, 'default'))!, 'default')).toBe('http://proxy.example:3128/')
    await call('PATCH', '/api/sessions/default', { proxy: url })
  })

  it('omitted leaves it; bad values answer 400 invalid_proxy and change nothing', async () => {
    const before = await readSealedProxy(ctx.db, 'default')
    expect((await call('PATCH', '/api/sessions/default', { daily_cap: 5 })).body.settings).toMatchObject({ daily_cap: 5, proxy: 'socks5://alice:***@10.1.2.3:1080' })
    expect(await readSealedProxy(ctx.db, 'default')).toBe(before)
    const bad = [
      'ftp://h:21', `socks4://u:${PASSWORD}@h:1080`, 'http://h:0', 'http://h:65536', `http://u:${PASSWORD}@h:3128/path`,
      'http://h:3128/?q=1', 'http://h:3128#x', 'http://h:3128?', 'socks5://:1080', 'no url at all', '',
      `http://${'a'.repeat(2040)}.example:3128`,
    ]
    for (const proxy of bad) {
      const res = await call('PATCH', '/api/sessions/default', { proxy, daily_cap: 6 })
      expect(res.status, proxy.slice(0, 60)).toBe(400)
      expect(res.body.code, proxy.slice(0, 60)).toBe('invalid_proxy')
    }
    expect((await call('PATCH', '/api/sessions/default', { proxy: 3128 })).status).toBe(400)
    expect(await readSealedProxy(ctx.db, 'default')).toBe(before)
    expect((await call('GET', '/api/sessions/default')).body.settings.daily_cap).toBe(5)
  })

  it('null removes it; the password was in no answer and no log line', async () => {
    const res = await call('PATCH', '/api/sessions/default', { proxy: null })
    expect(res.body.settings.proxy).toBeNull()
    expect(await readSealedProxy(ctx.db, 'default')).toBeNull()
    expect(answers.length).toBeGreaterThan(15)
    for (const text of [...answers, ...lines]) expect(text).not.toContain(PASSWORD)
  })
})
