import type { Logger } from 'pino'
import { DatabaseUnavailableError, type Db } from '../../db/driver.js'
import * as leases from '../../db/queries/leases.js'
import * as lifecycle from '../../db/lifecycle/index.js'
import { isGroupAddress } from '../../db/types.js'
import type { RunnerConfig } from '../config.js'
import { FenceClosedError, NotConnectedError, type ChatPresence, type WhatsAppClient } from '../whatsapp/client.js'
import { contentOf } from './content.js'
import { OFFLINE_RETRY_MS, outcomeOf, PermanentSendError, describe, type SendOutcome } from './outcomes.js'
import { PRESENCE_LEAD_MS, presenceCueFor, type PresenceCue } from './presence.js'
import { reconcileOnce } from './rescuer.js'

/**
 * One loop per owned session (runner/README.md, Sending): reconcile once, then claim → send → finalize, sleeping for
 * the wait the database returns. Sessions never wait on each other: each loop has its own timers and the only
 * shared resource is the database pool. Negative acks and consent replies run on this loop too, so every stanza
 * of a session takes the throttle slot in turn.
 */

export interface Fence {
  readonly owner: string
  /** The session's current lease epoch. */
  readonly epoch: number
  /** Monotonic deadline (performance.now() ms) at which the lease holder must have stopped sending. */
  readonly fenceAt: number
}

export interface SendLoopDeps {
  db: Db
  client: WhatsAppClient
  config: RunnerConfig
  log: Logger
  session: string
  fence: () => Fence
  /** The lease is lost (a guarded write matched nothing): stop now, close the socket. */
  onFenced: (why: string) => void
  random?: () => number
  /** Duration of each claim transaction, in seconds (the runner's claim-latency metric). */
  onClaim?: (seconds: number) => void
}

type ErrorAck = { id: string; code: string; reason: string | null }
type Reply = { phone: string; text: string; markConsentRequested: boolean; attempts?: number }

const sleepFor = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)))

export class SendLoop {
  private running = false
  private connected = false
  private reconciled = false
  private wakeUp: (() => void) | null = null
  private done: Promise<void> = Promise.resolve()
  private readonly nacks: ErrorAck[] = []
  private readonly replies: Reply[] = []
  private paused = false
  /**
   * Sleeping through a limit hold (quiet hours, daily cap) or until the throttle slot or a pause is due: the due-probe
   * does not wake the loop (the claim would only answer the same wait again, once per poll and session), other events do.
   */
  private holding = false
  /** Consecutive failures on record for the circuit breaker: null = unknown (reset once after the first success). */
  private failureStreak: number | null = null
  private readonly random: () => number
  /** Sends started by this loop (tests, metrics). */
  sends = 0

  constructor(private readonly d: SendLoopDeps) {
    this.random = d.random ?? Math.random
  }

  /** Starts the loop (it idles until `setConnected(true)`). */
  start(): void {
    if (this.running) return
    this.running = true
    this.done = this.run().catch((err) => this.d.log.error({ err }, 'send loop crashed'))
  }

  /** Stops after the current iteration: an in-flight send finishes and is finalized first. */
  async stop(): Promise<void> {
    this.running = false
    this.wake()
    await this.done
  }

  /** The socket is open and pending notifications have landed (or it went away). */
  setConnected(connected: boolean): void {
    this.connected = connected
    this.wake()
  }

  /** A new lease epoch: reconcile again before the next claim. */
  resetReconcile(): void {
    this.reconciled = false
  }

  /**
   * The runner's due-probe says a message is due. Ignored while the loop holds for a limit or waits for its throttle
   * slot: the claim would only answer the same wait again, once per poll. A wait ends by itself when the slot is due,
   * and a hold is re-checked every 15 s (lifecycle.HOLD_RECHECK_MS).
   */
  wakeForDue(): void {
    if (!this.holding) this.wake()
  }

  wake(): void {
    const w = this.wakeUp
    this.wakeUp = null
    w?.()
  }

  pushErrorAck(ack: ErrorAck): void {
    this.nacks.push(ack)
    this.wake()
  }

  /** Queues a consent confirmation (or request) for this session; it takes the next throttle slot. */
  pushReply(reply: Reply): void {
    this.replies.push(reply)
    this.wake()
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.wakeUp === done) this.wakeUp = null
        resolve()
      }, Math.max(0, ms))
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      // One waiter at a time: the loop is the only sleeper.
      this.wakeUp = done
    })
  }

  /** Sleeps until `wake()` (or a stop). */
  private sleepUntilWoken(): Promise<void> {
    if (!this.running) return Promise.resolve()
    return new Promise((resolve) => {
      this.wakeUp = resolve
    })
  }

  private gapMs(): number {
    const { throttleMinMs: min, throttleMaxMs: max } = this.d.config
    return Math.round(min + this.random() * (max - min))
  }

  /**
   * Fenced time a send needs before the lease ends (runner/README.md, Sending): 5 s for a message without media; 20 s
   * plus 1 s per MB for one that may upload (a 64 MB document: 84 s), so an upload never runs past the fence. Capped
   * by the lease window (80 % of it; 20 % for text), or a short lease could never send at all.
   */
  guardMs(uploadBytes: number): number {
    const window = (this.d.config.leaseTtlSeconds - this.d.config.leaseFenceMarginSeconds) * 1000
    if (uploadBytes <= 0) return Math.min(5_000, window * 0.2)
    return Math.min(20_000 + (uploadBytes / 1_000_000) * 1_000, window * 0.8)
  }

  /**
   * The guard time of a send that first waits `aheadMs` for its slot or shows typing, within the same cap as an
   * upload's (80 % of the lease window), so a short lease still sends (fencedTimeFor waits for a renewal meanwhile).
   */
  private guardWithAheadMs(uploadBytes: number, aheadMs: number): number {
    const window = (this.d.config.leaseTtlSeconds - this.d.config.leaseFenceMarginSeconds) * 1000
    const guard = this.guardMs(uploadBytes)
    return aheadMs > 0 ? Math.max(guard, Math.min(guard + aheadMs, window * 0.8)) : guard
  }

  /**
   * Typing (or recording) for `cue.ms`, placed at the end of the wait for the slot: it starts `cue.ms` before
   * `dueAt` when there is that much left, else now, and the message leaves at whichever is later, the slot or the
   * end of the cue.
   */
  private async showCue(phone: string, cue: PresenceCue, dueAt: number): Promise<void> {
    await sleepFor(dueAt - cue.ms - performance.now())
    const until = Math.max(dueAt, performance.now() + cue.ms)
    await this.showPresence(phone, cue.state)
    await sleepFor(until - performance.now())
  }

  /** Presence is a courtesy: a failure is logged at debug and never fails the send. */
  private async showPresence(phone: string, state: ChatPresence): Promise<void> {
    try {
      await this.d.client.showPresence?.(phone, state)
    } catch (err) {
      this.d.log.debug({ err: describe(err), state }, 'presence update failed')
    }
  }

  private timeLeft(): number {
    return this.d.fence().fenceAt - performance.now()
  }

  private async run(): Promise<void> {
    let errors = 0
    while (this.running) {
      try {
        await this.step()
        errors = 0
      } catch (err) {
        errors++
        const ms = Math.min(10_000, 250 * 2 ** Math.min(errors, 6))
        this.d.log.warn({ err: describe(err), retryInMs: ms }, 'send loop iteration failed')
        await this.sleep(ms)
      }
    }
  }

  private async step(): Promise<void> {
    await this.processNacks()
    if (!this.connected) {
      await this.sleep(5_000)
      return
    }
    if (this.timeLeft() < this.guardMs(0)) {
      // Wait for the next renewal to extend the fence (or for the fence to close the session).
      await this.sleep(Math.max(50, (this.d.config.leaseRenewSeconds * 1000) / 4))
      return
    }
    if (!this.reconciled) {
      const r = await reconcileOnce({ ...this.d, gapMs: () => this.gapMs(), deliver: (m) => this.deliver(m) })
      if (r.kind === 'fenced') return this.d.onFenced('reconcile found the lease gone')
      if (r.kind === 'wait') return this.sleep(r.waitMs)
      this.reconciled = true
    }
    if (this.replies.length > 0) return this.sendReply()
    const f = this.d.fence()
    const claimStarted = performance.now()
    const r = await lifecycle.claimNextMessage(this.d.db, this.claimParams(f))
    this.d.onClaim?.((performance.now() - claimStarted) / 1000)
    switch (r.kind) {
      case 'fenced':
        return this.d.onFenced('claim found the lease gone')
      case 'wait':
        if (r.waitMs > 0) this.paused = r.waitMs > this.d.config.throttleMaxMs && !r.hold
        if (r.waitMs === 0 && this.d.config.optInMode === 'confirm') await this.queueConsentRequests()
        if (r.waitMs === 0) return
        this.holding = true
        try {
          return await this.sleep(r.waitMs)
        } finally {
          this.holding = false
        }
      case 'idle':
        await this.afterPause()
        if (this.d.config.optInMode === 'confirm' && (await this.queueConsentRequests())) return
        // Nothing is due: sleep until the runner's due-probe names this session (or a reply, a negative ack, the
        // connection, a stop wakes it). An idle session costs the database nothing (db/README.md, How many sessions):
        // the probe is one statement per runner, and it names a session again on every poll while a row is due, so a
        // wake-up that came during the claim is repeated a poll later.
        return this.sleepUntilWoken()
      case 'claimed':
        await this.afterPause()
        return this.deliver(r.message, { presence: r.presence, dueAt: performance.now() + r.dueInMs })
    }
  }

  private claimParams(f: Fence): lifecycle.ClaimNextMessageParams {
    return {
      session: this.d.session,
      owner: f.owner,
      epoch: f.epoch,
      gapMs: this.gapMs(),
      optInMode: this.d.config.optInMode,
      newWaId: () => this.d.client.newMessageId(),
      limits: this.d.config.limits,
      presence: { default: this.d.config.presence, leadMs: PRESENCE_LEAD_MS },
    }
  }

  private async afterPause(): Promise<void> {
    if (!this.paused) return
    this.paused = false
    const f = this.d.fence()
    await leases.unpauseExpired(this.d.db, { name: this.d.session, owner: f.owner, epoch: f.epoch })
  }

  /**
   * Sends one claimed (or adopted) message and records the outcome under the claim's epoch. `plan`, for a claim:
   * whether to show typing first, and the monotonic time (performance.now()) the throttle slot is due; the message
   * never leaves before it (runner/README.md, Typing before each send). An adopted message goes at once, without.
   */
  async deliver(message: lifecycle.ClaimedMessage, plan?: { presence: boolean; dueAt: number }): Promise<void> {
    const fence = { id: message.id, owner: this.d.fence().owner, epoch: message.claimEpoch }
    let outcome: SendOutcome
    let revokes: number | null = null
    try {
      const prepared = await contentOf(this.d.db, message, this.d.log)
      revokes = prepared.revokes
      // A group gets no "typing…" and no registration check: it is not a number, and the list says this one is in it.
      const group = isGroupAddress(message.phone)
      const cue = plan?.presence && !group ? presenceCueFor(message, this.random) : null
      const dueAt = plan?.dueAt ?? 0
      const aheadMs = Math.max(0, dueAt - performance.now(), cue?.ms ?? 0)
      if (!(await this.fencedTimeFor(message, this.guardWithAheadMs(prepared.uploadBytes, aheadMs), 'abandon'))) return
      const registered = group || (await this.d.client.isOnWhatsApp(message.phone))
      if (registered === false) throw new PermanentSendError('phone number is not on WhatsApp')
      if (cue) await this.showCue(message.phone, cue, dueAt)
      else await sleepFor(dueAt - performance.now())
      this.sends++
      // After an upload, the message itself leaves only with a text's guard time still fenced.
      const beforeRelay = async () => {
        if (!(await this.fencedTimeFor(message, this.guardMs(0), 'finish'))) throw new FenceClosedError()
      }
      try {
        await this.d.client.send(message.phone, message.waMessageId, prepared.content, { ...prepared.options, beforeRelay })
      } finally {
        if (cue) await this.showPresence(message.phone, 'paused')
      }
      outcome = { kind: 'sent' }
    } catch (err) {
      // Not sent and not ours to record: the row stays `sending` for the next holder's reconciliation.
      if (err instanceof FenceClosedError) return
      outcome = outcomeOf(err, message.attempts, this.d.config.maxAttempts)
      this.d.log.warn({ id: message.id, attempts: message.attempts, outcome }, 'send did not succeed')
    }
    await this.finalize(message, fence, outcome, revokes)
  }

  /**
   * Waits (briefly) for a renewal while the fence is closer than `needMs`; false when the lease is gone (another
   * epoch, past the fence) or, before a send starts (`abandon`), the loop is stopping: then nothing may be sent, and
   * the next holder resends the message. A send already uploading (`finish`) is finished by a stopping loop.
   */
  private async fencedTimeFor(message: lifecycle.ClaimedMessage, needMs: number, stopping: 'abandon' | 'finish'): Promise<boolean> {
    // After an upload, a lease of another epoch means it was lost meanwhile (and perhaps taken back): not ours to send.
    if (stopping === 'finish' && this.d.fence().epoch !== message.claimEpoch) {
      this.d.log.warn({ id: message.id }, 'lease lost during the upload: not sending; the next holder resends it')
      return false
    }
    while (this.timeLeft() < needMs) {
      if (this.d.fence().epoch !== message.claimEpoch || this.timeLeft() <= 0 || (stopping === 'abandon' && !this.running)) {
        this.d.log.warn({ id: message.id }, 'lease too close to its end: not sending; the next holder resends it')
        return false
      }
      await sleepFor(50)
    }
    return true
  }

  /**
   * Records an outcome; if the database is unreachable the outcome is kept and retried until the fence
   * (db/README.md, Claim and throttle). 0 matched rows means the claim was taken over: stop, the new owner reconciles.
   */
  private async finalize(
    message: lifecycle.ClaimedMessage, fence: lifecycle.ClaimFence, outcome: SendOutcome, revokes: number | null,
  ): Promise<void> {
    const write = async (): Promise<boolean> => {
      switch (outcome.kind) {
        case 'sent':
          return lifecycle.finalizeSent(this.d.db, { ...fence, session: this.d.session, minGapMs: this.d.config.throttleMinMs, revokes })
        case 'fail':
          return lifecycle.finalizeFailed(this.d.db, { ...fence, error: outcome.error })
        case 'retry':
          return lifecycle.requeueWithBackoff(this.d.db, {
            ...fence,
            error: outcome.error,
            backoffMs: outcome.offline ? OFFLINE_RETRY_MS : lifecycle.backoffMs(message.attempts, this.random),
          })
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const ok = await write()
        if (!ok) this.d.onFenced(`finalize of message ${message.id} matched nothing`)
        else await this.countForBreaker(outcome)
        return
      } catch (err) {
        if (!(err instanceof DatabaseUnavailableError) && attempt >= 2) throw err
        if (this.timeLeft() <= 0) {
          this.d.log.error({ id: message.id, outcome }, 'database unreachable until the fence: outcome not recorded; the next holder reconciles')
          this.d.onFenced('database unreachable')
          return
        }
        await sleepFor(Math.min(1000, 100 * 2 ** attempt))
      }
    }
  }

  /**
   * The circuit breaker's count (lifecycle.ts): a send that reached a verdict counts; a send that never started because
   * the socket was not open does not (the session is reconnecting, not failing). Errors here only log: the outcome
   * itself is recorded already.
   */
  private async countForBreaker(outcome: SendOutcome): Promise<void> {
    const f = this.d.fence()
    const fence = { name: this.d.session, owner: f.owner, epoch: f.epoch }
    try {
      if (outcome.kind === 'sent') {
        if (this.failureStreak !== 0) await lifecycle.recordSendSuccess(this.d.db, fence)
        this.failureStreak = 0
        return
      }
      if (outcome.kind === 'retry' && outcome.offline) return
      const r = await lifecycle.recordSendFailure(this.d.db, fence, { defaults: this.d.config.limits, lastError: outcome.error })
      this.failureStreak = r.failures
      if (r.paused) {
        this.paused = true
        this.d.log.warn({ error: outcome.error }, 'circuit breaker: too many consecutive send failures; session paused')
      }
    } catch (err) {
      this.failureStreak = null
      this.d.log.warn({ err: describe(err) }, 'recording a send outcome for the circuit breaker failed')
    }
  }

  private async processNacks(): Promise<void> {
    while (this.nacks.length > 0) {
      const ack = this.nacks[0]!
      const f = this.d.fence()
      const is463 = ack.code === '463'
      const hours = this.d.config.pauseOn463Hours
      const result = await lifecycle.failByWaId(this.d.db, {
        waMessageId: ack.id,
        error: is463
          ? 'negative ack 463: account restricted from reaching out; not retried'
          : `negative ack ${ack.code}${ack.reason ? `: ${ack.reason}` : ''}`,
        ...(is463 && hours > 0
          ? {
              pause: {
                name: this.d.session,
                owner: f.owner,
                epoch: f.epoch,
                seconds: Math.max(1, Math.round(hours * 3600)),
                detail: `restricted: WhatsApp error 463 (account may not start new chats); sending paused for ${hours} h`,
              },
            }
          : {}),
      })
      this.nacks.shift()
      if (is463) this.paused = true
      this.d.log.warn({ waMessageId: ack.id, code: ack.code, ...result }, 'negative ack')
    }
  }

  /** Consent replies and requests take the throttle slot like any send (lifecycle.ts). */
  private async sendReply(): Promise<void> {
    const reply = this.replies[0]!
    const f = this.d.fence()
    const slot = await lifecycle.takeSlotForConsentRequest(this.d.db, {
      session: this.d.session, owner: f.owner, epoch: f.epoch, gapMs: this.gapMs(), phone: reply.phone,
      mark: reply.markConsentRequested,
    })
    if (slot.kind === 'fenced') return this.d.onFenced('reply slot found the lease gone')
    if (slot.kind === 'wait') return this.sleep(slot.waitMs)
    this.replies.shift()
    try {
      await this.d.client.send(reply.phone, this.d.client.newMessageId(), { kind: 'text', text: reply.text })
    } catch (err) {
      // Replies are not queue rows: retry a lost one a few times on later slots, then give up (logged).
      const attempts = (reply.attempts ?? 0) + 1
      if (attempts < 4) this.replies.push({ ...reply, attempts })
      this.d.log.warn({ err: describe(err), attempts }, attempts < 4 ? 'consent reply not sent; will retry' : 'consent reply not sent; giving up')
      if (err instanceof NotConnectedError) await this.sleep(1000)
    }
  }

  private async queueConsentRequests(): Promise<boolean> {
    const phones = await lifecycle.findPhonesAwaitingConsentRequest(this.d.db, this.d.session)
    const queued = new Set(this.replies.map((r) => r.phone))
    let any = false
    for (const phone of phones) {
      if (queued.has(phone)) continue
      this.replies.push({ phone, text: this.d.config.consentRequest, markConsentRequested: true })
      any = true
    }
    return any
  }
}
