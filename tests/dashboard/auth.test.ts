import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../db/shared/settings.js'
import { createDashboardAuth } from '../../api/dashboard/auth.js'
import { clientAddressResolver, normalizeAddress, parseTrustProxy, type TrustProxy } from '../../api/dashboard/client-address.js'
import { safeReturn } from '../../api/dashboard/context.js'
import { parseDashboardOptions } from '../../api/dashboard/index.js'
import { createSignInThrottle, type SignInThrottle } from '../../api/dashboard/sign-in-throttle.js'
import { createTestDatabase, describeEachEngine } from '../support/db.js'

const KEY_A = 'alpha-key-0123456789'
const KEY_B = 'beta-key-0123456789'

describeEachEngine('dashboard sessions (server-side records)', (ctx) => {
  it('opens a session under a random id, stores only its hash and an HMAC of the key, and expires it', async () => {
    let now = Date.now()
    const auth = createDashboardAuth({ apiKeys: [KEY_A, KEY_B], clock: () => now, sessionTtlMs: 60_000 })
    const s = await auth.openSession(ctx.db, KEY_A)
    expect(s.id).toMatch(/^[\w-]{43}$/)
    expect(s.expiresAt.getTime()).toBe(now + 60_000)
    const rows = await ctx.db.query('SELECT * FROM dashboard_sessions')
    expect(rows.length).toBeGreaterThan(0)
    expect(JSON.stringify(rows)).not.toContain(s.id)
    expect(JSON.stringify(rows)).not.toContain(KEY_A)
    expect(await auth.findSession(ctx.db, s.id)).toMatchObject({ id: s.id })
    now += 60_000
    expect(await auth.findSession(ctx.db, s.id)).toBeNull()
  })

  it('ends a session at sign-out: the same id no longer works', async () => {
    const auth = createDashboardAuth({ apiKeys: [KEY_A] })
    const s = await auth.openSession(ctx.db, KEY_A)
    const other = await auth.openSession(ctx.db, KEY_A)
    await auth.endSession(ctx.db, s.id)
    expect(await auth.findSession(ctx.db, s.id)).toBeNull()
    expect(await auth.findSession(ctx.db, other.id)).not.toBeNull()
  })

  it('ends the sessions of a key that is rotated away, on another process with the same database', async () => {
    const before = createDashboardAuth({ apiKeys: [KEY_A, KEY_B] })
    const opened = { a: await before.openSession(ctx.db, KEY_A), b: await before.openSession(ctx.db, KEY_B) }
    const after = createDashboardAuth({ apiKeys: [KEY_B] })
    expect(await after.findSession(ctx.db, opened.a.id)).toBeNull()
    expect(await after.findSession(ctx.db, opened.b.id)).not.toBeNull()
  })

  it('keys its cookies with a random secret kept in the database, not derived from the API keys', async () => {
    const a = createDashboardAuth({ apiKeys: [KEY_A] })
    const first = await a.cookieKey(ctx.db, { create: true })
    expect(first).toHaveLength(32)
    // Another process (even with other keys) reads the same stored secret.
    expect(await createDashboardAuth({ apiKeys: [KEY_B] }).cookieKey(ctx.db)).toEqual(first)
    const [row] = await ctx.db.query<{ value: string }>(`SELECT value FROM gateway_secrets WHERE name = 'dashboard_cookie'`)
    expect(row!.value.length).toBeGreaterThanOrEqual(43)
    expect(row!.value).not.toContain(KEY_A)
    // Another database with the very same API keys gets a different secret: nothing in a cookie is a function of
    // the keys, so a leaked cookie cannot be used to test guesses of a key offline.
    const elsewhere = await createTestDatabase(ctx.engine)
    try {
      expect(await createDashboardAuth({ apiKeys: [KEY_A] }).cookieKey(elsewhere.db, { create: true })).not.toEqual(first)
    } finally {
      await elsewhere.drop()
    }
    // DASHBOARD_COOKIE_SECRET replaces it.
    const configured = await createDashboardAuth({ apiKeys: [KEY_A], cookieSecret: 'c'.repeat(40) }).cookieKey(ctx.db)
    expect(configured).toHaveLength(32)
    expect(configured).not.toEqual(first)
  })

  it('prunes expired sessions when someone signs in', async () => {
    let now = Date.now()
    const auth = createDashboardAuth({ apiKeys: [KEY_A], clock: () => now, sessionTtlMs: 1000 })
    const count = async () => Number((await ctx.db.query<{ n: unknown }>('SELECT COUNT(*) AS n FROM dashboard_sessions'))[0]!.n)
    for (let i = 0; i < 3; i++) await auth.openSession(ctx.db, KEY_A)
    const before = await count()
    now += 5000
    await auth.openSession(ctx.db, KEY_A)
    // The three expired rows went, the new one came (the other tests' rows are still live).
    expect(await count()).toBe(before - 3 + 1)
  })

  it('ties the CSRF token to one session', async () => {
    const auth = createDashboardAuth({ apiKeys: [KEY_A] })
    const s1 = await auth.openSession(ctx.db, KEY_A)
    const s2 = await auth.openSession(ctx.db, KEY_A)
    const t1 = await auth.csrfToken(ctx.db, s1.id)
    expect(await auth.checkCsrf(ctx.db, s1.id, t1)).toBe(true)
    expect(await auth.checkCsrf(ctx.db, s2.id, t1)).toBe(false)
    expect(await auth.checkCsrf(ctx.db, s1.id, undefined)).toBe(false)
    // Flip the first character: the last one of a base64url HMAC takes only 16 values, so a fixed one can equal it.
    expect(await auth.checkCsrf(ctx.db, s1.id, `${t1.startsWith('A') ? 'B' : 'A'}${t1.slice(1)}`)).toBe(false)
  })
})

describe('dashboard key check', () => {
  it('matches only an accepted key', async () => {
    const auth = createDashboardAuth({ apiKeys: [KEY_A, KEY_B] })
    expect(await auth.matchKey(KEY_B)).toBe(KEY_B)
    expect(await auth.matchKey(KEY_B.slice(0, -1))).toBeNull()
    expect(await auth.matchKey('')).toBeNull()
  })

  it('refuses to start without keys', () => {
    expect(() => createDashboardAuth({ apiKeys: [] })).toThrow(/API key/)
  })
})

describe('sign-in throttle', () => {
  const fail = (t: SignInThrottle, ip: string) => {
    const a = t.attempt(ip)
    if ('retryAfterMs' in a) throw new Error(`${ip} is locked for ${a.retryAfterMs} ms`)
    return a.failed()
  }

  it('delays every failure and locks an address out with growing waits after the free failures', () => {
    let now = 0
    const t = createSignInThrottle({ failureDelayMs: 1000, freeFailures: 3, clock: () => now })
    for (let i = 0; i < 3; i++) {
      expect(fail(t, '1.2.3.4')).toBe(1000)
      expect(t.lockedFor('1.2.3.4')).toBe(0)
    }
    // The lock starts when the delayed answer goes out: 1 s of answer delay + 1 s, then 2 s, 4 s…
    fail(t, '1.2.3.4')
    expect(t.lockedFor('1.2.3.4')).toBe(2000)
    expect(t.attempt('1.2.3.4')).toEqual({ retryAfterMs: 2000 })
    expect(t.lockedFor('5.6.7.8')).toBe(0)
    now += 2000
    const ok = t.attempt('1.2.3.4')
    expect(t.lockedFor('1.2.3.4')).toBe(3000)
    if ('retryAfterMs' in ok) throw new Error('locked')
    ok.succeeded()
    expect(t.lockedFor('1.2.3.4')).toBe(0)
  })

  it('reserves each attempt before it is checked: concurrent guesses get exactly the free ones plus one through', () => {
    const t = createSignInThrottle({ failureDelayMs: 1000, freeFailures: 3 })
    // 60 attempts reserved before any of them has been answered (as 60 concurrent requests are).
    const reserved = Array.from({ length: 60 }, () => t.attempt('203.0.113.9'))
    expect(reserved.filter((a) => !('retryAfterMs' in a))).toHaveLength(4)
  })

  it('caps the lock and forgets an address after the window', () => {
    let now = 0
    const t = createSignInThrottle({ failureDelayMs: 1000, freeFailures: 0, maxLockMs: 5000, windowMs: 60_000, clock: () => now })
    for (let i = 0; i < 20; i++) {
      fail(t, 'ip')
      now += t.lockedFor('ip')
    }
    expect(t.lockedFor('ip')).toBe(0)
    fail(t, 'ip')
    expect(t.lockedFor('ip')).toBe(6000)
    now += 61_000
    expect(t.lockedFor('ip')).toBe(0)
    fail(t, 'ip')
    expect(t.lockedFor('ip')).toBe(2000)
  })

  it('remembers a bounded number of addresses', () => {
    const t = createSignInThrottle({ maxEntries: 100 })
    for (let i = 0; i < 5000; i++) fail(t, `10.0.${i >> 8}.${i & 255}`)
    expect(t.size).toBe(100)
  })

  it('slows every attempt while failures across all addresses run high', () => {
    let now = 0
    const t = createSignInThrottle({ failureDelayMs: 700, globalFailuresPerMinute: 5, clock: () => now })
    for (let i = 0; i < 5; i++) fail(t, `10.0.0.${i}`)
    expect(t.globalDelay()).toBe(0)
    fail(t, '10.0.0.9')
    expect(t.globalDelay()).toBe(700)
    now += 61_000
    expect(t.globalDelay()).toBe(0)
  })

  it('sleeps without blocking the event loop', async () => {
    const t = createSignInThrottle()
    // A timer due at once must run during the sleep: a blocking sleep would return (and its await resume, a
    // microtask) before any timer. Counting interval ticks instead failed under load, when the loop was starved.
    let ran = false
    setTimeout(() => (ran = true), 0)
    await t.sleep(60)
    expect(ran).toBe(true)
  })
})

describe('client address (TRUST_PROXY)', () => {
  const app = (trustProxy: TrustProxy, peer: string | undefined) => {
    const addressOf = clientAddressResolver({ trustProxy, socketAddress: () => peer })
    const h = new Hono()
    h.get('/', (c) => c.text(addressOf(c)))
    return async (headers: Record<string, string> = {}) => (await h.request('/', { headers })).text()
  }
  const spoof = { 'cf-connecting-ip': '1.1.1.1', 'x-real-ip': '2.2.2.2', 'x-forwarded-for': '3.3.3.3' }

  it('uses the peer address and ignores every header by default', async () => {
    const get = app(parseTrustProxy(undefined), '198.51.100.4')
    expect(await get(spoof)).toBe('198.51.100.4')
    expect(await app(parseTrustProxy('none'), '::ffff:198.51.100.4')(spoof)).toBe('198.51.100.4')
    expect(await app(parseTrustProxy(''), undefined)(spoof)).toBe('unknown')
  })

  it('groups IPv6 clients by /64 and keeps keys short whatever the headers carry', async () => {
    expect(normalizeAddress('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(normalizeAddress('2001:db8:1:2:bbbb::9')).toBe('2001:db8:1:2::/64')
    expect(normalizeAddress('x'.repeat(15_000))).toBeNull()
    expect(normalizeAddress('127.1')).toBeNull()
    const cf = app(parseTrustProxy('cloudflare'), '203.0.113.1')
    expect(await cf({ 'cf-connecting-ip': 'x'.repeat(15_000) })).toBe('203.0.113.1')
  })

  it('believes CF-Connecting-IP only with TRUST_PROXY=cloudflare', async () => {
    expect(await app(parseTrustProxy('cloudflare'), '203.0.113.1')(spoof)).toBe('1.1.1.1')
  })

  it('believes X-Forwarded-For / X-Real-IP only from a listed proxy, read from the right', async () => {
    const trust = parseTrustProxy('127.0.0.1/32, 10.0.0.0/8')
    expect(await app(trust, '198.51.100.4')(spoof)).toBe('198.51.100.4')
    const viaProxy = app(trust, '127.0.0.1')
    expect(await viaProxy({ 'x-forwarded-for': '6.6.6.6, 203.0.113.5, 10.1.2.3' })).toBe('203.0.113.5')
    expect(await viaProxy({ 'x-real-ip': '203.0.113.6' })).toBe('203.0.113.6')
    expect(await viaProxy({})).toBe('127.0.0.1')
    expect(await viaProxy({ 'x-forwarded-for': 'garbage' })).toBe('127.0.0.1')
  })

  it('refuses a TRUST_PROXY it cannot read, at start-up, naming the entry', () => {
    for (const bad of ['yes', '10.0.0.0/33', '300.1.1.1', '10.0.0.0/8,nginx', '127.1/32']) {
      expect(() => parseTrustProxy(bad), bad).toThrow(ConfigError)
      expect(() => parseDashboardOptions({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/)
    }
    expect(parseTrustProxy('::1, 192.168.0.0/16').kind).toBe('proxies')
  })
})

describe('dashboard helpers', () => {
  it('returns only to paths under the dashboard', () => {
    expect(safeReturn('/dashboard', '/dashboard/messages?status=failed', '/dashboard')).toBe('/dashboard/messages?status=failed')
    expect(safeReturn('/dashboard', '/dashboard', '/x')).toBe('/dashboard')
    for (const bad of ['https://evil.test/', '//evil.test', '/dashboard//evil.test', '/dashboardx', '/dashboard/../api', '/dashboard/\\evil', 42]) {
      expect(safeReturn('/dashboard', bad, '/dashboard')).toBe('/dashboard')
    }
  })

  it('reads its settings from the environment record', () => {
    expect(parseDashboardOptions({})).toEqual({})
    expect(parseDashboardOptions({ DASHBOARD_COOKIE_SECRET: 'a'.repeat(32), DASHBOARD_SESSION_HOURS: '2' })).toEqual({
      cookieSecret: 'a'.repeat(32),
      sessionTtlMs: 7_200_000,
    })
    expect(() => parseDashboardOptions({ DASHBOARD_COOKIE_SECRET: 'short' })).toThrow(/32 characters/)
    expect(parseDashboardOptions({ DASHBOARD_ORIGIN: 'https://wa.example.com, http://10.0.0.5:3000' })).toEqual({
      publicOrigins: ['https://wa.example.com', 'http://10.0.0.5:3000'],
    })
    expect(() => parseDashboardOptions({ DASHBOARD_ORIGIN: 'wa.example.com/path' })).toThrow(/DASHBOARD_ORIGIN/)
    // Longer than the 400 days a browser keeps a cookie: refused at start-up instead of a 500 at every sign-in.
    expect(() => parseDashboardOptions({ DASHBOARD_SESSION_HOURS: '9999' })).toThrow(/1 to 9600/)
  })
})
