/**
 * Guessing the dashboard key against the real Node server (`startApi`, the entry `npm run api` and `npm start` use),
 * over real sockets from distinct loopback addresses (127.0.0.x: Linux routes the whole /8 to loopback): the
 * throttle must key on the socket's address, not on headers the guesser writes; concurrent guesses must not
 * outrun the lock; and the owner on another address must still get in while a guesser is locked out.
 */
import { request } from 'node:http'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { silentLogger } from '../../api/env.js'
import { startApi, type StartedApi } from '../../api/node.js'
import { describeEachEngine } from '../support/db.js'

const KEY = 'sign-in-wire-key-0123456789'

interface Answer {
  status: number
  cookie: string | null
}

/** POSTs the sign-in form from `localAddress`, with whatever extra headers a guesser likes. */
function signIn(port: number, localAddress: string, apiKey: string, headers: Record<string, string> = {}): Promise<Answer> {
  const body = new URLSearchParams({ api_key: apiKey }).toString()
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1', port, localAddress, method: 'POST', path: '/dashboard/sign-in', agent: false,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), origin: `http://127.0.0.1:${port}`, ...headers },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode!, cookie: res.headers['set-cookie']?.[0] ?? null }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describeEachEngine('dashboard sign-in over real sockets', (ctx) => {
  let api: StartedApi
  beforeAll(async () => {
    api = await startApi({ env: { API_SECRET: KEY, PORT: '0', HOST: '127.0.0.1' }, log: silentLogger, db: ctx.db })
  })
  afterAll(async () => {
    await api?.stop()
  })

  it('locks out a guesser whatever address headers it rotates, while the owner on another address signs in', async () => {
    const port = api.server.port
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const spoof = { 'x-forwarded-for': `10.9.0.${i}`, 'x-real-ip': `10.9.1.${i}`, 'cf-connecting-ip': `10.9.2.${i}` }
      statuses.push((await signIn(port, '127.0.0.2', `wrong-guess-${i}`, spoof)).status)
    }
    // Three free failures, the fourth checked and then locked (default throttle), the rest refused unchecked.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429])
    const owner = await signIn(port, '127.0.0.3', KEY)
    expect(owner.status).toBe(303)
    expect(owner.cookie).toMatch(/^wa_dashboard=/)
  }, 60_000)

  it('checks exactly the allowed number of 60 concurrent guesses from one address', async () => {
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => signIn(api.server.port, '127.0.0.4', `concurrent-${i}`)))
    const statuses = answers.map((a) => a.status)
    expect(statuses.filter((s) => s === 401)).toHaveLength(4)
    expect(statuses.filter((s) => s === 429)).toHaveLength(56)
  }, 60_000)
})
