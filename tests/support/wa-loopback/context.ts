import type { Logger } from 'pino'
import type { Directory, CompanionDevice } from './directory.js'
import type { ContactBook } from './signal-contacts.js'
import type { FaultBook } from './faults.js'
import type { MediaStore } from './media.js'
import type { LoopbackConnection } from './connection.js'
import type { PairingDesk } from './pairing.js'
import type { OfflineQueue } from './offline-queue.js'

/** What a simulated contact received from a paired device, as `GET /control/messages` returns it. */
export type RecordedMessage = {
  id: string
  /** phone of the sending (paired) device */
  from: string
  /** phone of the contact that decrypted it */
  to: string
  /** `text`, `image`, or the proto field name of anything else */
  type: string
  text: string | null
  caption: string | null
  mimetype: string | null
  width: number | null
  height: number | null
  /** bytes of the decrypted media */
  size: number | null
  /** ISO time the server decrypted it */
  at: string
}

/** Delays after the server ack before the contact's delivery and read receipts; `null` means never. */
export type ReceiptDelays = { deliveredMs: number | null; readMs: number | null }

export const DEFAULT_RECEIPT_DELAYS: ReceiptDelays = { deliveredMs: 30, readMs: 150 }

/** State shared by every connection of one loopback server. */
export type LoopbackContext = {
  directory: Directory
  contacts: ContactBook
  faults: FaultBook
  media: MediaStore
  pairing: PairingDesk
  offline: OfflineQueue
  receipts: ReceiptDelays
  messages: RecordedMessage[]
  connections: Set<LoopbackConnection>
  log: Logger
}

/** The logged-in connections of a device (normally at most one; a second login replaces nothing by itself). */
export function connectionsOf(ctx: LoopbackContext, device: CompanionDevice): LoopbackConnection[] {
  return [...ctx.connections].filter(conn => conn.device === device && conn.isLoggedIn)
}

export function connectionsOfPhone(ctx: LoopbackContext, phone: string): LoopbackConnection[] {
  return [...ctx.connections].filter(conn => conn.device?.phone === phone && conn.isLoggedIn)
}

export const unixSeconds = () => String(Math.floor(Date.now() / 1000))
