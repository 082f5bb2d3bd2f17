/**
 * A miniature runner for the concurrency tests and the queue benchmark: it drives the real lease and queue functions
 * exactly as db/README.md describes (acquire ≤ 2 per tick, one loop per owned session that reconciles first and then
 * repeats claim → send → finalize, renewal that fences missing sessions), with a fake send.
 * No Baileys and no timers beyond what the loop needs; `crash()` stops it the way SIGKILL would (no release, no
 * finalize), so a takeover has to reconcile.
 */
import type { Db } from '../../db/driver.js'
import { acquireSessionLeases, releaseLease, renewLeases } from '../../db/queries/leases.js'
import { claimNextMessage, type ClaimedMessage } from '../../db/lifecycle/claim.js'
import { finalizeSent } from '../../db/lifecycle/settle.js'
import { reconcileInflight } from '../../db/lifecycle/reconcile.js'

export interface SimRunnerOptions {
  db: Db
  owner: string
  /** Most sessions this runner holds. */
  capacity: number
  ttlSeconds: number
  /** The throttle: each claim draws its gap in [gapMinMs, gapMaxMs]; finalize and acquire hold gapMinMs. */
  gapMinMs: number
  gapMaxMs: number
  random?: () => number
  /** The fake WhatsApp send. */
  send: (message: ClaimedMessage, owner: string) => Promise<void>
  newWaId: () => string
  /** End a session's loop when its claim reports idle (all messages were enqueued before the run). */
  stopWhenIdle: boolean
  /** How long an idle loop sleeps when it does not stop. */
  idleMs?: number
  onError: (err: unknown) => void
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class SimRunner {
  readonly owned = new Map<string, number>()
  private readonly loops = new Set<Promise<void>>()
  private crashed = false
  private stopping = false
  /** Claims made (including adoptions) and finalizes that matched, for rate figures. */
  claims = 0
  finalized = 0

  constructor(private readonly o: SimRunnerOptions) {}

  get owner(): string {
    return this.o.owner
  }

  private drawGap(): number {
    const r = (this.o.random ?? Math.random)()
    return this.o.gapMinMs + r * (this.o.gapMaxMs - this.o.gapMinMs)
  }

  /** One acquire tick: at most 2 sessions, within capacity. Starts a loop for each. Returns how many were taken. */
  async acquireTick(): Promise<number> {
    if (this.crashed || this.stopping) return 0
    const max = Math.min(2, this.o.capacity - this.owned.size)
    if (max <= 0) return 0
    const got = await acquireSessionLeases(this.o.db, { owner: this.o.owner, ttlSeconds: this.o.ttlSeconds, max, minGapMs: this.o.gapMinMs })
    for (const lease of got) {
      this.owned.set(lease.name, lease.leaseEpoch)
      const loop = this.sessionLoop(lease.name, lease.leaseEpoch).catch((err) => this.o.onError(err))
      this.loops.add(loop)
      void loop.finally(() => this.loops.delete(loop))
    }
    return got.length
  }

  /** One renewal tick: sessions missing from the read-back, or with another epoch, are fenced at once. */
  async renewTick(): Promise<void> {
    if (this.crashed || this.stopping) return
    const held = new Map((await renewLeases(this.o.db, { owner: this.o.owner, ttlSeconds: this.o.ttlSeconds })).map((l) => [l.name, l.leaseEpoch]))
    for (const [name, epoch] of this.owned) if (held.get(name) !== epoch) this.owned.delete(name)
  }

  private holds(name: string, epoch: number): boolean {
    return !this.crashed && this.owned.get(name) === epoch
  }

  private async sessionLoop(session: string, epoch: number): Promise<void> {
    const { db, owner } = this.o
    // Reconcile first (db/README.md, Crash windows).
    for (;;) {
      if (!this.holds(session, epoch)) return
      const r = await reconcileInflight(db, { session, owner, epoch, gapMs: this.drawGap() })
      if (r.kind === 'wait') {
        await sleep(r.waitMs)
        continue
      }
      if (r.kind === 'fenced') return void this.owned.delete(session)
      if (r.kind === 'resend') {
        this.claims += 1
        if (!(await this.sendAndFinalize(session, epoch, r.message))) return
      }
      break
    }
    for (;;) {
      if (!this.holds(session, epoch) || this.stopping) return
      const r = await claimNextMessage(db, {
        session, owner, epoch, gapMs: this.drawGap(), optInMode: 'open', newWaId: this.o.newWaId,
      })
      if (r.kind === 'fenced') return void this.owned.delete(session)
      if (r.kind === 'wait') {
        if (r.waitMs > 0) await sleep(r.waitMs)
        continue
      }
      if (r.kind === 'idle') {
        if (this.o.stopWhenIdle) return
        await sleep(this.o.idleMs ?? 20)
        continue
      }
      this.claims += 1
      if (!(await this.sendAndFinalize(session, epoch, r.message))) return
    }
  }

  /** false: crashed or fenced; the loop ends. */
  private async sendAndFinalize(session: string, epoch: number, m: ClaimedMessage): Promise<boolean> {
    if (this.crashed) return false // crash after the claim, before the write: window (b)
    await this.o.send(m, this.o.owner)
    if (this.crashed) return false // crash after the write, before finalize: window (c)
    const ok = await finalizeSent(this.o.db, { id: m.id, session, owner: this.o.owner, epoch: m.claimEpoch, minGapMs: this.o.gapMinMs })
    if (!ok) {
      this.owned.delete(session)
      return false
    }
    this.finalized += 1
    return true
  }

  /** Stops like SIGKILL: no finalize, no release, no renewals; leases run out on their own. */
  crash(): void {
    this.crashed = true
  }

  /** Graceful stop: loops end after their current step, then the leases are released. */
  async stop(): Promise<void> {
    this.stopping = true
    await this.drained()
    if (this.crashed) return
    for (const [name, epoch] of this.owned) await releaseLease(this.o.db, { name, owner: this.o.owner, epoch })
    this.owned.clear()
  }

  /** Resolves when every session loop has ended. */
  async drained(): Promise<void> {
    while (this.loops.size > 0) await Promise.all([...this.loops])
  }

  get running(): number {
    return this.loops.size
  }
}
