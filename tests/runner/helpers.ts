import { randomBytes } from 'node:crypto'
import { pino } from 'pino'
import { afterAll, beforeAll } from 'vitest'
import type { Db } from '../../db/driver.js'
import { getSession } from '../../db/queries/sessions.js'
import { runnerConfig, type RunnerConfig } from '../../runner/config.js'
import { createRunner, type Runner } from '../../runner/runner.js'
import type { WhatsAppClientFactory } from '../../runner/whatsapp/client.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import { whatsAppWithTestTimers } from '../support/runner-hooks.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

/** Scaled-down timings: gap 200–600 ms, TTL 3 s, renew 1 s, fence margin 0.5 s; no typing before sends. */
export function testConfig(overrides: Partial<RunnerConfig> = {}): RunnerConfig {
  return runnerConfig({
    throttleMinMs: 200,
    throttleMaxMs: 600,
    leaseTtlSeconds: 3,
    leaseRenewSeconds: 1,
    leaseFenceMarginSeconds: 0.5,
    pollMs: 200,
    reconnectMaxMs: 1000,
    stableAfterMs: 5000,
    printQr: false,
    // Typing before each send would add 1–6 s to every text; the presence tests turn it on.
    presence: 'off',
    ...overrides,
  })
}

export const testLog = pino({ level: process.env.TEST_LOG ?? 'silent' })

export const newKey = () => new Uint8Array(randomBytes(32))

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`), never a fixed sleep. */
export async function waitFor<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const start = Date.now()
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (err) {
      last = err
    }
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The production Baileys factory pointed at the loopback server (its `info.env`), with the test timers. */
export function loopbackFactory(db: Db, server: LoopbackServer, key: Uint8Array): Promise<WhatsAppClientFactory> {
  return whatsAppWithTestTimers({ db, authStateKey: key, env: server.info.env })
}

export async function startRunner(db: Db, factory: WhatsAppClientFactory, config = testConfig()): Promise<Runner> {
  const runner = createRunner({ db, config, log: testLog, whatsapp: factory })
  await runner.start()
  return runner
}

/**
 * Waits for a QR on `session`, scans it with the loopback (as `phone`), and waits until the session is online.
 * On a loaded machine a scan can miss its QR (rotated, or the client answered late): then it scans the next one.
 */
export async function pairSession(db: Db, server: LoopbackServer, session: string, phone?: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let lastQr: string | null = null
  for (let attempt = 1; ; attempt++) {
    const s = await waitFor(async () => {
      const row = await getSession(db, session)
      if (row?.status === 'online' && lastQr) return row
      return row?.qr && row.qrCode && row.qr !== lastQr ? row : null
    }, Math.max(1000, deadline - Date.now()), `a QR for ${session}`)
    if (s.status === 'online') return s.phone!
    lastQr = s.qr
    try {
      const { phone: assigned } = await server.scan(s.qr!, phone)
      await waitFor(async () => (await getSession(db, session))?.status === 'online', Math.max(1000, deadline - Date.now()), `${session} online`)
      return assigned
    } catch (err) {
      if (attempt >= 3 || Date.now() > deadline) throw err
    }
  }
}

export { startLoopbackServer }

/** What `usePairedRunner` sets up: read its fields inside tests (they are filled in `beforeAll`). */
export interface PairedRunner {
  t: TestDatabase
  server: LoopbackServer
  runner: Runner
  /** The "default" session's phone. */
  phone: string
  /** Starts another runner on the same database and auth-state key (after `runner.stop()`), and keeps it as `runner`. */
  restart(): Promise<Runner>
}

/**
 * A file's end-to-end setup: a PGlite database, the loopback server, a runner on them and the "default" session paired
 * (before the file's tests), all stopped after them.
 */
export function usePairedRunner(config: RunnerConfig = testConfig()): PairedRunner {
  const key = newKey()
  const ctx = {} as PairedRunner
  ctx.restart = async () => (ctx.runner = await startRunner(ctx.t.db, await loopbackFactory(ctx.t.db, ctx.server, key), config))
  beforeAll(async () => {
    ctx.t = await createTestDatabase('pglite')
    ctx.server = await startLoopbackServer()
    await ctx.restart()
    ctx.phone = await pairSession(ctx.t.db, ctx.server, 'default')
  }, 90_000)
  afterAll(async () => {
    await ctx.runner?.stop()
    await ctx.server?.stop()
    await ctx.t?.drop()
  })
  return ctx
}
