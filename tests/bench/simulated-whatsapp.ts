import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import {
  NotConnectedError, type OutboundContent, type WhatsAppClient, type WhatsAppClientFactory, type WhatsAppHandlers,
} from '../../runner/whatsapp/client.js'

/**
 * The scale benchmark's WhatsApp (tests/bench/scale.ts): a `WhatsAppClientFactory` with no sockets, no Signal and no
 * auth state, so one process can hold thousands of sessions and the database is the only thing measured. Every
 * session is paired: `connect` opens at once and reports the pending notifications delivered. A send leaves after
 * `sendMs`, fails with probability `failRate` (a transient error: the runner backs off and retries), and its server
 * ack (`onServerAck`, which the runner records in `messages.acked_at`) arrives `ackMs` later (±50 %).
 */
export interface SimulatedWhatsAppOptions {
  /** Time from the socket write to the server ack, in ms (jittered ±50 %). */
  ackMs: number
  /** Share of sends that fail (0–1). */
  failRate: number
  /** How long the socket write itself takes, in ms. */
  sendMs?: number
}

export function simulatedWhatsApp(options: SimulatedWhatsAppOptions): WhatsAppClientFactory {
  if (!(options.failRate >= 0 && options.failRate <= 1)) throw new RangeError('failRate must be within 0..1')
  if (!(options.ackMs >= 0)) throw new RangeError('ackMs must be ≥ 0')
  return {
    async create(session: string, _log: Logger): Promise<WhatsAppClient> {
      return new SimulatedClient(session, options)
    },
  }
}

class SimulatedClient implements WhatsAppClient {
  private handlers: WhatsAppHandlers | null = null
  private open = false
  readonly phone: string

  constructor(
    readonly session: string,
    private readonly options: SimulatedWhatsAppOptions,
  ) {
    // A stable fake number per session name (digits only, 12 long).
    let h = 0
    for (const c of session) h = (h * 31 + c.charCodeAt(0)) >>> 0
    this.phone = `1555${String(h).padStart(10, '0').slice(-8)}`
  }

  get paired(): boolean {
    return true
  }

  async connect(handlers: WhatsAppHandlers): Promise<void> {
    this.handlers = handlers
    this.open = true
    setImmediate(() => {
      if (!this.open || this.handlers !== handlers) return
      handlers.onOpen({ phone: this.phone, jid: `${this.phone}@s.whatsapp.net` })
      handlers.onReady()
    })
  }

  async send(_to: string, id: string, _content: OutboundContent): Promise<void> {
    if (!this.open) throw new NotConnectedError()
    const handlers = this.handlers!
    if (this.options.sendMs) await new Promise((r) => setTimeout(r, this.options.sendMs))
    if (Math.random() < this.options.failRate) throw new Error('simulated send failure')
    const ack = this.options.ackMs * (0.5 + Math.random())
    setTimeout(() => {
      if (this.open && this.handlers === handlers) handlers.onServerAck(id)
    }, ack).unref()
  }

  async showPresence(): Promise<void> {}

  async isOnWhatsApp(): Promise<boolean> {
    return true
  }

  async phoneForLid(): Promise<string | null> {
    return null
  }

  newMessageId(): string {
    return `3EB0${randomBytes(9).toString('hex').toUpperCase()}`
  }

  async logout(): Promise<void> {
    await this.close()
  }

  async wipe(): Promise<void> {}

  reset(): void {}

  async close(): Promise<void> {
    if (!this.open) return
    this.open = false
    this.handlers?.onClose({ kind: 'closed' })
  }
}
