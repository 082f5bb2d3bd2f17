import type { Logger } from 'pino'
import type { Directory, CompanionDevice } from './directory.js'
import type { ContactBook } from './signal-contacts.js'
import type { FaultBook } from './faults.js'
import type { MediaStore } from './media.js'
import type { LoopbackConnection } from './connection.js'
import type { PairingDesk } from './pairing.js'
import type { OfflineQueue } from './offline-queue.js'
import type { BoundedBytes } from './bounded-bytes.js'
import type { RecordedPresence } from './presence.js'
import type { GroupBook } from './groups.js'

/** The message kinds a contact tells apart; anything else is recorded under its proto field name. */
export type RecordedKind = 'text' | 'image' | 'document' | 'video' | 'audio' | 'location' | 'contact' | 'revoke'

/**
 * What a simulated contact received from a paired device, as `GET /control/messages` returns it. Every record has
 * every key; the ones that do not apply to its kind are `null`.
 */
export type RecordedMessage = {
  id: string
  /** phone of the sending (paired) device */
  from: string
  /** phone of the contact that decrypted it */
  to: string
  /** the group JID for a group message (one record per participant that decrypted it); null for a 1:1 message */
  group: string | null
  /** a RecordedKind, or the proto field name of anything else */
  type: RecordedKind | (string & {})
  text: string | null
  caption: string | null
  mimetype: string | null
  /** documentMessage.fileName */
  file_name: string | null
  /** read from the decrypted image */
  width: number | null
  height: number | null
  /** bytes of the downloaded, decrypted media */
  size: number | null
  /** hex SHA-256 of the downloaded, decrypted media (checked against the message's fileSha256) */
  sha256: string | null
  /** documentMessage.pageCount, when the sender set it */
  page_count: number | null
  /** audio/video duration the sender declared */
  seconds: number | null
  /** audioMessage.ptt: a voice note */
  ptt: boolean | null
  latitude: number | null
  longitude: number | null
  /** location name, or the contact card's display name */
  name: string | null
  /** location address */
  address: string | null
  vcard: string | null
  /** contextInfo.stanzaId: the id of the message this one quotes */
  quoted_id: string | null
  /** protocolMessage REVOKE: the id of the message deleted for everyone */
  revoked_id: string | null
  /** ISO time the server decrypted it */
  at: string
}

/** The decrypted bytes of a recorded media message, for `GET /control/messages/:id/media`. */
export type ReceivedMedia = { bytes: Buffer; mimetype: string | null }

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
  /** chat states and presence the paired devices sent, oldest first (presence.ts) */
  presence: RecordedPresence[]
  /** decrypted media by message id, dropped at reset and beyond a byte budget */
  receivedMedia: BoundedBytes<ReceivedMedia>
  connections: Set<LoopbackConnection>
  groups: GroupBook
  log: Logger
}

/** Where the decrypted bytes of a media message are kept: by id, and per participant for a group message. */
export const mediaKey = (id: string, group: string | null, to: string) => (group ? `${id}:${to}` : id)

/** The logged-in connections of a device (normally at most one; a second login replaces nothing by itself). */
export function connectionsOf(ctx: LoopbackContext, device: CompanionDevice): LoopbackConnection[] {
  return [...ctx.connections].filter(conn => conn.device === device && conn.isLoggedIn)
}

export function connectionsOfPhone(ctx: LoopbackContext, phone: string): LoopbackConnection[] {
  return [...ctx.connections].filter(conn => conn.device?.phone === phone && conn.isLoggedIn)
}

export const unixSeconds = () => String(Math.floor(Date.now() / 1000))
