import { setTimeout as sleep } from 'node:timers/promises'
import QRCode from 'qrcode'
import type { Logger } from 'pino'
import { DatabaseUnavailableError, type Db } from '../../db/driver.js'
import * as contacts from '../../db/queries/contacts.js'
import * as groups from '../../db/queries/groups.js'
import * as leases from '../../db/queries/leases.js'
import * as sessionReports from '../../db/queries/session-reports.js'
import * as numberChecks from '../../db/queries/number-checks.js'
import * as pairing from '../../db/queries/pairing.js'
import { clearProxyChange } from '../../db/queries/proxy.js'
import * as lifecycle from '../../db/lifecycle/index.js'
import { INBOUND_BODY_MAX_CHARS, isInboundStored } from '../../db/queries/inbound.js'
import * as sessions from '../../db/queries/sessions.js'
import type { SessionStatus } from '../../db/types.js'
import type { RunnerConfig } from '../config.js'
import { SendLoop, type Fence } from '../queue/send-loop.js'
import type { DownloadResult } from './download.js'
import type { CloseReason, InboundMessage, WhatsAppClient, WhatsAppClientFactory, WhatsAppHandlers } from './client.js'
import { matchConsentKeyword } from './consent.js'
import type { TerminalOutput } from './qr-terminal.js'
import { PROXY_UNREACHABLE } from './proxy.js'
import { unreachableCause } from './reachability.js'

/**
 * One owned session: its lease fence, its WhatsApp connection with the reconnect policy of runner/README.md, the
 * state it reports to `sessions`, its inbound consent handling and its send loop.
 *
 * | close            | action                                                                      |
 * |------------------|-----------------------------------------------------------------------------|
 * | 515 restart      | reconnect at once with the in-memory state                                  |
 * | transient        | reconnect after random(0, min(cap, 2 s·2ⁿ)); n resets after a stable period |
 * | QR expired       | offline, wait for a regenerate-qr command                                   |
 * | 401 / 411        | wipe auth state, offline "logged out", a new QR only when asked             |
 * | 403              | offline "forbidden", keep the auth state, wait for a human                  |
 * | 405              | offline "client outdated"                                                   |
 * | 440 replaced     | offline "conflict", alert, never reconnect automatically                    |
 * | 400              | offline "bad certificate", alert                                            |
 */

export interface SupervisorDeps {
  db: Db
  /** Duration of each claim transaction, in seconds (metrics). */
  onClaim?: (seconds: number) => void
  config: RunnerConfig
  log: Logger
  owner: string
  session: string
  epoch: number
  /** performance.now() read just before the acquire statement. */
  acquiredAt: number
  factory: WhatsAppClientFactory
  /** The supervisor is finished (fenced, deleted or stopped): the runner forgets it. */
  onGone: (session: string, why: string) => void
  /** Tells the terminal about QR codes and linking (set when stdout is a TTY or PRINT_QR=1). */
  terminal?: TerminalOutput
}

type Phase = 'starting' | 'connecting' | 'online' | 'waiting' | 'stopping' | 'gone'

export class SessionSupervisor {
  readonly session: string
  private epoch: number
  private fenceAt: number
  private fenceTimer: NodeJS.Timeout | null = null
  private reconnectTimer: NodeJS.Timeout | null = null
  private stableTimer: NodeJS.Timeout | null = null
  private readyFallback: NodeJS.Timeout | null = null
  private client: WhatsAppClient | null = null
  private loop: SendLoop | null = null
  private phase: Phase = 'starting'
  private failures = 0
  /** Bumped on every connect: events and timers of an older connection are ignored. */
  private generation = 0
  private commandRunning: Promise<void> | null = null
  /** The connection now showing a QR (a registering socket), by generation; a pairing code can be asked on it. */
  private qrShownOn = -1
  /** A pairing-code request waiting for a registering socket, and the one being asked now. */
  private pairingWanted: string | null = null
  private pairingAsking: string | null = null
  /** Group fetches and writes, one after another, so an older answer never lands over a newer one. */
  private groupWork: Promise<void> = Promise.resolve()
  /** What was last written per group (its JSON): Baileys repeats complete groups after every fetch. */
  private groupsWritten = new Map<string, string>()
  private groupRefreshTaking = false
  /** Number checks being asked now: the next poll must not ask WhatsApp about them again. */
  private readonly checking = new Set<string>()
  private readonly log: Logger
  /** Closes seen per kind (tests, metrics). */
  readonly closes: CloseReason['kind'][] = []

  constructor(private readonly d: SupervisorDeps) {
    this.session = d.session
    this.epoch = d.epoch
    this.fenceAt = d.acquiredAt + (d.config.leaseTtlSeconds - d.config.leaseFenceMarginSeconds) * 1000
    this.log = d.log.child({ session: d.session })
  }

  get leaseEpoch(): number {
    return this.epoch
  }

  get status(): Phase {
    return this.phase
  }

  get sends(): number {
    return this.loop?.sends ?? 0
  }

  private fence(): Fence {
    return { owner: this.d.owner, epoch: this.epoch, fenceAt: this.fenceAt }
  }

  async start(): Promise<void> {
    this.armFenceTimer()
    // The client's auth state is fenced by this lease; a re-acquire makes a new supervisor, hence a new client.
    this.client = await this.d.factory.create(this.session, this.log, { owner: this.d.owner, epoch: this.epoch })
    // Fenced while the client was being created (e.g. the acquire itself was slow): start nothing.
    if (this.phase === 'gone' || this.phase === 'stopping') return
    this.loop = new SendLoop({
      db: this.d.db,
      ...(this.d.onClaim ? { onClaim: this.d.onClaim } : {}),
      client: this.client,
      config: this.d.config,
      log: this.log,
      session: this.session,
      fence: () => this.fence(),
      onFenced: (why) => void this.lose(why),
    })
    this.loop.start()
    // The connection below reads the proxy as it is now: a change flagged before it needs no second connect.
    await clearProxyChange(this.d.db, this.leaseFence()).catch(() => false)
    await this.connect()
  }

  /** A renewal confirmed this lease (same epoch) at `t0`: push the fence out. */
  renewed(t0: number): void {
    this.fenceAt = t0 + (this.d.config.leaseTtlSeconds - this.d.config.leaseFenceMarginSeconds) * 1000
    this.armFenceTimer()
  }

  /** The due-probe says a message is (about to be) due. */
  wake(): void {
    this.loop?.wakeForDue()
  }

  /**
   * The API asked for a pairing code for `phone` (db/queries/pairing.ts). It is asked on a registering socket after
   * its first QR (runner/README.md): at once if one is showing a QR, else when the next QR comes; a session halted
   * unpaired (QR expired, logged out) connects again for it. A linked session answers with an error.
   */
  pairWithCode(phone: string): void {
    if (this.phase === 'stopping' || this.phase === 'gone' || !this.client) return
    if (this.pairingAsking === phone || this.pairingWanted === phone) return
    if (this.client.paired) {
      void this.answerPairing(phone, { error: 'this session is already linked to a number; regenerate the QR first' })
      return
    }
    if (!this.client.requestPairingCode) {
      void this.answerPairing(phone, { error: 'this WhatsApp client cannot pair by code' })
      return
    }
    this.pairingWanted = phone
    if (this.qrShownOn === this.generation && this.phase === 'connecting') {
      void this.askPairingCode()
    } else if (this.phase === 'waiting') {
      // Halted unpaired (qr_expired, logged_out): a new registering connection brings a QR, and the code with it.
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
      void this.connect()
    }
  }

  /**
   * The API asked whether `phone` is on WhatsApp (db/queries/number-checks.ts): one usync query on the open
   * connection, answered on the request row. While the session is not online the request waits (the API gives up
   * after 10 s, and the runner then no longer sees it).
   */
  checkNumber(phone: string): void {
    if (this.phase !== 'online' || !this.client?.lookUp || this.checking.has(phone)) return
    this.checking.add(phone)
    const fence = this.leaseFence()
    this.client.lookUp(phone)
      .then((jid) => numberChecks.answerNumberCheck(this.d.db, fence, phone, jid === null ? { error: 'WhatsApp did not answer in time' } : { jid: jid || null }))
      .catch((err: Error) => numberChecks.answerNumberCheck(this.d.db, fence, phone, { error: err.message || 'the check failed' }))
      .catch((err: Error) => this.log.warn({ err: err.message }, 'writing a number check answer failed'))
      .finally(() => this.checking.delete(phone))
  }

  private async askPairingCode(): Promise<void> {
    const phone = this.pairingWanted
    if (!phone || !this.client?.requestPairingCode) return
    this.pairingWanted = null
    this.pairingAsking = phone
    try {
      const code = await this.client.requestPairingCode(phone)
      this.log.info({ phone }, 'pairing code issued; waiting for it to be entered on the phone')
      await this.answerPairing(phone, { code })
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not get a pairing code')
      await this.answerPairing(phone, { error: (err as Error).message || 'WhatsApp did not issue a pairing code' })
    } finally {
      this.pairingAsking = null
    }
  }

  private async answerPairing(phone: string, answer: { code: string } | { error: string }): Promise<void> {
    try {
      await pairing.answerPairingRequest(this.d.db, this.leaseFence(), phone, answer)
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'writing the pairing answer failed')
    }
  }

  /** A pairing that can no longer complete (QR expired, regenerate): its code disappears from the dashboard. */
  private async endPairing(): Promise<void> {
    this.pairingWanted = null
    try {
      await pairing.clearPairing(this.d.db, this.leaseFence())
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'clearing the pairing request failed')
    }
  }

  private leaseFence(): leases.LeaseFence {
    return { name: this.session, owner: this.d.owner, epoch: this.epoch }
  }

  /**
   * The API asked for the group list again (db/queries/groups.ts). Taken only while online, so a request made while
   * the session is offline waits for the connection (whose own fetch precedes it).
   */
  refreshGroups(): void {
    if (this.phase !== 'online' || this.groupRefreshTaking || !this.client?.fetchGroups) return
    this.groupRefreshTaking = true
    groups.takeGroupRefresh(this.d.db, this.leaseFence())
      .then((took) => took && this.fetchAllGroups())
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'taking the group refresh request failed'))
      .finally(() => (this.groupRefreshTaking = false))
  }

  /** Replaces the stored list with a complete fetch (on connect and on request). */
  private fetchAllGroups(): void {
    this.groupTask('fetching the groups failed', async () => {
      if (this.phase !== 'online' || !this.client?.fetchGroups) return
      const list = await this.client.fetchGroups()
      if (await groups.replaceGroups(this.d.db, this.leaseFence(), list)) {
        this.groupsWritten = new Map(list.map((g) => [g.id, JSON.stringify(g)]))
        this.log.info({ groups: list.length }, 'group list fetched')
      }
    })
  }

  /** A notification: complete groups are written, changed ones fetched one by one, and one this number left dropped. */
  private onGroupChange(change: { upsert: groups.GroupInfo[]; refetch: string[] }): void {
    this.groupTask('recording a group change failed', async () => {
      for (const g of change.upsert) await this.writeGroup(g)
      for (const id of change.refetch) {
        if (this.phase !== 'online' || !this.client?.fetchGroup) return
        const g = await this.client.fetchGroup(id)
        if (g) await this.writeGroup(g)
        else if (await groups.removeGroup(this.d.db, this.leaseFence(), id)) this.groupsWritten.delete(id)
      }
    })
  }

  private async writeGroup(g: groups.GroupInfo): Promise<void> {
    const json = JSON.stringify(g)
    if (this.groupsWritten.get(g.id) === json) return
    if (await groups.upsertGroup(this.d.db, this.leaseFence(), g)) this.groupsWritten.set(g.id, json)
  }

  private groupTask(what: string, fn: () => Promise<void>): void {
    this.groupWork = this.groupWork.then(fn).catch((err) => this.log.warn({ err: (err as Error).message }, what))
  }

  private armFenceTimer(): void {
    if (this.fenceTimer) clearTimeout(this.fenceTimer)
    // A local timer, not a query result, closes the socket at fenceAt (db/README.md, Leases and fencing).
    this.fenceTimer = setTimeout(() => void this.lose('lease not renewed before its fence'), Math.max(0, this.fenceAt - performance.now()))
    this.fenceTimer.unref?.()
  }

  private async connect(): Promise<void> {
    if (this.phase === 'stopping' || this.phase === 'gone' || !this.client) return
    this.phase = 'connecting'
    const gen = ++this.generation
    try {
      await this.client.connect(this.handlers(gen))
    } catch (err) {
      this.log.error({ err }, 'could not start a connection')
      this.scheduleReconnect({ code: null, message: (err as Error).message })
    }
  }

  private handlers(gen: number): WhatsAppHandlers {
    const live = () => gen === this.generation && this.phase !== 'gone'
    return {
      onQr: (qr) => {
        if (!live()) return
        void this.showQr(qr)
        const first = this.qrShownOn !== gen
        this.qrShownOn = gen
        if (first && this.pairingWanted) void this.askPairingCode()
      },
      onPaired: () => {
        if (!live()) return
        // The warm-up schedule of the sending limits starts from this link (db/lifecycle/limit-plan.ts).
        pairing.markPaired(this.d.db, this.leaseFence())
          .catch((err) => this.log.warn({ err: (err as Error).message }, 'recording the new link failed'))
      },
      onOpen: ({ phone }) => {
        if (!live()) return
        this.phase = 'online'
        void this.reportOnline(phone)
        this.fetchAllGroups()
        if (this.stableTimer) clearTimeout(this.stableTimer)
        // Reset the backoff only after the connection stayed open for a while (runner/README.md, Reconnect policy).
        this.stableTimer = setTimeout(() => (this.failures = 0), this.d.config.stableAfterMs)
        this.stableTimer.unref?.()
        // Some servers never send the offline-count notification: do not wait for it forever.
        if (this.readyFallback) clearTimeout(this.readyFallback)
        this.readyFallback = setTimeout(() => live() && this.loop?.setConnected(true), 5_000)
        this.readyFallback.unref?.()
      },
      onReady: () => {
        if (!live()) return
        if (this.readyFallback) clearTimeout(this.readyFallback)
        this.loop?.setConnected(true)
      },
      onClose: (reason) => {
        if (gen !== this.generation) return
        this.closes.push(reason.kind)
        this.loop?.setConnected(false)
        this.stopTimers()
        if (this.phase === 'stopping' || this.phase === 'gone') return
        void this.onClose(reason)
      },
      onServerAck: (id) => {
        lifecycle.recordServerAck(this.d.db, id).catch((err) => this.log.warn({ err, id }, 'recording a server ack failed'))
      },
      onReceipt: ({ id, status, participant }) => {
        const write = status === 'read' ? lifecycle.recordRead : lifecycle.recordDelivered
        write(this.d.db, id).catch((err) => this.log.warn({ err, id }, 'recording a receipt failed'))
        // A group message: each member's receipt is also counted, once per member (db/README.md, Groups).
        if (participant) {
          lifecycle.recordMemberReceipt(this.d.db, id, participant, status === 'read')
            .catch((err) => this.log.warn({ err, id }, 'recording a member receipt failed'))
        }
      },
      onErrorAck: (ack) => this.loop?.pushErrorAck(ack),
      onInbound: (m, signal) => this.onInbound(m, signal),
      onLidMapping: (pair) => void this.onLidMapping(pair),
      onGroupChange: (change) => live() && this.onGroupChange(change),
      onStorageError: (err) => {
        if (!live()) return
        // An auth write fenced out by the lease: another runner holds the session now. Reconnecting (as after an
        // outage) would log in with credentials live elsewhere and write over its keys; fence instead.
        if (err instanceof leases.LeaseLostError) void this.lose(`auth state write fenced out: ${err.message}`)
        else void this.restartAfterStorageError(err)
      },
    }
  }

  /** Online; a pause (463) keeps its reason in `detail` until unpauseExpired clears both. */
  private async reportOnline(phone: string | null): Promise<void> {
    let detail: string | null = null
    try {
      const row = await sessions.getSession(this.d.db, this.session)
      // The stored detail may by now describe the reconnect; the pause itself is the fact to show.
      if (row?.pausedUntil) {
        // A circuit-breaker pause keeps its own sentence in hold_reason (db/lifecycle/pause.ts); a later 463 pause outlasts it.
        const breaker = row.holdReason?.startsWith('circuit breaker') && row.holdUntil && row.holdUntil >= row.pausedUntil
        detail = breaker
          ? row.holdReason
          : `restricted: sending paused until ${row.pausedUntil.toISOString().replace('T', ' ').slice(0, 19)} UTC (WhatsApp error 463)`
      }
    } catch {
      // the report below still goes out
    }
    await this.report('online', { phone, detail })
    this.d.terminal?.reachable?.(this.session)
    this.d.terminal?.online(this.session, phone)
  }

  /**
   * A key or creds write failed (after Baileys' own retries): the live ratchets are ahead of the database
   * (runner/README.md). Close the socket, drop the in-memory state and reconnect with backoff from what the database
   * holds, so a short database outage costs a reconnect, not a session.
   */
  private async restartAfterStorageError(err: unknown): Promise<void> {
    this.log.error({ err: (err as Error)?.message }, 'auth state write failed (storage_error): reconnecting from the stored state')
    this.generation++
    this.loop?.setConnected(false)
    this.stopTimers()
    await this.client?.close().catch(() => {})
    this.client?.reset?.()
    if (this.phase === 'stopping' || this.phase === 'gone') return
    this.scheduleReconnect({ code: null, message: 'storage_error: could not save WhatsApp keys to the database' })
  }

  private async showQr(qr: string): Promise<void> {
    try {
      const dataUrl = await QRCode.toDataURL(qr)
      await this.report('connecting', { qrCode: dataUrl, qr, detail: 'waiting for the QR code to be scanned' })
      // A QR comes from WhatsApp's side: it was reached.
      this.d.terminal?.reachable?.(this.session)
      this.d.terminal?.qr(this.session, qr)
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not publish the QR code')
    }
  }

  private async onClose(reason: CloseReason): Promise<void> {
    switch (reason.kind) {
      case 'restart':
        // 515 after pairing: at once, reusing the in-memory state (saveCreds may still be writing).
        return this.connect()
      case 'transient':
        return this.scheduleReconnect(reason)
      case 'qr-expired':
        await this.endPairing()
        return this.halt('offline', 'qr_expired: the QR code was not scanned in time; regenerate the QR to try again')
      case 'logged-out':
        try {
          await this.client?.wipe()
        } catch (err) {
          this.log.error({ err }, 'wiping auth state after logout failed')
        }
        return this.halt('offline', `logged_out (${reason.code}): the number was unlinked; regenerate the QR to pair it again`)
      case 'forbidden':
        return this.halt('offline', 'forbidden (403): WhatsApp blocked this account; a person has to act')
      case 'outdated':
        return this.halt('offline', 'client outdated (405): WhatsApp rejected this client version; update the gateway')
      case 'replaced':
        // Our lease should make this impossible: never answer it with a reconnect, which would loop (runner/README.md).
        this.log.error('connection replaced (440): these credentials are live in another process; not reconnecting')
        return this.halt('offline', 'conflict (440): the connection was replaced by another login; not reconnecting')
      case 'bad-certificate':
        this.log.error('the WhatsApp server certificate was refused (400)')
        return this.halt('offline', 'bad certificate (400): the server was not trusted')
      case 'closed':
        return
    }
  }

  private scheduleReconnect(reason: { code: number | null; message: string }): void {
    const cap = Math.min(this.d.config.reconnectMaxMs, 2000 * 2 ** this.failures)
    const delay = Math.round(Math.random() * cap)
    this.failures++
    this.phase = 'waiting'
    // A proxy that refused or failed says so itself (runner/whatsapp/proxy.ts): that is what the operator must fix.
    const detail = reason.message.startsWith(PROXY_UNREACHABLE) ? reason.message : `reconnecting after ${reason.code ?? 'error'}: ${reason.message}`
    void this.report('connecting', { detail: detail.slice(0, 480) })
    const cause = unreachableCause(reason)
    if (cause) this.d.terminal?.unreachable?.(this.session, cause)
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = setTimeout(() => void this.connect(), delay)
  }

  /** Stops connecting until an operator command. */
  private async halt(status: SessionStatus, detail: string): Promise<void> {
    this.phase = 'waiting'
    this.loop?.setConnected(false)
    await this.report(status, { detail })
  }

  private stopTimers(): void {
    for (const t of [this.stableTimer, this.readyFallback]) if (t) clearTimeout(t)
    this.stableTimer = this.readyFallback = null
  }

  private async report(
    status: SessionStatus,
    fields: { phone?: string | null; qrCode?: string | null; qr?: string | null; detail?: string | null } = {},
  ): Promise<void> {
    try {
      const ok = await sessionReports.reportSessionState(this.d.db, {
        name: this.session, owner: this.d.owner, epoch: this.epoch, status, ...fields,
      })
      if (!ok) await this.lose('session state write matched nothing')
    } catch (err) {
      this.log.warn({ err: (err as Error).message, status }, 'reporting session state failed')
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Inbound and consent

  /**
   * Stores an inbound message with its consent decision before WhatsApp gets its receipt (a STOP must not be lost).
   * A failed write is retried as long as the database is unavailable and up to 5 times for any other error. When the
   * connection ends first (`signal`), the message is left unreceipted and WhatsApp delivers it again.
   */
  private async onInbound(m: InboundMessage, signal?: AbortSignal): Promise<void> {
    const media = await this.fetchInboundFile(m, signal)
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted()
      try {
        return await this.storeInbound(m, media)
      } catch (err) {
        if (!(err instanceof DatabaseUnavailableError) && attempt >= 5) {
          this.log.error({ err, id: m.id, senderJid: m.senderJid, keyword: matchConsentKeyword(m.text) }, 'inbound message could not be stored; giving up')
          return
        }
        const ms = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6))
        this.log.warn({ err: (err as Error).message, id: m.id, retryInMs: ms }, 'storing an inbound message failed; retrying')
        await sleep(ms, undefined, { signal })
      }
    }
  }

  /** The session's own number is never a sender to decide for or answer: such a message is parked unresolved. */
  private isOwnPhone(phone: string | null): boolean {
    return Boolean(phone && phone === this.client?.phone)
  }

  /**
   * A received file's bytes, fetched before the message is stored so both go in one transaction (runner/README.md,
   * Inbound media): the message keeps its receipt until then, so a runner killed mid-download gets it again. A
   * redelivery of a stored message is not downloaded again. Larger than `INBOUND_MEDIA_MAX_BYTES`, or refused by the
   * host, or not matching its hashes: the message is stored without its bytes, and says why.
   */
  private async fetchInboundFile(m: InboundMessage, signal?: AbortSignal): Promise<lifecycle.InboundMedia | undefined> {
    if (!m.download) return undefined
    try {
      if (await isInboundStored(this.d.db, this.session, m.id)) return undefined
    } catch {
      // The database is unreachable: download anyway; storing retries, and a duplicate is dropped there.
    }
    const max = this.d.config.inboundMediaMaxBytes
    let r: DownloadResult
    try {
      r = await m.download(max, signal)
    } catch (err) {
      if (signal?.aborted) throw err
      r = { status: 'failed', reason: (err as Error).message }
    }
    if (r.status === 'stored') return { status: 'stored', bytes: r.bytes, sha256: r.sha256, mime: safeMimeType(m.mimetype) }
    if (r.status === 'too_large') this.log.info({ id: m.id, size: m.size, max }, 'received file larger than INBOUND_MEDIA_MAX_BYTES: stored without its bytes')
    else this.log.warn({ id: m.id, reason: r.reason }, 'received file could not be downloaded: stored without its bytes')
    return { status: r.status }
  }

  private async storeInbound(m: InboundMessage, media?: lifecycle.InboundMedia): Promise<void> {
    let phone = m.phone ?? (m.lid ? await contacts.findPhoneByLid(this.d.db, m.lid) : null)
    if (this.isOwnPhone(phone)) phone = null
    // STOP and YES are read in 1:1 text messages only: never in a group, a caption, a reaction or a file name.
    const keyword = m.kind === 'text' && !m.group ? matchConsentKeyword(m.text) : null
    if (m.text && m.text.length > INBOUND_BODY_MAX_CHARS) {
      this.log.warn({ id: m.id, length: m.text.length, kept: INBOUND_BODY_MAX_CHARS }, 'inbound message longer than the gateway stores; its start is kept')
    }
    const r = await lifecycle.recordInbound(this.d.db, {
      session: this.session,
      group: m.group,
      phone,
      senderJid: m.lid && !phone ? `${m.lid}@lid` : m.senderJid,
      body: m.text,
      waMessageId: m.id,
      type: m.kind,
      caption: m.caption,
      mimetype: m.mimetype,
      fileName: m.fileName,
      size: m.size,
      lid: m.lid,
      quotedWaId: m.quotedId,
      keyword,
      pushName: m.pushName,
      media,
    })
    if (r.kind === 'stored' && !m.group) this.afterDecision(phone, r.action)
    this.log.info({ id: m.id, offline: m.offline, result: r.kind === 'stored' ? r.action : r.kind }, 'inbound message')
  }

  private afterDecision(phone: string | null, action: lifecycle.InboundAction): void {
    if (!phone || this.isOwnPhone(phone)) return
    if (action === 'stop') this.loop?.pushReply({ phone, text: this.d.config.stopConfirmation, markConsentRequested: false })
    if (action === 'start') this.loop?.pushReply({ phone, text: this.d.config.startConfirmation, markConsentRequested: false })
  }

  private async onLidMapping({ lid, phone }: { lid: string; phone: string }): Promise<void> {
    if (this.isOwnPhone(phone)) return
    try {
      await contacts.recordContactLid(this.d.db, phone, lid)
      const decided = await lifecycle.resolveInbound(this.d.db, {
        session: this.session, senderJid: `${lid}@lid`, phone, keywordOf: matchConsentKeyword,
      })
      for (const d of decided) this.afterDecision(phone, d.action)
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'recording a LID mapping failed')
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Commands

  /** Carries out an API command on this session (regenerate-qr, delete, or a proxy change); one at a time. */
  async command(cmd: { reconnect: boolean; delete: boolean; proxy?: boolean }): Promise<void> {
    if (this.commandRunning || this.phase === 'stopping' || this.phase === 'gone') return
    this.commandRunning = (async () => {
      try {
        if (cmd.delete) await this.deleteSession()
        else if (cmd.reconnect) await this.regenerate()
        else if (cmd.proxy) await this.reconnectForProxy()
      } catch (err) {
        this.log.error({ err }, 'session command failed')
      } finally {
        this.commandRunning = null
      }
    })()
    await this.commandRunning
  }

  private async regenerate(): Promise<void> {
    if (!(await sessionReports.clearReconnectRequest(this.d.db, this.leaseFence()))) return
    this.log.info('regenerate-qr: logging out, wiping the auth state, showing a new QR')
    await this.endPairing()
    await this.restartConnection(() => this.client?.logout(), 'waiting for a new QR code')
  }

  /** The proxy changed (PATCH /api/sessions/:name): close and connect again, through the new one or directly. */
  private async reconnectForProxy(): Promise<void> {
    if (!(await clearProxyChange(this.d.db, this.leaseFence()))) return
    this.log.info('proxy changed: reconnecting')
    await this.restartConnection(async () => {
      this.stopTimers()
      await this.client?.close()
    }, 'reconnecting: the proxy setting changed')
  }

  /** Ends the current connection with `end` (its close is no longer this generation's) and connects afresh. */
  private async restartConnection(end: () => Promise<void> | undefined, detail: string): Promise<void> {
    this.generation++
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.loop?.setConnected(false)
    await end()
    this.failures = 0
    await this.report('connecting', { detail })
    await this.connect()
  }

  private async deleteSession(): Promise<void> {
    this.log.info('delete: logging out, wiping the auth state, removing the session')
    this.generation++
    this.phase = 'stopping'
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    await this.loop?.stop()
    await this.client?.logout()
    const deleted = await lifecycle.deleteSessionFenced(this.d.db, this.leaseFence())
    this.finish(deleted ? 'deleted' : 'delete did not match (lease lost or default)')
  }

  // ------------------------------------------------------------------------------------------------------------
  // Ending

  private finish(why: string): void {
    if (this.phase === 'gone') return
    this.phase = 'gone'
    this.stopTimers()
    for (const t of [this.fenceTimer, this.reconnectTimer]) if (t) clearTimeout(t)
    this.d.onGone(this.session, why)
  }

  /** The lease is lost or about to be: stop sending and close the socket now, without touching the row. */
  async lose(why: string): Promise<void> {
    if (this.phase === 'gone') return
    this.log.warn({ why }, 'fencing: closing the session')
    this.generation++
    this.phase = 'stopping'
    const loop = this.loop
    const client = this.client
    this.finish(why)
    void loop?.stop()
    await client?.close().catch(() => {})
  }

  /** Graceful: finish an in-flight send, close the socket, release the lease. */
  async stop(): Promise<void> {
    if (this.phase === 'gone') return
    this.phase = 'stopping'
    this.generation++
    for (const t of [this.reconnectTimer]) if (t) clearTimeout(t)
    await this.loop?.stop()
    await this.client?.close().catch(() => {})
    try {
      await leases.releaseLease(this.d.db, this.leaseFence())
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'releasing the lease failed; it expires by itself')
    }
    this.finish('stopped')
  }
}

/**
 * The type a received file is served with: the sender declares it, so only a plain `type/subtype` (parameters
 * dropped, lower-cased) is kept, anything else is `application/octet-stream`. The API serves it as an attachment.
 */
export function safeMimeType(declared: string | null): string {
  const base = declared?.split(';')[0]!.trim().toLowerCase() ?? ''
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/.test(base) ? base : 'application/octet-stream'
}
