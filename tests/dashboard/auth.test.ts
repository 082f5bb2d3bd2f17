import { describe, expect, it } from 'vitest'
import { createDashboardAuth } from '../../api/dashboard/auth.js'
import { safeReturn } from '../../api/dashboard/context.js'
import { parseDashboardOptions } from '../../api/dashboard/index.js'
import { clientAddress, createSignInThrottle } from '../../api/dashboard/sign-in-throttle.js'

describe('dashboard session cookie', () => {
  it('issues a cookie that verifies, carries an expiry and a key fingerprint but never the key', async () => {
    let now = 1_000_000
    const auth = createDashboardAuth({ apiKeys: ['alpha-key-123', 'beta-key-456'], clock: () => now, sessionTtlMs: 60_000 })
    const { value, expires } = await auth.issue('alpha-key-123')
    expect(expires.getTime()).toBe(now + 60_000)
    expect(value).not.toContain('alpha')
    const payload = JSON.parse(atob(value.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')))
    expect(Object.keys(payload).sort()).toEqual(['exp', 'fp'])
    expect(JSON.stringify(payload)).not.toContain('alpha-key-123')
    expect(await auth.verify(value)).toMatchObject({ exp: now + 60_000 })
    now += 60_000
    expect(await auth.verify(value)).toBeNull()
  })

  it('rejects a tampered payload, a tampered signature and garbage', async () => {
    const auth = createDashboardAuth({ apiKeys: ['k1-abcdef'] })
    const { value } = await auth.issue('k1-abcdef')
    const [v, payload, sig] = value.split('.')
    const forged = btoa(JSON.stringify({ exp: Date.now() + 1e12, fp: 'x' })).replace(/=+$/, '')
    expect(await auth.verify(`${v}.${forged}.${sig}`)).toBeNull()
    expect(await auth.verify(`${v}.${payload}.${sig!.slice(0, -2)}AA`)).toBeNull()
    expect(await auth.verify('v1.a.b')).toBeNull()
    expect(await auth.verify('')).toBeNull()
    expect(await auth.verify(undefined)).toBeNull()
  })

  it('ends the sessions of a key that is rotated away, even with the same cookie secret', async () => {
    const secret = 'x'.repeat(40)
    const before = createDashboardAuth({ apiKeys: ['old-key-1', 'new-key-2'], cookieSecret: secret })
    const oldCookie = (await before.issue('old-key-1')).value
    const newCookie = (await before.issue('new-key-2')).value
    const after = createDashboardAuth({ apiKeys: ['new-key-2'], cookieSecret: secret })
    expect(await after.verify(oldCookie)).toBeNull()
    expect(await after.verify(newCookie)).not.toBeNull()
  })

  it('derives its secret from the API keys when none is configured, so new keys sign everyone out', async () => {
    const a = createDashboardAuth({ apiKeys: ['key-a-1'] })
    const cookie = (await a.issue('key-a-1')).value
    expect(await createDashboardAuth({ apiKeys: ['key-a-1'] }).verify(cookie)).not.toBeNull()
    expect(await createDashboardAuth({ apiKeys: ['key-a-1', 'key-b-2'] }).verify(cookie)).toBeNull()
  })

  it('matches only an accepted key', async () => {
    const auth = createDashboardAuth({ apiKeys: ['alpha-key-123', 'beta-key-456'] })
    expect(await auth.matchKey('beta-key-456')).toBe('beta-key-456')
    expect(await auth.matchKey('beta-key-45')).toBeNull()
    expect(await auth.matchKey('')).toBeNull()
  })

  it('ties the CSRF token to one cookie', async () => {
    const auth = createDashboardAuth({ apiKeys: ['k'] })
    const c1 = (await auth.issue('k')).value
    const c2 = `${c1}x`
    const t1 = await auth.csrfToken(c1)
    expect(await auth.checkCsrf(c1, t1)).toBe(true)
    expect(await auth.checkCsrf(c2, t1)).toBe(false)
    expect(await auth.checkCsrf(c1, undefined)).toBe(false)
    expect(await auth.checkCsrf(c1, `${t1.slice(0, -1)}A`)).toBe(false)
  })

  it('refuses to start without keys', () => {
    expect(() => createDashboardAuth({ apiKeys: [] })).toThrow(/API key/)
  })
})

describe('sign-in throttle', () => {
  it('delays every failure and locks an address out with growing waits after the free failures', () => {
    let now = 0
    const t = createSignInThrottle({ failureDelayMs: 1000, freeFailures: 3, clock: () => now })
    for (let i = 0; i < 3; i++) {
      expect(t.recordFailure('1.2.3.4')).toBe(1000)
      expect(t.lockedFor('1.2.3.4')).toBe(0)
    }
    // The lock starts when the delayed answer goes out: 1 s of answer delay + 1 s, then 2 s, 4 s…
    t.recordFailure('1.2.3.4')
    expect(t.lockedFor('1.2.3.4')).toBe(2000)
    expect(t.lockedFor('5.6.7.8')).toBe(0)
    now += 2000
    t.recordFailure('1.2.3.4')
    expect(t.lockedFor('1.2.3.4')).toBe(3000)
    t.recordSuccess('1.2.3.4')
    expect(t.lockedFor('1.2.3.4')).toBe(0)
  })

  it('caps the lock and forgets an address after the window', () => {
    let now = 0
    const t = createSignInThrottle({ failureDelayMs: 1000, freeFailures: 0, maxLockMs: 5000, windowMs: 60_000, clock: () => now })
    for (let i = 0; i < 20; i++) t.recordFailure('ip')
    expect(t.lockedFor('ip')).toBe(6000)
    now += 61_000
    expect(t.lockedFor('ip')).toBe(0)
    t.recordFailure('ip')
    expect(t.lockedFor('ip')).toBe(2000)
  })

  it('slows every attempt while failures across all addresses run high', () => {
    let now = 0
    const t = createSignInThrottle({ failureDelayMs: 700, globalFailuresPerMinute: 5, clock: () => now })
    for (let i = 0; i < 5; i++) t.recordFailure(`10.0.0.${i}`)
    expect(t.globalDelay()).toBe(0)
    t.recordFailure('10.0.0.9')
    expect(t.globalDelay()).toBe(700)
    now += 61_000
    expect(t.globalDelay()).toBe(0)
  })

  it('sleeps without blocking the event loop', async () => {
    const t = createSignInThrottle()
    let ticks = 0
    const timer = setInterval(() => ticks++, 5)
    await t.sleep(60)
    clearInterval(timer)
    expect(ticks).toBeGreaterThan(3)
  })

  it('takes the client address from the edge or proxy headers', () => {
    expect(clientAddress(new Headers({ 'cf-connecting-ip': '1.1.1.1', 'x-forwarded-for': '2.2.2.2' }))).toBe('1.1.1.1')
    expect(clientAddress(new Headers({ 'x-forwarded-for': '2.2.2.2, 3.3.3.3' }))).toBe('2.2.2.2')
    expect(clientAddress(new Headers())).toBe('unknown')
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
  })
})
