import type { BinaryNode } from '@whiskeysockets/baileys'
import type { CompanionDevice } from './directory.js'

/**
 * Stanzas for a device that was offline when they were due (inbound messages, receipts). They are built at delivery
 * time, because a Signal encryption must use the session state of that moment, and are sent with `offline="1"` right
 * after the device's `passive active`, before `<ib><offline count/>`, as WhatsApp delivers its backlog.
 */
export type DeferredStanza = (options?: {
  /** Start a new Signal session first (answering a retry receipt: the device could not decrypt the last copy). */
  freshSession?: boolean
}) => Promise<BinaryNode>

export class OfflineQueue {
  private readonly pending = new Map<CompanionDevice, DeferredStanza[]>()

  enqueue(device: CompanionDevice, build: DeferredStanza): void {
    const list = this.pending.get(device) ?? []
    list.push(build)
    this.pending.set(device, list)
  }

  drain(device: CompanionDevice): DeferredStanza[] {
    const list = this.pending.get(device) ?? []
    this.pending.delete(device)
    return list
  }

  clear(): void {
    this.pending.clear()
  }
}
