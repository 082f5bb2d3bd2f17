import type { BinaryNode } from '@whiskeysockets/baileys'
import { connectionsOfPhone, type LoopbackContext } from './context.js'

/**
 * Faults on demand, keyed by phone. Some act at once on the phone's live connections, some stay armed until
 * `POST /control/reset` (or kind `none` for that phone):
 *
 * | kind        | effect                                                                   | Baileys close code |
 * |-------------|--------------------------------------------------------------------------|--------------------|
 * | `close`     | WebSocket closed by the server                                           | 428                |
 * | `restart`   | `<stream:error code="515"/>`                                             | 515                |
 * | `conflict`  | `<stream:error><conflict type="replaced"/></stream:error>`               | 440                |
 * | `logout`    | device unlinked: `<stream:error code="401"><conflict type="device_removed"/>`, later logins `<failure reason="401"/>` | 401 |
 * | `forbidden` | `<failure reason="403"/>` now and at every login (armed)                 | 403                |
 * | `outdated`  | `<failure reason="405"/>` now and at every login (armed)                 | 405                |
 * | `nack463`   | `phone` is a RECIPIENT: messages to it get `<ack error="463">`, no delivery (armed) | messages.update ERROR ['463'] |
 * | `drop-acks` | `phone` is a paired DEVICE's number: its messages get no server ack (armed) | — |
 * | `refuse`    | new logins of `phone` are dropped right after the handshake (armed); `phone: "*"` rejects every WebSocket upgrade at the TCP level | 428 / 408 |
 * | `latency`   | every frame to `phone`'s connections is delayed by `ms` (armed; `ms: 0` clears) | — |
 * | `none`      | disarms every fault of `phone`                                           | — |
 */
export const FAULT_KINDS = [
  'close',
  'restart',
  'conflict',
  'logout',
  'forbidden',
  'outdated',
  'nack463',
  'drop-acks',
  'refuse',
  'latency',
  'none'
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]
export type FaultRequest = { phone: string; kind: FaultKind; ms?: number }

export const isFaultKind = (kind: unknown): kind is FaultKind => FAULT_KINDS.includes(kind as FaultKind)

/** A WILDCARD `refuse` rejects upgrades before any phone is known. */
export const ALL_PHONES = '*'

export class FaultBook {
  readonly refusedLogins = new Set<string>()
  refuseAllUpgrades = false
  readonly droppedAcks = new Set<string>()
  readonly restrictedRecipients = new Set<string>()
  readonly latencyMs = new Map<string, number>()
  /** `<failure reason>` a phone's logins get while armed. */
  readonly loginFailures = new Map<string, '403' | '405'>()

  disarm(phone: string): void {
    if (phone === ALL_PHONES) this.refuseAllUpgrades = false
    this.refusedLogins.delete(phone)
    this.droppedAcks.delete(phone)
    this.restrictedRecipients.delete(phone)
    this.latencyMs.delete(phone)
    this.loginFailures.delete(phone)
  }

  reset(): void {
    this.refuseAllUpgrades = false
    this.refusedLogins.clear()
    this.droppedAcks.clear()
    this.restrictedRecipients.clear()
    this.latencyMs.clear()
    this.loginFailures.clear()
  }
}

const streamError = (code?: string, child?: BinaryNode): BinaryNode => ({
  tag: 'stream:error',
  attrs: code ? { code } : {},
  ...(child && { content: [child] })
})
const failure = (reason: string): BinaryNode => ({ tag: 'failure', attrs: { reason, location: 'loopback' } })

/** Applies a fault; returns how many live connections it acted on (armed faults may act on none yet). */
export async function applyFault(ctx: LoopbackContext, { phone, kind, ms }: FaultRequest): Promise<number> {
  const live = phone === ALL_PHONES ? [] : connectionsOfPhone(ctx, phone)
  const each = (act: (conn: (typeof live)[number]) => Promise<void> | void) => Promise.all(live.map(act))
  switch (kind) {
    case 'close':
      await each(conn => conn.close())
      break
    case 'restart':
      await each(conn => conn.sendAndClose(streamError('515')))
      break
    case 'conflict':
      await each(conn => conn.sendAndClose(streamError(undefined, { tag: 'conflict', attrs: { type: 'replaced' } })))
      break
    case 'logout':
      ctx.directory.unlinkAll(phone)
      await each(conn => conn.sendAndClose(streamError('401', { tag: 'conflict', attrs: { type: 'device_removed' } })))
      break
    case 'forbidden':
    case 'outdated': {
      const reason = kind === 'forbidden' ? '403' : '405'
      ctx.faults.loginFailures.set(phone, reason)
      await each(conn => conn.sendAndClose(failure(reason)))
      break
    }
    case 'nack463':
      ctx.faults.restrictedRecipients.add(phone)
      break
    case 'drop-acks':
      ctx.faults.droppedAcks.add(phone)
      break
    case 'refuse':
      if (phone === ALL_PHONES) ctx.faults.refuseAllUpgrades = true
      else ctx.faults.refusedLogins.add(phone)
      break
    case 'latency': {
      const delay = Math.max(0, Math.floor(ms ?? 0))
      if (delay) ctx.faults.latencyMs.set(phone, delay)
      else ctx.faults.latencyMs.delete(phone)
      await each(conn => {
        conn.latencyMs = delay
      })
      break
    }
    case 'none':
      ctx.faults.disarm(phone)
      await each(conn => {
        conn.latencyMs = 0
      })
      break
  }
  return live.length
}

export { failure as loginFailureNode }
