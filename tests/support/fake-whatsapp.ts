import type { Logger } from 'pino'
import type {
  InboundMessage, OutboundContent, WhatsAppClient, WhatsAppClientFactory, WhatsAppHandlers,
} from '../../runner/whatsapp/client.js'
import { NotConnectedError } from '../../runner/whatsapp/client.js'

/**
 * A fake WhatsApp transport for queue-logic tests: sessions are "paired" at once, sends are logged
 * with the session and id, and a test can make sends fail, hang, nack with a code, or emit receipts and inbound
 * messages. Everything the runner promises is also proven against the loopback server with real Baileys.
 */
export interface FakeSend {
  session: string
  to: string
  id: string
  content: OutboundContent
  at: number
}

export class FakeWhatsApp implements WhatsAppClientFactory {
  readonly sends: FakeSend[] = []
  readonly clients = new Map<string, FakeClient>()
  /** Phones that are not on WhatsApp. */
  readonly unregistered = new Set<string>()
  /** Next sends to fail with this error (one per entry). */
  readonly failNext: Error[] = []
  /** Phones whose messages get a negative ack with this code. */
  readonly nack = new Map<string, string>()
  private n = 0

  async create(session: string, _log: Logger): Promise<WhatsAppClient> {
    const c = new FakeClient(session, this)
    this.clients.set(session, c)
    return c
  }

  nextId(): string {
    return `3EB0FAKE${String(++this.n).padStart(14, '0')}`
  }

  inbound(session: string, m: Partial<InboundMessage> & { phone: string; text: string }): Promise<void> {
    const c = this.clients.get(session)
    if (!c?.handlers) throw new Error(`session ${session} is not connected`)
    return c.handlers.onInbound({
      id: `IN${++this.n}`, senderJid: `${m.phone}@s.whatsapp.net`, group: null, lid: null, pushName: null, offline: false,
      kind: 'text', caption: null, mimetype: null, fileName: null, size: null, quotedId: null, ...m,
    })
  }
}

class FakeClient implements WhatsAppClient {
  handlers: WhatsAppHandlers | null = null
  open = false
  constructor(
    readonly session: string,
    private readonly fake: FakeWhatsApp,
  ) {}
  get paired() {
    return true
  }
  get phone() {
    return `1555000${String(this.session.length).padStart(4, '0')}`
  }
  async connect(handlers: WhatsAppHandlers): Promise<void> {
    this.handlers = handlers
    this.open = true
    queueMicrotask(() => {
      handlers.onOpen({ phone: this.phone, jid: `${this.phone}@s.whatsapp.net` })
      handlers.onReady()
    })
  }
  async send(to: string, id: string, content: OutboundContent): Promise<void> {
    if (!this.open) throw new NotConnectedError()
    const err = this.fake.failNext.shift()
    if (err) throw err
    // Media is read (and compressed or converted) as the real client does before uploading: its errors surface here.
    if (content.kind === 'media') {
      const { bytes } = await content.media.prepare()
      if (!Buffer.isBuffer(bytes)) for await (const _chunk of bytes) void _chunk
    }
    this.fake.sends.push({ session: this.session, to, id, content, at: Date.now() })
    const code = this.fake.nack.get(to)
    const h = this.handlers!
    setTimeout(() => {
      if (code) h.onErrorAck({ id, code, reason: 'fake' })
      else {
        h.onServerAck(id)
        h.onReceipt({ id, status: 'delivered' })
      }
    }, 5)
  }
  async isOnWhatsApp(phone: string) {
    return !this.fake.unregistered.has(phone)
  }
  async phoneForLid() {
    return null
  }
  newMessageId() {
    return this.fake.nextId()
  }
  async logout() {
    await this.close()
  }
  async wipe() {}
  reset() {}
  async close() {
    if (!this.open) return
    this.open = false
    this.handlers?.onClose({ kind: 'closed' })
  }
}
