import makeWASocket, {
  Browsers, DisconnectReason, generateMessageIDV2, isJidBroadcast, isJidGroup, isJidNewsletter, jidNormalizedUser, proto,
} from '@whiskeysockets/baileys'
import type { CacheStore, ConnectionState, GroupMetadata, UserFacingSocketConfig, WAMessage, WASocket } from '@whiskeysockets/baileys'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { Db } from '../../db/driver.js'
import type { AuthFence } from '../../db/queries/auth-state.js'
import type { GroupInfo } from '../../db/queries/groups.js'
import { LeaseLostError } from '../../db/queries/leases.js'
import { createKeyCache, loadAuthState, type AuthCipher, type DbAuthState } from './auth-state.js'
import { inboundContent, isConsiderable, type InboundContent } from './content.js'
import { downloadInboundFile, type DownloadResult } from './download.js'
import { growingLru } from './growing-lru.js'
import { isIgnoredJid, isLid, jidToPhone, lidUser, phoneToJid } from './jid.js'
import type { LoopbackSocketOverrides } from './loopback-trust.js'
import { MediaUploads, sendOutbound, type OutboundContent, type SendOptions } from './outbound.js'
import { createUploader } from './upload.js'
import { readSealedProxy } from '../../db/queries/proxy.js'
import type { ProxyKey } from '../proxy-key.js'
import { createProxyRoute, PROXY_UNREACHABLE, type ProxyRoute } from './proxy.js'

/**
 * The runner's view of a WhatsApp connection (runner/README.md, Layout): the queue, the supervisor and the tests
 * speak these types; Baileys' types and `Boom` codes never leave this folder.
 */

/** Why a connection closed, already sorted by what the runner must do (runner/README.md, Reconnect policy). */
export type CloseReason =
  /** 515 after pairing: reconnect at once, reusing the in-memory state. */
  | { kind: 'restart' }
  /** 428, 408, 500, 503, network errors: reconnect with backoff. */
  | { kind: 'transient'; code: number | null; message: string }
  /** Unpaired and the QR refs ran out: stop until a new QR is requested. */
  | { kind: 'qr-expired' }
  /** 401 / 411: the device was unlinked; wipe the auth state, re-pair only when asked. */
  | { kind: 'logged-out'; code: number }
  /** 403: the account is blocked; a human acts, the auth state is kept. */
  | { kind: 'forbidden' }
  /** 405: WhatsApp rejected this client version. */
  | { kind: 'outdated' }
  /** 440: the credentials are live elsewhere; never reconnect automatically. */
  | { kind: 'replaced' }
  /** 400: the server's certificate was refused. */
  | { kind: 'bad-certificate' }
  /** We closed it (`close()`, `logout()`). */
  | { kind: 'closed' }

/** `kind`, `text` (a text message's text or a reaction's emoji), `caption`, media metadata and `quotedId`: content.ts. */
export interface InboundMessage extends Omit<InboundContent, 'file'> {
  /** An image's, video's, audio's or document's file: downloads and decrypts it, at most `maxBytes` plain bytes. */
  download?: (maxBytes: number, signal?: AbortSignal) => Promise<DownloadResult>
  /** WhatsApp id of the inbound message (dedupe key with the session). */
  id: string
  /** The sender's address as received (`…@s.whatsapp.net` or `…@lid`); in a group, its author's. */
  senderJid: string
  /** The group JID when it was written in a group; null for a 1:1 chat. */
  group: string | null
  /** The sender's phone digits, when the client could resolve them; else null (see `lid`). */
  phone: string | null
  /** The sender's LID user part, when the address (or its alternate) is a LID. */
  lid: string | null
  pushName: string | null
  /** Delivered from the offline backlog (`append`) rather than live (`notify`). */
  offline: boolean
}

export interface WhatsAppHandlers {
  onQr(qr: string): void
  onOpen(info: { phone: string | null; jid: string | null }): void
  /** A new link completed (QR scanned or pairing code entered); the 515 restart follows. */
  onPaired?(): void
  /** Pending notifications (offline receipts, messages) have been delivered: reconcile now. */
  onReady(): void
  onClose(reason: CloseReason): void
  onServerAck(id: string): void
  /** `participant`: the member's address, for a group message (one receipt per member device). */
  onReceipt(receipt: { id: string; status: 'delivered' | 'read'; participant?: string }): void
  /** A negative ack (`messages.update` status ERROR); `code` is e.g. '463'. */
  onErrorAck(ack: { id: string; code: string; reason: string | null }): void
  /**
   * Awaited, before WhatsApp gets the message's receipt (Baileys as patched, runner/whatsapp/baileys-patch.ts): once this resolves
   * the message is never delivered again, so resolve only when it is stored or given up on. `signal` aborts when the
   * connection is gone: then throw, and WhatsApp delivers the message again at the next login. Dedupe is the
   * handler's job (a redelivered message has the same id).
   */
  onInbound(message: InboundMessage, signal?: AbortSignal): Promise<void>
  /** A LID ↔ phone pair the client learned. */
  onLidMapping(pair: { lid: string; phone: string }): void
  /** The key store could not persist a write: live ratchets are ahead of the database. */
  onStorageError(err: unknown): void
  /**
   * WhatsApp told of group changes (runner/README.md, Groups): `upsert` carries groups in full (a new group, or
   * Baileys' own complete fetch), `refetch` names groups whose members or settings changed (`fetchGroup` them).
   */
  onGroupChange?(change: { upsert: GroupInfo[]; refetch: string[] }): void
}

export { MediaRefusedError } from './upload.js'
export { FenceClosedError } from './outbound.js'
export type { MediaKind, MediaUpload, OutboundContent, OutboundMedia, QuotedInbound, SendOptions } from './outbound.js'

/** What a chat shows of us: "typing…", "recording…" (a voice note), or neither. */
export type ChatPresence = 'composing' | 'recording' | 'paused'

/** The send could not start because there is no open connection: nothing left the process. */
export class NotConnectedError extends Error {
  constructor(message = 'WhatsApp connection is not open') {
    super(message)
    this.name = 'NotConnectedError'
  }
}

export interface WhatsAppClient {
  readonly session: string
  /** True once the stored creds show a paired account. */
  readonly paired: boolean
  /** The own phone once known. */
  readonly phone: string | null
  /** Opens one connection; its end is reported once through `handlers.onClose`. */
  connect(handlers: WhatsAppHandlers): Promise<void>
  /** Writes a message to the socket under the pre-generated id; resolves when the stanza left (not an ack). */
  send(to: string, messageId: string, content: OutboundContent, options?: SendOptions): Promise<void>
  /** Shows `state` in the chat with `phone` (a chatstate stanza); resolves when it left. */
  showPresence?(phone: string, state: ChatPresence): Promise<void>
  /** Lazy, single-number registration check (never bulk). `null` when the server did not answer. */
  isOnWhatsApp(phone: string): Promise<boolean | null>
  /**
   * Asks WhatsApp whether `phone` has an account (one usync query, never a list): its JID, `false` when it has none,
   * `null` when the server did not answer. For `GET /api/sessions/:name/check/:phone` (db/queries/number-checks.ts).
   */
  lookUp?(phone: string): Promise<string | false | null>
  /** Phone digits for a LID user, from the client's own mapping store, or null. */
  phoneForLid(lid: string): Promise<string | null>
  /** A new WhatsApp message id in WhatsApp Web's shape. */
  newMessageId(): string
  /** Unlinks the device (if connected), closes, and wipes the stored auth state. */
  logout(): Promise<void>
  /** Deletes the stored auth state and starts over from fresh creds (next connect shows a QR). */
  wipe(): Promise<void>
  /** Closes the connection (no reconnect); resolves once it is closed. */
  close(): Promise<void>
  /** Drops the in-memory auth state: the next connect reloads it from the database (after a storage error). */
  reset?(): void
  /**
   * On a registering connection (after its first QR), asks WhatsApp for an 8-character code that links `phone`
   * (digits) when entered on that phone; resolves with it as `XXXX-XXXX`. Throws if the connection cannot.
   */
  requestPairingCode?(phone: string): Promise<string>
  /** Every group this number is in (one `participating` query). Throws when not connected. */
  fetchGroups?(): Promise<GroupInfo[]>
  /** One group's metadata; null when this number is not (or no longer) in it, or it does not exist. */
  fetchGroup?(id: string): Promise<GroupInfo | null>
}

export interface WhatsAppClientFactory {
  /**
   * A client for `session`, held under the lease `fence` (the runner's id and the session's `lease_epoch`): its auth
   * state writes are refused once that lease is gone (runner/whatsapp/auth-state.ts). Omitted only in tests.
   */
  create(session: string, log: Logger, fence?: AuthFence): Promise<WhatsAppClient>
}

// ---------------------------------------------------------------------------------------------------------------
// Baileys implementation

export interface BaileysFactoryOptions {
  db: Db
  cipher: AuthCipher
  /** Socket overrides from `loopbackSocketOverrides(env)` (URL, trusted root, media agent); `{}` for WhatsApp. */
  endpoint: LoopbackSocketOverrides
  /**
   * The loopback server has no phone that pushes history after the first login, so Baileys would buffer every
   * event for 20 s waiting for it. Set only for the loopback endpoint: marks the account synced, as Baileys itself
   * does after its first sync or that timeout.
   */
  skipFirstSyncWait?: boolean
  /** Further Baileys socket settings laid over the defaults and the endpoint's (tests: short QR and keep-alive timers). */
  socketConfig?: Partial<UserFacingSocketConfig>
  keyCache?: LRUCache<string, object>
  /**
   * Opens the sessions' sealed proxy URLs (runner/proxy-key.ts); `tls`: the far end's TLS options for tunnelled
   * connections (the loopback's CA). Without it every session connects directly.
   */
  proxies?: { key: ProxyKey; tls: { ca?: string } }
}

/** A CacheStore over one bounded LRU (shared, bounded caches across sockets: runner/README.md, Auth state). */
function lruStore(max: number, ttlMs: number): CacheStore {
  const lru = new LRUCache<string, object>({ max, ttl: ttlMs })
  return {
    get: <T>(k: string) => lru.get(k) as T | undefined,
    set: <T>(k: string, v: T) => {
      if (v === undefined || v === null) lru.delete(k)
      else lru.set(k, (typeof v === 'object' ? v : { __v: v }))
    },
    del: (k: string) => lru.delete(k),
    flushAll: () => lru.clear(),
  }
}

/** Primitive values are boxed by lruStore; unbox them on the way out. */
function unboxingStore(store: CacheStore): CacheStore {
  return {
    ...store,
    get: <T>(k: string) => {
      const v = store.get<{ __v?: unknown }>(k) as { __v?: unknown } | undefined
      return (v && typeof v === 'object' && '__v' in v ? v.__v : v) as T | undefined
    },
  }
}

function statusCodeOf(update: Partial<ConnectionState>): { code: number | null; message: string } {
  const err = update.lastDisconnect?.error as { output?: { statusCode?: number }; message?: string } | undefined
  return { code: err?.output?.statusCode ?? null, message: err?.message ?? '' }
}

/** Sorts a Baileys close into the runner's policy table (runner/README.md, Reconnect policy). */
export function classifyClose(code: number | null, message: string, paired: boolean, endedByUs: boolean): CloseReason {
  if (endedByUs) return { kind: 'closed' }
  switch (code) {
    case DisconnectReason.restartRequired:
      return { kind: 'restart' }
    case DisconnectReason.loggedOut:
    case DisconnectReason.multideviceMismatch:
      return { kind: 'logged-out', code }
    case DisconnectReason.forbidden:
      return { kind: 'forbidden' }
    case 405:
      return { kind: 'outdated' }
    case DisconnectReason.connectionReplaced:
      return { kind: 'replaced' }
    case 400:
      return { kind: 'bad-certificate' }
    case DisconnectReason.timedOut:
      if (!paired && /QR refs attempts ended/i.test(message)) return { kind: 'qr-expired' }
      return { kind: 'transient', code, message }
    default:
      return { kind: 'transient', code, message: message || 'connection closed' }
  }
}

/** Shared across every socket of the process: keyed by message/user ids, bounded (runner/README.md, Auth state). */
function sharedCaches() {
  return {
    msgRetryCounterCache: unboxingStore(lruStore(10_000, 60 * 60_000)),
    userDevicesCache: unboxingStore(lruStore(50_000, 5 * 60_000)),
    callOfferCache: unboxingStore(lruStore(1_000, 5 * 60_000)),
    placeholderResendCache: unboxingStore(lruStore(10_000, 60 * 60_000)),
  }
}

const silentBaileysLevel = 'warn'

/**
 * Makes Baileys clients whose auth state lives encrypted in `auth_keys`.
 * @example const factory = createBaileysFactory({ db, cipher, endpoint: loopbackSocketOverrides(env) })
 */
export function createBaileysFactory(options: BaileysFactoryOptions): WhatsAppClientFactory {
  const keyCache = options.keyCache ?? createKeyCache()
  const caches = sharedCaches()
  // getMessage serves re-sends after retry receipts; looked up by id alone (retries may come from an @lid).
  const sentProtos = new LRUCache<string, proto.IMessage>({ max: 20_000, ttl: 24 * 60 * 60_000 })
  return {
    create(session, log, fence) {
      return Promise.resolve(new BaileysClient(session, log, options, keyCache, caches, sentProtos, fence))
    },
  }
}

class BaileysClient implements WhatsAppClient {
  private state: DbAuthState | null = null
  private sock: WASocket | null = null
  private open = false
  private endedByUs = false
  private closed: Promise<void> = Promise.resolve()
  private readonly notOnWhatsApp = growingLru<string, boolean>(50_000, 24 * 60 * 60_000)
  private handlers: WhatsAppHandlers | null = null
  /** Aborted when the current connection ends: an inbound message still being stored must not be receipted. */
  private connection = new AbortController()
  /** Inbound ids handled before their receipt, so the later `messages.upsert` of the same message is skipped. */
  private readonly storedBeforeReceipt = growingLru<string, true>(10_000)
  /**
   * The groups' metadata as last fetched or announced (on connect, and again after each change notification), handed
   * to Baileys as `cachedGroupMetadata` so a send to a group does not query its metadata first. A change notification
   * drops its group at once (`forgetGroup`): until the refetch answers, a send finds nothing here and Baileys queries
   * the members itself, so it never encrypts for the members before the change.
   */
  private readonly groupMeta = growingLru<string, GroupMetadata>(5_000)
  /**
   * Per group, the `groupChanges` count at its last change notification: a fetch sent before it (its answer may
   * predate the change) is not cached (`toGroupInfo`), only one sent after it.
   */
  private readonly groupChangedAt = growingLru<string, number>(5_000)
  private groupChanges = 0
  /** Group members' LID → phone, from the group metadata fetched (receipts in LID-addressed groups name the LID). */
  private readonly memberPhones = growingLru<string, string>(50_000)
  /** Uploaded media reused by later sends of the same media on this session (runner/whatsapp/outbound.ts). */
  readonly uploads = new MediaUploads()
  /** The proxy of the current connection (null: direct), kept while the sealed URL stays the same. */
  private route: { sealed: string; route: ProxyRoute } | null = null
  /** The current connection has opened (a proxy failure before that is why it closed). */
  private opened = false

  constructor(
    readonly session: string,
    private readonly log: Logger,
    private readonly options: BaileysFactoryOptions,
    private readonly keyCache: LRUCache<string, object>,
    private readonly caches: ReturnType<typeof sharedCaches>,
    private readonly sentProtos: LRUCache<string, proto.IMessage>,
    private readonly fence: AuthFence | undefined,
  ) {}

  get paired(): boolean {
    return Boolean(this.state?.creds.account)
  }

  get phone(): string | null {
    return jidToPhone(this.state?.creds.me?.id ?? null)
  }

  private async ensureState(): Promise<DbAuthState> {
    if (!this.state) {
      this.state = await loadAuthState({
        db: this.options.db,
        session: this.session,
        cipher: this.options.cipher,
        cache: this.keyCache,
        onStorageError: (err) => this.handlers?.onStorageError(err),
        fence: this.fence,
        // Key reads wait out a short database outage while a socket is up, so Baileys does not nack (and lose) the
        // inbound message it is decrypting; with the socket gone the message stays unacked and WhatsApp redelivers it.
        isLive: () => this.sock !== null,
      })
    }
    return this.state
  }

  async connect(handlers: WhatsAppHandlers): Promise<void> {
    if (this.sock) throw new Error(`session ${this.session} already has a socket`)
    this.handlers = handlers
    // Reused across a 515 restart: saveCreds may still be writing, so the in-memory state is the truth.
    const state = await this.ensureState()
    if (this.options.skipFirstSyncWait && state.creds.account && !state.creds.accountSyncCounter) {
      state.creds.accountSyncCounter = 1
    }
    const route = await this.proxyRoute()
    route?.reset()
    this.opened = false
    this.endedByUs = false
    this.open = false
    // Baileys at 'warn' at most: 'info' logs the login payload (with the phone number), 'trace' every frame.
    const level = this.log.levelVal > 40 ? this.log.level : silentBaileysLevel
    const baileysLog = this.log.child({ module: 'baileys' }, { level })
    const connection = new AbortController()
    this.connection = connection
    const config: UserFacingSocketConfig & BeforeReceiptOption & TrustedRootOption = {
      auth: state,
      logger: baileysLog,
      browser: Browsers.ubuntu('Chrome'),
      markOnlineOnConnect: false,
      syncFullHistory: false,
      emitOwnEvents: false,
      getMessage: (key) => Promise.resolve(key.id ? this.sentProtos.get(key.id) : undefined),
      ...this.caches,
      shouldIgnoreJid: (jid: string) => Boolean(isJidBroadcast(jid) || isJidNewsletter(jid)),
      ...this.options.endpoint,
      // The WebSocket and the media uploads both go through the session's proxy (runner/README.md, Proxy per number).
      ...(route && { agent: route.agent as UserFacingSocketConfig['agent'], fetchAgent: route.agent as LoopbackSocketOverrides['fetchAgent'] }),
      ...this.options.socketConfig,
      // Baileys downloads (media, app-state and history blobs) with fetch(), which takes a dispatcher.
      ...(route && { options: { ...this.options.socketConfig?.options, dispatcher: route.dispatcher } as UserFacingSocketConfig['options'] }),
      beforeReceipt: (m, { offline }) => this.storeBeforeReceipt(m, offline, handlers, connection.signal),
      cachedGroupMetadata: (jid: string) => Promise.resolve(this.groupMeta.get(jid)),
    }
    const sock = makeWASocket(config)
    this.sock = sock
    let resolveClosed!: () => void
    this.closed = new Promise((r) => (resolveClosed = r))

    sock.ev.on('creds.update', () => {
      // Baileys' own listener already merged the update into state.creds; persist the whole object.
      state.saveCreds().catch((err) => {
        this.log.error({ err }, 'saving creds failed')
        // A fenced-out save was already reported by the auth state itself (once per state).
        if (!(err instanceof LeaseLostError)) handlers.onStorageError(err)
      })
    })

    // Server acks: Baileys emits nothing for a successful <ack class="message">, so listen to the raw frame.
    sock.ws.on('CB:ack,class:message', (node: { attrs: Record<string, string> }) => {
      if (node.attrs.id && !node.attrs.error) handlers.onServerAck(node.attrs.id)
    })

    sock.ev.process(async (events) => {
      const conn = events['connection.update']
      if (conn) this.onConnectionUpdate(conn, handlers, resolveClosed)
      // Every LID ↔ phone pair WhatsApp reveals is kept (runner/README.md): there is no LID → phone lookup.
      const lid = events['lid-mapping.update']
      if (lid) this.learnPair(lid.lid, lid.pn, handlers)
      const history = events['messaging-history.set']
      for (const pair of history?.lidPnMappings ?? []) this.learnPair(pair.lid, pair.pn, handlers)
      for (const c of [...(events['contacts.upsert'] ?? []), ...(events['contacts.update'] ?? [])]) {
        const lidJid = c.lid ?? (isLid(c.id) ? c.id : undefined)
        const pnJid = c.phoneNumber ?? (jidToPhone(c.id ?? null) ? c.id : undefined)
        this.learnPair(lidJid, pnJid, handlers)
      }
      const updates = events['messages.update']
      if (updates) {
        for (const { key, update } of updates) {
          if (!key.fromMe || !key.id) continue
          const status = update.status
          if (status === proto.WebMessageInfo.Status.ERROR) {
            const params = (update as { messageStubParameters?: string[] }).messageStubParameters ?? []
            handlers.onErrorAck({ id: key.id, code: String(params[0] ?? 'unknown'), reason: params[1] ?? null })
          } else if (status === proto.WebMessageInfo.Status.DELIVERY_ACK) {
            handlers.onReceipt({ id: key.id, status: 'delivered' })
          } else if (status === proto.WebMessageInfo.Status.READ || status === proto.WebMessageInfo.Status.PLAYED) {
            handlers.onReceipt({ id: key.id, status: 'read' })
          }
        }
      }
      const created = events['groups.upsert']
      const changed = events['groups.update']
      const members = events['group-participants.update']
      if (handlers.onGroupChange && (created || changed || members)) {
        // A `groups.update` with members is a complete group (Baileys emits its own fetches that way); one without
        // is a changed setting or subject, and a member change names only the members: fetch those groups.
        const full = [...(created ?? []), ...(changed ?? []).filter((g): g is GroupMetadata => Array.isArray(g.participants) && !!g.id)]
        const upsertIds = new Set(full.map((g) => g.id))
        const refetch = new Set([...(changed ?? []).map((g) => g.id), members?.id].filter((id): id is string => !!id && !upsertIds.has(id)))
        // Before anything awaits: the next send must not use the members before this change.
        for (const id of refetch) this.forgetGroup(id)
        handlers.onGroupChange({ upsert: full.map((g) => this.toGroupInfo(g)), refetch: [...refetch] })
      }
      // A group message's receipts come per participant (`message-receipt.update`), not as a status of the message.
      for (const { key, receipt } of events['message-receipt.update'] ?? []) {
        if (!key.fromMe || !key.id || !isJidGroup(key.remoteJid ?? undefined)) continue
        // One member may answer as its phone for delivery and as its LID for read: counted by phone when known.
        const lid = lidUser(receipt.userJid)
        const participant = jidToPhone(receipt.userJid) ?? (lid && (this.memberPhones.get(lid) ?? (await this.phoneForLid(lid)))) ?? (lid ? `${lid}@lid` : undefined)
        if (receipt.receiptTimestamp) handlers.onReceipt({ id: key.id, status: 'delivered', participant })
        if (receipt.readTimestamp) handlers.onReceipt({ id: key.id, status: 'read', participant })
      }
      const upsert = events['messages.upsert']
      if (upsert && (upsert.type === 'notify' || upsert.type === 'append')) {
        for (const m of upsert.messages) {
          // Stored before its receipt already; only messages Baileys did not pass through the hook remain (and
          // every message, should the patch be missing).
          if (m.key.id && this.storedBeforeReceipt.has(m.key.id)) continue
          try {
            await this.onUpsert(m, upsert.type === 'append', handlers)
          } catch (err) {
            this.log.error({ err, id: m.key.id }, 'handling an inbound message failed')
          }
        }
      }
    })
  }

  private onConnectionUpdate(update: Partial<ConnectionState>, handlers: WhatsAppHandlers, resolveClosed: () => void): void {
    if (update.qr) handlers.onQr(update.qr)
    if (update.isNewLogin) handlers.onPaired?.()
    if (update.connection === 'open') {
      this.open = true
      this.opened = true
      const me = this.sock?.user?.id ?? this.state?.creds.me?.id ?? null
      handlers.onOpen({ phone: jidToPhone(me), jid: me ? jidNormalizedUser(me) : null })
    }
    if (update.receivedPendingNotifications) handlers.onReady()
    if (update.connection === 'close') {
      this.open = false
      this.sock = null
      this.connection.abort()
      const { code, message } = statusCodeOf(update)
      let reason = classifyClose(code, message, this.paired, this.endedByUs)
      // A connection that never opened because the proxy refused or failed: the proxy is what to fix, the session's
      // detail says so, and it is retried like any network error (whatever status the proxy's answer carried).
      const failure = this.route?.route.failure
      if (failure && !this.opened && reason.kind !== 'closed') reason = { kind: 'transient', code, message: `${PROXY_UNREACHABLE} ${failure}` }
      resolveClosed()
      // requestPairingCode wrote creds.me (and saved it) before anything was linked. Kept, the next connect would try
      // to log in as that half-made device and get 401 (runner/README.md): an abandoned pairing starts over from fresh
      // creds instead. Wiped before the close is reported, so a reconnect loads the clean state.
      const creds = this.state?.creds
      if (creds?.me && !creds.account) {
        this.log.info('pairing not completed: discarding the half-written credentials')
        this.wipe()
          .catch((err) => this.log.error({ err }, 'discarding an unfinished pairing failed'))
          .finally(() => handlers.onClose(reason))
        return
      }
      handlers.onClose(reason)
    }
  }

  /**
   * The session's proxy as stored now (read at every connect, so a change needs no restart), or null for a direct
   * connection. A sealed URL this runner cannot open stops the connection: going direct would expose the address
   * the operator chose to hide.
   */
  private async proxyRoute(): Promise<ProxyRoute | null> {
    const proxies = this.options.proxies
    const sealed = proxies ? await readSealedProxy(this.options.db, this.session) : null
    if (!proxies || !sealed) {
      this.route = null
      return null
    }
    if (this.route?.sealed === sealed) return this.route.route
    let url: string
    try {
      url = proxies.key.open(sealed, this.session)
    } catch {
      this.route = null
      throw new Error('the stored proxy cannot be opened with this AUTH_STATE_KEY; set it again with PATCH /api/sessions/:name')
    }
    const route = createProxyRoute(url, proxies.tls)
    this.route = { sealed, route }
    this.log.info({ proxy: route.shown }, 'connecting through a proxy')
    return route
  }

  async requestPairingCode(phone: string): Promise<string> {
    const sock = this.sock
    if (!sock) throw new NotConnectedError('no connection is registering: wait for the QR code, then ask again')
    if (this.paired || this.open) throw new Error('this session is already linked to a number')
    const code = (await sock.requestPairingCode(phone)).toUpperCase()
    return code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code
  }

  private learnPair(lidJid: string | undefined, pnJid: string | undefined, handlers: WhatsAppHandlers): void {
    const lid = lidUser(lidJid ?? null)
    const phone = jidToPhone(pnJid ?? null)
    // The account's own pair is no contact's: recorded, it would resolve a LID sender to the gateway's own number.
    if (lid && phone && !this.isOwn(lid, phone)) handlers.onLidMapping({ lid, phone })
  }

  /** The session's own phone or LID user (never a contact's address). */
  private isOwn(lid: string | null, phone: string | null): boolean {
    const me = this.state?.creds.me
    return Boolean((phone && phone === jidToPhone(me?.id ?? null)) || (lid && lid === lidUser(me?.lid ?? null)))
  }

  /**
   * Baileys' `beforeReceipt` hook: the message is decrypted, its receipt not yet sent. Throwing here makes Baileys
   * nack it, which WhatsApp takes as settled, so the hook throws only once the connection is gone (the nack cannot
   * leave then, and WhatsApp redelivers at the next login); a message the handler gave up on is receipted.
   */
  private async storeBeforeReceipt(m: WAMessage, offline: boolean, handlers: WhatsAppHandlers, signal: AbortSignal): Promise<void> {
    try {
      await this.onUpsert(m, offline, handlers, signal)
    } catch (err) {
      if (signal.aborted) throw err
      this.log.error({ err, id: m.key.id }, 'handling an inbound message failed')
    }
    if (m.key.id) this.storedBeforeReceipt.set(m.key.id, true)
  }

  private async onUpsert(m: WAMessage, offline: boolean, handlers: WhatsAppHandlers, signal?: AbortSignal): Promise<void> {
    const chat = m.key.remoteJid
    // Written in a group: the author is the key's participant (runner/README.md, Groups).
    const group = chat && isJidGroup(chat) ? chat : null
    const key = m.key as { remoteJidAlt?: string; participant?: string | null; participantAlt?: string }
    const remote = group ? key.participant : chat
    if (!m.key.id || !remote || (!group && isIgnoredJid(remote)) || !isConsiderable(m)) return
    const alt = (group ? key.participantAlt : key.remoteJidAlt) ?? null
    // Sender phone resolution (runner/README.md): a PN address; else the PN alternate; else Baileys' LID store.
    let phone = jidToPhone(remote) ?? jidToPhone(alt)
    const lid = lidUser(remote) ?? lidUser(alt)
    if (lid && phone) this.learnPair(`${lid}@lid`, `${phone}@s.whatsapp.net`, handlers)
    if (!phone && lid) phone = (group && this.memberPhones.get(lid)) || (await this.phoneForLid(lid))
    // Never the gateway's own number: such a sender is unresolved and parked, not answered (runner/README.md).
    if (phone && this.isOwn(null, phone)) {
      this.log.warn({ id: m.key.id, lid }, 'inbound sender resolved to the own number; parked as unresolved')
      phone = null
    }
    const { file, ...content } = inboundContent(m)
    const sock = this.sock
    await handlers.onInbound({
      id: m.key.id,
      group,
      senderJid: remote,
      phone,
      lid,
      ...content,
      pushName: m.pushName ?? null,
      offline,
      ...(file && sock && {
        download: (maxBytes: number, downloadSignal?: AbortSignal) => downloadInboundFile(
          { refreshMediaConn: sock.refreshMediaConn, agent: this.mediaAgent(), log: this.log }, file.ref, file.kind, maxBytes, downloadSignal,
        ),
      }),
    }, signal)
  }

  /** Uploads and inbound downloads go through the session's proxy, if it has one (runner/README.md, Proxy per number). */
  private mediaAgent(): LoopbackSocketOverrides['fetchAgent'] {
    return (this.route?.route.agent as LoopbackSocketOverrides['fetchAgent']) ?? this.options.endpoint.fetchAgent
  }

  async phoneForLid(lid: string): Promise<string | null> {
    const repo = this.sock?.signalRepository?.lidMapping
    if (!repo) return null
    try {
      const pn = await repo.getPNForLID(`${lid}@lid`)
      return pn ? jidToPhone(jidNormalizedUser(pn)) : null
    } catch {
      return null
    }
  }

  async send(to: string, messageId: string, content: OutboundContent, options?: SendOptions): Promise<void> {
    const sock = this.sock
    if (!sock || !this.open) throw new NotConnectedError()
    const upload = createUploader({ refreshMediaConn: sock.refreshMediaConn, agent: this.mediaAgent(), log: this.log })
    const sent = await sendOutbound({ sock, upload, uploads: this.uploads, log: this.log }, to, messageId, content, options)
    if (sent) this.sentProtos.set(messageId, sent)
  }

  async fetchGroups(): Promise<GroupInfo[]> {
    const sock = this.sock
    if (!sock || !this.open) throw new NotConnectedError()
    const asked = this.groupChanges
    return Object.values(await sock.groupFetchAllParticipating()).map((g) => this.toGroupInfo(g, asked))
  }

  async fetchGroup(id: string): Promise<GroupInfo | null> {
    const sock = this.sock
    if (!sock || !this.open) throw new NotConnectedError()
    const asked = this.groupChanges
    try {
      return this.toGroupInfo(await sock.groupMetadata(id), asked)
    } catch (err) {
      // 403: not a member (left or removed); 404: no such group. Anything else (a timeout) is not an answer. Baileys
      // puts the IQ's error code in the Boom's `data` (a query's error) or its status (a metadata's error node).
      const e = err as { data?: unknown; output?: { statusCode?: number } }
      const code = typeof e.data === 'number' ? e.data : e.output?.statusCode
      if (code === 403 || code === 404) {
        this.groupMeta.delete(id)
        return null
      }
      throw err
    }
  }

  /** A member or setting of group `id` changed: its cached metadata is stale, and so is any fetch already sent. */
  private forgetGroup(id: string): void {
    this.groupMeta.delete(id)
    this.groupChangedAt.set(id, ++this.groupChanges)
  }

  /**
   * Baileys' metadata in the gateway's terms: members by phone (null where hidden) and LID, and this number's rights.
   * `asked`: the `groupChanges` count when the fetch that brought it was sent (absent: a notification's own data).
   */
  private toGroupInfo(g: GroupMetadata, asked = this.groupChanges): GroupInfo {
    // Only complete metadata is cached (a `groups.update` may carry just a subject), and not an answer older than
    // the group's last change notification.
    if (Array.isArray(g.participants) && (this.groupChangedAt.get(g.id) ?? 0) <= asked) this.groupMeta.set(g.id, g)
    const participants = (g.participants ?? []).map((p) => ({
      phone: jidToPhone(p.phoneNumber) ?? jidToPhone(p.id),
      lid: lidUser(p.lid) ?? lidUser(p.id),
      admin: p.admin === 'admin' || p.admin === 'superadmin' || Boolean(p.isAdmin || p.isSuperAdmin),
    }))
    for (const p of participants) if (p.lid && p.phone) this.memberPhones.set(p.lid, p.phone)
    const me = participants.find((p) => this.isOwn(p.lid, p.phone))
    const isAdmin = Boolean(me?.admin)
    return {
      id: g.id,
      subject: g.subject ?? '',
      announce: Boolean(g.announce),
      isAdmin,
      canSend: Boolean(me) && (!g.announce || isAdmin),
      createdAt: g.creation ? new Date(g.creation * 1000) : null,
      participants,
    }
  }

  async showPresence(phone: string, state: ChatPresence): Promise<void> {
    const sock = this.sock
    if (!sock || !this.open) throw new NotConnectedError()
    await sock.sendPresenceUpdate(state, phoneToJid(phone))
  }

  async isOnWhatsApp(phone: string): Promise<boolean | null> {
    const cached = this.notOnWhatsApp.get(phone)
    if (cached !== undefined) return cached
    const jid = await this.lookUp(phone)
    if (jid === null) return null
    // A send goes to the digits queued: a number WhatsApp knows under other digits is not this one.
    const exists = jid !== false && jidToPhone(jid) === phone
    this.notOnWhatsApp.set(phone, exists)
    return exists
  }

  async lookUp(phone: string): Promise<string | false | null> {
    const sock = this.sock
    if (!sock || !this.open) throw new NotConnectedError()
    const result = await sock.onWhatsApp(phoneToJid(phone))
    // Baileys resolves a timed-out query with undefined: unknown, not "absent".
    if (!result) return null
    // Only numbers WhatsApp knows come back; the JID may differ from the digits asked (a country's added digit).
    const found = result.find((r) => r.exists)
    return found ? found.jid : false
  }

  newMessageId(): string {
    return generateMessageIDV2(this.sock?.user?.id ?? this.state?.creds.me?.id)
  }

  async logout(): Promise<void> {
    const sock = this.sock
    if (sock && this.open) {
      this.endedByUs = true
      const closed = this.closed
      try {
        await sock.logout()
      } catch (err) {
        this.log.warn({ err }, 'logout request failed; wiping the local state anyway')
        this.endSocket(sock)
      }
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))])
    } else {
      await this.close()
    }
    await this.wipe()
  }

  async wipe(): Promise<void> {
    const state = await this.ensureState()
    await state.wipe()
    // Fresh creds for the next pairing; the old object may still be referenced by a closing socket.
    this.state = null
  }

  reset(): void {
    this.state = null
  }

  /** Ends the socket without waiting: the caller waits for the close event instead, with its own time limit. */
  private endSocket(sock: WASocket): void {
    sock.end(undefined).catch((err: unknown) => this.log.warn({ err }, 'ending the WhatsApp socket failed'))
  }

  async close(): Promise<void> {
    const sock = this.sock
    if (!sock) return
    this.endedByUs = true
    const closed = this.closed
    this.connection.abort()
    // end() destroys the event buffer: receipts and acks still buffered in it would be dropped, not delivered.
    sock.ev.flush()
    this.endSocket(sock)
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))])
    this.sock = null
    this.open = false
  }
}

/** The socket options runner/whatsapp/baileys-patch.ts adds to Baileys. */
interface BeforeReceiptOption {
  beforeReceipt(message: WAMessage, info: { offline: boolean }): Promise<void>
}
interface TrustedRootOption {
  /** The certificate root this socket's Noise handshake checks (WhatsApp's when absent). */
  trustedRootKey?: Uint8Array
}

/** Exposed for tests that check the mapping of close codes. */
export const CLOSE_CODES = {
  restart: DisconnectReason.restartRequired,
  loggedOut: DisconnectReason.loggedOut,
  replaced: DisconnectReason.connectionReplaced,
} as const

export { isLid }

/** What `createWhatsAppFactory` is built from; the runner's composition hands these in (runner/compose.ts). */
export interface WhatsAppFactoryOptions {
  db: Db
  authStateKey: Uint8Array
  /** Read for the endpoint only (`WA_WEBSOCKET_URL` and the loopback's root key: runner/whatsapp/loopback-trust.ts). */
  env: Record<string, string | undefined>
  /** Where a Baileys install without the gateway's patches is reported. */
  log?: Logger
  /** Further Baileys socket settings, laid over the endpoint's (tests: short timers against the loopback server). */
  socketConfig?: Partial<UserFacingSocketConfig>
}

/**
 * The production factory: Baileys with the encrypted DB auth state, pointed at WhatsApp or, when the environment
 * names a loopback test server with its root key, at that server (runner/whatsapp/loopback-trust.ts decides and
 * refuses unsafe combinations; each socket trusts the loopback's root, nothing process-wide changes).
 */
export async function createWhatsAppFactory(options: WhatsAppFactoryOptions): Promise<WhatsAppClientFactory> {
  const { resolveWhatsAppEndpoint, socketOverridesFor } = await import('./loopback-trust.js')
  const { createAuthCipher } = await import('./auth-state.js')
  const { isBaileysPatched } = await import('./baileys-patch.js')
  const { deriveProxyKey } = await import('../proxy-key.js')
  const { publishRunnerKey } = await import('../../db/queries/proxy.js')
  const endpoint = resolveWhatsAppEndpoint(options.env)
  const loopback = endpoint.kind === 'loopback'
  // The API seals proxy URLs with this public key (db/shared/proxy.ts); every runner of one database derives the same.
  const proxyKey = deriveProxyKey(options.authStateKey)
  await publishRunnerKey(options.db, 'proxy', proxyKey.publicKey)
  if (options.log && loopback && !isBaileysPatched(undefined, ['trustedRootKey'])) {
    // Baileys 7.0.0-rc14 does not enforce the certificate signature, so this still connects; a Baileys that does
    // would refuse the loopback's certificate with 400 (bad-certificate).
    options.log.error(
      'Baileys is missing the gateway patch that lets a socket trust the loopback server\'s root (installed with ' +
        '--ignore-scripts?): run `npx patch-package` to apply patches/@whiskeysockets+baileys+7.0.0-rc14.patch',
    )
  }
  if (options.log && !isBaileysPatched(undefined, ['beforeReceipt'])) {
    // Still works, as published Baileys does: inbound messages are stored after their receipt instead of before.
    options.log.error(
      'Baileys is missing the gateway patch (installed with --ignore-scripts?): an inbound STOP can be lost if the runner ' +
        'dies as it arrives; run `npx patch-package` to apply patches/@whiskeysockets+baileys+7.0.0-rc14.patch',
    )
  }
  return createBaileysFactory({
    db: options.db,
    cipher: createAuthCipher(options.authStateKey),
    endpoint: socketOverridesFor(endpoint),
    skipFirstSyncWait: loopback,
    proxies: { key: proxyKey, tls: loopback && endpoint.caPem ? { ca: endpoint.caPem } : {} },
    ...(options.socketConfig ? { socketConfig: options.socketConfig } : {}),
  })
}
