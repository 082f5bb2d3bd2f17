import makeWASocket, { Browsers, type ConnectionState, type UserFacingSocketConfig, type WASocket } from '@whiskeysockets/baileys'
import { pino, type Logger } from 'pino'
import { loopbackSocketOverrides } from '../../../runner/whatsapp/loopback-trust.js'
import { createMemoryAuth, type MemoryAuth } from './memory-auth.js'
import type { LoopbackInfo, LoopbackOperations } from './server.js'

/**
 * Real Baileys sockets against the loopback server, configured through the runner's own `loopbackSocketOverrides`
 * (so tests exercise the exact trust path the runner uses: the loopback's root, trusted by each socket) plus short
 * timers for fast tests.
 */
export type SocketConfig = Partial<UserFacingSocketConfig> & {
  /** The certificate root this socket trusts (a socket option runner/whatsapp/baileys-patch.ts adds). */
  trustedRootKey?: Uint8Array
}

export type ClientOptions = {
  info: LoopbackInfo
  auth: MemoryAuth
  logger?: Logger
  config?: SocketConfig
}

const silent = pino({ level: process.env.WA_LOOPBACK_CLIENT_LOG ?? 'silent' })

export function connectClient({ info, auth, logger = silent, config = {} }: ClientOptions): WASocket {
  return makeWASocket({
    auth: auth.state,
    logger,
    browser: Browsers.ubuntu('Chrome'),
    markOnlineOnConnect: false,
    emitOwnEvents: false,
    syncFullHistory: false,
    qrTimeout: 20_000,
    keepAliveIntervalMs: 5_000,
    connectTimeoutMs: 10_000,
    defaultQueryTimeoutMs: 5_000,
    ...loopbackSocketOverrides(info.env),
    ...config
  })
}

/** Resolves with the first `connection.update` matching `predicate`; rejects after `timeoutMs`. */
export function waitForConnectionUpdate(
  sock: WASocket,
  predicate: (update: Partial<ConnectionState>) => boolean,
  timeoutMs = 15_000
): Promise<Partial<ConnectionState>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.ev.off('connection.update', listener)
      reject(new Error(`no matching connection.update within ${timeoutMs} ms`))
    }, timeoutMs)
    const listener = (update: Partial<ConnectionState>) => {
      if (!predicate(update)) return
      clearTimeout(timer)
      sock.ev.off('connection.update', listener)
      resolve(update)
    }
    sock.ev.on('connection.update', listener)
  })
}

export const waitForOpen = (sock: WASocket, timeoutMs?: number) =>
  waitForConnectionUpdate(sock, update => update.connection === 'open' || update.connection === 'close', timeoutMs).then(
    update => {
      if (update.connection !== 'open') throw new Error(`closed with ${disconnectCode(update)} instead of opening`)
    }
  )

/** The Boom status code of the next `close` (undefined when closed by `sock.end(undefined)`). */
export const waitForClose = (sock: WASocket, timeoutMs?: number) =>
  waitForConnectionUpdate(sock, update => update.connection === 'close', timeoutMs).then(disconnectCode)

export function disconnectCode(update: Partial<ConnectionState>): number | undefined {
  const error = update.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined
  return error?.output?.statusCode
}

export type PairedClient = { sock: WASocket; auth: MemoryAuth; phone: string }

/**
 * The whole QR flow as a fixture: register, "scan" the QR with the server, take the 515 restart, log in, `open`.
 *
 * Baileys buffers events for up to 20 s after the first login of a fresh pairing while it waits for history sync
 * (`creds.accountSyncCounter === 0`, Socket/chats.js). The loopback has no phone to push history, so, unless
 * `firstLoginWaitsForHistory` is set, the fixture marks the account as synced before logging in, which is exactly the
 * state Baileys itself persists after its first sync (or its 20 s timeout).
 */
export async function pairClient(
  server: Pick<LoopbackOperations, 'info' | 'scan'>,
  { phone, logger, config, firstLoginWaitsForHistory = false }: {
    phone?: string
    logger?: Logger
    config?: SocketConfig
    firstLoginWaitsForHistory?: boolean
  } = {}
): Promise<PairedClient> {
  const auth = createMemoryAuth()
  const registering = connectClient({ info: server.info, auth, logger, config })
  const { qr } = await waitForConnectionUpdate(registering, update => !!update.qr)
  const restarted = waitForClose(registering)
  const { phone: assigned } = await server.scan(qr!, phone)
  const code = await restarted
  if (code !== 515) throw new Error(`expected the 515 restart after pairing, got ${code}`)
  if (!firstLoginWaitsForHistory) auth.state.creds.accountSyncCounter = Math.max(1, auth.state.creds.accountSyncCounter)
  const sock = connectClient({ info: server.info, auth, logger, config })
  await waitForOpen(sock)
  return { sock, auth, phone: assigned }
}

/** Ends a socket and waits for Baileys to finish closing it. */
export async function endClient(sock: WASocket): Promise<void> {
  const closed = waitForClose(sock, 5_000).catch(() => undefined)
  await sock.end(undefined)
  await closed
}
