/**
 * What tests put into a runner that production never does: crash points, short socket timers against the loopback
 * WhatsApp server, and a record of each session's connection closes. All of it goes in through the composition's
 * ordinary dependencies (the database, the WhatsApp client factory: runner/compose.ts, runner/process.ts), so
 * nothing under runner/ knows about tests.
 */
import type { Db, Queryable } from '../../db/driver.js'
import type { MakeWhatsApp } from '../../runner/compose.js'
import { overrideDb } from './db-seam.js'
import {
  createWhatsAppFactory, type CloseReason, type WhatsAppClient, type WhatsAppClientFactory, type WhatsAppHandlers,
} from '../../runner/whatsapp/client.js'

/**
 * Short Baileys timers for the loopback server: a QR lives 20 s, a keep-alive every 5 s, queries and connects give
 * up after 20 s (Baileys' own defaults are minutes, which would stall a test after a fault).
 */
export const TEST_SOCKET_TIMERS = {
  qrTimeout: 20_000,
  keepAliveIntervalMs: 5_000,
  defaultQueryTimeoutMs: 20_000,
  connectTimeoutMs: 20_000,
} as const

/** The production WhatsApp factory (endpoint from the environment) with the test timers. */
export const whatsAppWithTestTimers: MakeWhatsApp = (options) =>
  createWhatsAppFactory({ ...options, socketConfig: { ...TEST_SOCKET_TIMERS, ...options.socketConfig } })

/**
 * Wraps every client a factory makes: `wrap` returns the members to replace, the rest is forwarded (optional members
 * exist on the wrapper exactly when the client has them).
 */
export function wrapClients(
  factory: WhatsAppClientFactory,
  wrap: (client: WhatsAppClient, session: string) => Partial<Pick<WhatsAppClient, 'connect' | 'send'>>,
): WhatsAppClientFactory {
  return {
    async create(session, log, fence) {
      const client = await factory.create(session, log, fence)
      const replaced = wrap(client, session)
      const wrapped: WhatsAppClient = {
        get session() {
          return client.session
        },
        get paired() {
          return client.paired
        },
        get phone() {
          return client.phone
        },
        connect: replaced.connect ?? ((handlers) => client.connect(handlers)),
        send: replaced.send ?? ((to, id, content, options) => client.send(to, id, content, options)),
        isOnWhatsApp: (phone) => client.isOnWhatsApp(phone),
        phoneForLid: (lid) => client.phoneForLid(lid),
        newMessageId: () => client.newMessageId(),
        logout: () => client.logout(),
        wipe: () => client.wipe(),
        close: () => client.close(),
      }
      if (client.reset) wrapped.reset = () => client.reset!()
      if (client.requestPairingCode) wrapped.requestPairingCode = (phone) => client.requestPairingCode!(phone)
      if (client.showPresence) wrapped.showPresence = (phone, state) => client.showPresence!(phone, state)
      if (client.fetchGroups) wrapped.fetchGroups = () => client.fetchGroups!()
      if (client.fetchGroup) wrapped.fetchGroup = (id) => client.fetchGroup!(id)
      if (client.lookUp) wrapped.lookUp = (phone) => client.lookUp!(phone)
      return wrapped
    },
  }
}

/** Every connection close the clients of `factory` reported, by session, in order. */
export function recordCloses(factory: WhatsAppClientFactory): { factory: WhatsAppClientFactory; of(session: string): CloseReason['kind'][] } {
  const closes = new Map<string, CloseReason['kind'][]>()
  return {
    factory: wrapClients(factory, (client, session) => ({
      connect: (handlers: WhatsAppHandlers) =>
        client.connect({
          ...handlers,
          onClose(reason) {
            closes.set(session, [...(closes.get(session) ?? []), reason.kind])
            handlers.onClose(reason)
          },
        }),
    })),
    of: (session) => [...(closes.get(session) ?? [])],
  }
}

/** Where a runner is killed, the windows a crash can hit a send in: in the claim transaction, after its commit, after the send. */
export type CrashPoint = 'before-commit' | 'after-claim' | 'after-send'

export function isCrashPoint(value: string): value is CrashPoint {
  return value === 'before-commit' || value === 'after-claim' || value === 'after-send'
}

/**
 * Kills the process (SIGKILL: no cleanup, as a power cut) at `point` of the `n`-th claimed message:
 * - `before-commit`: inside the claim transaction, once it has marked the message `sending` (nothing committed);
 * - `after-claim`: as soon as that transaction has committed, before anything is sent;
 * - `after-send`: as soon as the socket write of that message has returned, before the outcome is recorded.
 * Claims are seen through the database (`wrapDb`), sends through the WhatsApp clients (`wrapWhatsApp`).
 */
export function crashPoints(point: CrashPoint, n: number, kill: () => void = () => process.kill(process.pid, 'SIGKILL')) {
  let claims = 0
  let armedWaId: string | null = null
  const isClaim = (result: unknown): result is { kind: 'claimed'; message: { waMessageId: string } } =>
    (result as { kind?: string } | null)?.kind === 'claimed'
  return {
    wrapDb(db: Db): Db {
      return overrideDb(db, {
        async transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: { retries?: number }): Promise<T> {
          let armedHere = false
          const result = await db.transaction(async (tx) => {
            const r = await fn(tx)
            if (isClaim(r) && ++claims === n) {
              armedHere = true
              armedWaId = r.message.waMessageId
              if (point === 'before-commit') kill()
            }
            return r
          }, options)
          if (armedHere && point === 'after-claim') kill()
          return result
        },
      })
    },
    wrapWhatsApp(factory: WhatsAppClientFactory): WhatsAppClientFactory {
      return wrapClients(factory, (client) => ({
        async send(to, messageId, content, options) {
          await client.send(to, messageId, content, options)
          if (point === 'after-send' && messageId === armedWaId) kill()
        },
      }))
    },
  }
}
