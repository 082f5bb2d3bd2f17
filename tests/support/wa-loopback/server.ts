import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Curve } from '@whiskeysockets/baileys'
import { pino, type Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { buildCertChain, createTestRoot, type TestRoot } from './certs.js'
import { LoopbackConnection } from './connection.js'
import { BoundedBytes } from './bounded-bytes.js'
import {
  connectionsOf,
  DEFAULT_RECEIPT_DELAYS,
  mediaKey,
  type LoopbackContext,
  type ReceiptDelays,
  type ReceivedMedia,
  type RecordedMessage
} from './context.js'
import { createControlHandler } from './control.js'
import { Directory, normalizePhone, pnJid } from './directory.js'
import { applyFault, FaultBook, type FaultRequest } from './faults.js'
import { sendInbound, type InboundInput } from './inbound.js'
import { GroupBook, type GroupInput, type GroupRank } from './groups.js'
import { announceGroup, updateGroupParticipants } from './group-messages.js'
import { MediaStore, type MediaRequestView } from './media.js'
import { NoiseResponder } from './noise.js'
import { OfflineQueue } from './offline-queue.js'
import { PairingDesk, ScanError } from './pairing.js'
import { ContactBook } from './signal-contacts.js'
import { createStanzaRouter } from './stanza-router.js'
import { testTls } from './tls-certs.js'
import type { RecordedPresence } from './presence.js'

/**
 * A loopback WhatsApp server that the real Baileys (7.0.0-rc14, its protocol code unmodified) pairs with, logs in to,
 * sends through and receives from. See README.md in this folder for the control API and fault semantics.
 */
export type LoopbackServerOptions = {
  /** Port for the WebSocket and the control API (0 = any free port). */
  port?: number
  /** Must be a loopback address: clients accept the test root only for a loopback WebSocket URL. */
  host?: string
  /** Port of the HTTPS media endpoint (0 = any free port). */
  mediaPort?: number
  log?: Logger
  receipts?: Partial<ReceiptDelays>
}

export type LoopbackInfo = {
  ws_url: string
  /** Test root public key (hex) that signs the Noise certificate chain. */
  root_key: string
  /** Base URL of the HTTPS media endpoint (uploads are POSTed under it, blobs downloaded from it). */
  media_url: string
  /** Everything a gateway process needs to use this server; export it and start the runner. */
  env: Record<string, string>
}

export type DeviceView = { phone: string; jid: string; connected: boolean }

/** A WebSocket connection: the phone it logged in as (null before or without a login) and its peer's address. */
export type ConnectionView = { phone: string | null; remote_address: string | null; open: boolean }

export type GroupView = {
  id: string
  subject: string
  announce: boolean
  creator: string
  participants: Array<{ phone: string; lid: string; admin: GroupRank }>
}

/** Which recorded messages to list: to one phone, in one group, or both. */
export type MessageFilter = { to?: string; group?: string }

/** Decrypted media kept for tests to compare byte for byte; the oldest go first beyond this. */
const RECEIVED_MEDIA_BUDGET_BYTES = 512 * 1024 * 1024

/** The operations behind the control API, callable in-process too. */
export type LoopbackOperations = {
  info: LoopbackInfo
  devices(): DeviceView[]
  scan(qr: string, phone?: string): Promise<{ phone: string }>
  /** The phone enters the pairing code its linked-devices screen asks for (pairing by code instead of QR). */
  pairCode(phone: string, code: string): Promise<{ phone: string }>
  /** `to` a phone (a string is the same as `{to}`), `group` a group JID: what contacts decrypted, oldest first. */
  messages(filter?: string | MessageFilter): RecordedMessage[]
  /** Creates a group (see groups.ts); its paired members get the `create` notification. */
  createGroup(input: GroupInput): Promise<{ id: string }>
  groups(): GroupView[]
  /** Adds and removes members; paired members' devices (old and new) get the `w:gp2` notification. */
  updateGroup(id: string, change: { add?: string[]; remove?: string[] }): Promise<{ id: string; participants: string[] }>
  /** Chat states ("typing…", "recording…", paused) and presence the paired devices sent, oldest first; `to` a contact. */
  presence(to?: string): RecordedPresence[]
  /** The decrypted bytes of a recorded media message (until reset), or undefined. */
  /**
   * The decrypted bytes of a recorded media message (until reset), or undefined. A group message is decrypted once
   * per participant: `to` picks whose copy (without it, the first participant's).
   */
  messageMedia(id: string, to?: string): ReceivedMedia | undefined
  /** Media uploads the HTTPS endpoint accepted since start (or reset): a reused upload adds none. */
  uploads(): { count: number }
  /** Every WebSocket connection since start (or reset), oldest first: the phone it logged in as and where it came from. */
  connections(): ConnectionView[]
  /** Every request the HTTPS media endpoint got since start (or reset), oldest first, with where it came from. */
  mediaRequests(): MediaRequestView[]
  /** Download requests for stored media since start (or reset); `hold` true keeps them unanswered until false. */
  downloads(hold?: boolean): { count: number; held: number }
  inbound(input: InboundInput): Promise<{ id: string }>
  /** Declares `phone` not on WhatsApp (usync answers `out`; kept across reset, like paired devices). */
  unregister(phone: string): { phone: string }
  fault(request: FaultRequest): Promise<{ ok: true; connections: number }>
  setReceipts(delays: ReceiptDelays): { delivered_ms: number | null; read_ms: number | null }
  reset(): void
}

export type LoopbackServer = LoopbackOperations & {
  /** Base URL of the control API, e.g. `http://127.0.0.1:4567`. */
  url: string
  stop(): Promise<void>
}

export async function startLoopbackServer({
  port = 0,
  host = '127.0.0.1',
  mediaPort = 0,
  log = pino({ level: 'warn' }).child({ module: 'wa-loopback' }),
  receipts = {}
}: LoopbackServerOptions = {}): Promise<LoopbackServer> {
  const root: TestRoot = createTestRoot()
  const serverStatic = Curve.generateKeyPair()
  const certChain = buildCertChain(root, serverStatic.public)
  const tls = await testTls()

  const directory = new Directory()
  const ctx: LoopbackContext = {
    directory,
    contacts: new ContactBook(directory),
    faults: new FaultBook(),
    media: new MediaStore(log),
    pairing: new PairingDesk(directory),
    offline: new OfflineQueue(),
    receipts: { ...DEFAULT_RECEIPT_DELAYS, ...receipts },
    messages: [],
    presence: [],
    receivedMedia: new BoundedBytes<ReceivedMedia>(RECEIVED_MEDIA_BUDGET_BYTES),
    connections: new Set(),
    groups: new GroupBook(),
    log
  }
  await ctx.media.listen(tls, host, mediaPort)

  const router = createStanzaRouter(ctx)
  const wss = new WebSocketServer({ noServer: true })
  let nextConnectionId = 1
  // Where each connection came from (tests check that a proxied session arrives from its proxy's address).
  const connectionLog: { conn: LoopbackConnection; remoteAddress: string | null }[] = []
  wss.on('connection', (ws, req: IncomingMessage) => {
    const conn = new LoopbackConnection(ws, new NoiseResponder(serverStatic, certChain), router, log.child({ conn: nextConnectionId++ }))
    ctx.connections.add(conn)
    connectionLog.push({ conn, remoteAddress: req.socket.remoteAddress ?? null })
  })

  // the control routes need the bound port (for info), so they are attached once listening
  let control: ReturnType<typeof createControlHandler> | undefined
  const http: Server = createServer((req, res) => {
    if (control) void control(req, res)
    else res.writeHead(503).end()
  })
  http.on('upgrade', (req, socket, head) => {
    if (ctx.faults.refuseAllUpgrades || !req.url?.startsWith('/ws/chat')) {
      // fault `refuse` for "*": the client sees a reset connection (Baileys: 408 from the ECONNRESET)
      socket.destroy()
      return
    }
    wss.handleUpgrade(req, socket, head, ws => wss.emit('connection', ws, req))
  })
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, host, resolve)
  })
  const bound = (http.address() as AddressInfo).port
  const authority = `${host.includes(':') ? `[${host}]` : host}:${bound}`
  const wsUrl = `ws://${authority}/ws/chat`
  const info: LoopbackInfo = {
    ws_url: wsUrl,
    root_key: root.publicKeyHex,
    media_url: `https://${ctx.media.host}`,
    env: { WA_WEBSOCKET_URL: wsUrl, WA_LOOPBACK_ROOT_KEY: root.publicKeyHex, WA_LOOPBACK_CA_PEM: tls.caPem }
  }

  const operations: LoopbackOperations = {
    info,
    devices: () =>
      directory.allDevices().map(device => ({
        phone: device.phone,
        jid: pnJid(device.phone, device.deviceId),
        connected: connectionsOf(ctx, device).length > 0
      })),
    scan: async (qr, phone) => ({ phone: (await ctx.pairing.scan(qr, phone)).phone }),
    pairCode: async (phone, code) => ({ phone: (await ctx.pairing.enterCode(phone, code)).phone }),
    messages: filter => {
      const { to, group } = typeof filter === 'string' ? { to: filter } : (filter ?? {})
      const phone = to?.replace(/^\+/, '')
      const jid = group && (group.includes('@') ? group : `${group}@g.us`)
      return ctx.messages.filter(message => (!phone || message.to === phone) && (!jid || message.group === jid))
    },
    createGroup: async input => {
      const group = ctx.groups.create(input)
      await announceGroup(ctx, group)
      return { id: group.jid }
    },
    groups: () =>
      ctx.groups.all().map(group => ({
        id: group.jid,
        subject: group.subject,
        announce: group.announce,
        creator: group.creator,
        participants: [...group.participants].map(([phone, admin]) => ({ phone, lid: directory.lidFor(phone), admin }))
      })),
    updateGroup: (id, change) => updateGroupParticipants(ctx, id, change),
    presence: to => (to ? ctx.presence.filter(p => p.to === to.replace(/^\+/, '')) : [...ctx.presence]),
    messageMedia: (id, to) => {
      const phone = to?.replace(/^\+/, '')
      const record = ctx.messages.find(message => message.id === id && (!phone || message.to === phone))
      return record ? ctx.receivedMedia.get(mediaKey(id, record.group, record.to)) : undefined
    },
    uploads: () => ({ count: ctx.media.uploadCount }),
    connections: () =>
      connectionLog.map(({ conn, remoteAddress }) => ({
        phone: conn.device?.phone ?? null, remote_address: remoteAddress, open: ctx.connections.has(conn)
      })),
    mediaRequests: () => [...ctx.media.requests],
    downloads: hold => {
      if (hold !== undefined) ctx.media.holdDownloads(hold)
      return { count: ctx.media.downloadCount, held: ctx.media.heldCount }
    },
    inbound: async input => ({ id: await sendInbound(ctx, input) }),
    unregister: phone => {
      const digits = /^\+?\d{6,15}$/.test(phone) ? normalizePhone(phone) : null
      if (!digits) throw new ScanError(400, `"${phone}" is not a phone number (6 to 15 digits, optional leading +)`)
      if (directory.account(digits)) throw new ScanError(409, `${digits} is a paired account and stays on WhatsApp`)
      directory.unregister(digits)
      return { phone: digits }
    },
    fault: async request => ({ ok: true, connections: await applyFault(ctx, request) }),
    setReceipts: delays => {
      ctx.receipts = delays
      return { delivered_ms: delays.deliveredMs, read_ms: delays.readMs }
    },
    reset: () => {
      ctx.faults.reset()
      for (const conn of ctx.connections) conn.latencyMs = 0
      ctx.messages.length = 0
      ctx.presence.length = 0
      ctx.receivedMedia.clear()
      ctx.media.clear()
      connectionLog.length = 0
      ctx.receipts = { ...DEFAULT_RECEIPT_DELAYS, ...receipts }
    }
  }

  control = createControlHandler(operations)

  return {
    ...operations,
    url: `http://${authority}`,
    async stop() {
      for (const conn of ctx.connections) conn.terminate()
      wss.close()
      http.closeAllConnections()
      await new Promise<void>(resolve => http.close(() => resolve()))
      await ctx.media.close()
    }
  }
}
