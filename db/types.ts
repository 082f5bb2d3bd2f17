/**
 * Domain types shared by the API, the runner and the dashboard.
 *
 * Glossary
 * - **session**: one WhatsApp number (a linked device), named `^[A-Za-z0-9_-]{1,40}$`; `default` always exists.
 * - **message**: one queued outbound text or image; its row is also the audit log entry.
 * - **lease**: a runner's time-limited right to hold a session's socket (`owner`, `lease_until`), fenced by
 *   `lease_epoch`, which grows on every takeover.
 * - **claim**: moving a session's next due message from `pending` to `sending` under the lease, in one
 *   transaction with the throttle slot (`next_send_at`).
 * - **rescue / reconcile**: what a new lease holder does with the one message a crashed owner left `sending`.
 * - **opt-out**: a contact replied STOP; their messages become `opted_out` and are never sent.
 */

/** Every state a message can be in. Each transition lives in `db/queries/`, guarded by the state it expects. */
export const MESSAGE_STATES = [
  /** Accepted by the API (`enqueueMessage`), requeued after a transient error, or resent by the API. Leaves by claim or opt-out. */
  'pending',
  /** Claimed by the session's lease holder (`markSending`); at most one per session. Leaves by finalize, requeue, fail or takeover. */
  'sending',
  /** Written to WhatsApp (`finalizeSent`); receipts then fill `delivered_at` / `read_at`. Pruned after retention. */
  'sent',
  /** Permanent error or attempts exhausted (`finalizeFailed`), or a negative ack. The API can resend it. */
  'failed',
  /** The contact opted out (at claim, or in bulk on STOP). The API can resend it after the contact opts in again. */
  'opted_out',
  /** Taken out of the queue by the API (`cancelMessage`) while still `pending`. Final. */
  'cancelled',
] as const
export type MessageStatus = (typeof MESSAGE_STATES)[number]

/**
 * Why a `pending` message was moved out of the claim's way (`messages.hold`; db/README.md, The message states).
 * The API still answers `pending` for it, with the sentence in `error`.
 */
export const MESSAGE_HOLDS = [
  /** `OPT_IN_MODE=confirm` and the contact has not said YES: released when they do, looked at again every 15 min. */
  'consent',
  /** A sending limit (the first-contact cap): until the next local midnight, or until the session's cap changes. */
  'limit',
] as const
export type MessageHold = (typeof MESSAGE_HOLDS)[number]

export const SESSION_STATES = ['online', 'offline', 'connecting'] as const
export type SessionStatus = (typeof SESSION_STATES)[number]

export const OPT_IN_STATES = ['pending', 'yes', 'no'] as const
export type OptIn = (typeof OPT_IN_STATES)[number]

/**
 * Every kind of message a row can be (migration 0009). `revoke` is a row that takes a sent message back for everyone:
 * queued and paced like any send, it names its target in `targetId`.
 */
export const MESSAGE_TYPES = ['text', 'image', 'document', 'video', 'audio', 'location', 'contact', 'revoke'] as const
export type MessageType = (typeof MESSAGE_TYPES)[number]
/**
 * What kind of message someone wrote (`inbound_messages.type`, migration 0012): `reaction` carries its emoji as the
 * text; `other` is anything else (stickers, protocol messages, polls…).
 */
export const INBOUND_TYPES = ['text', 'image', 'document', 'video', 'audio', 'location', 'contact', 'reaction', 'other'] as const
export type InboundType = (typeof INBOUND_TYPES)[number]
/** The kinds whose bytes are in `media` (`mediaId` set). */
export const MEDIA_TYPES = ['image', 'document', 'video', 'audio'] as const
export type MediaType = (typeof MEDIA_TYPES)[number]

/** A contact card as the API takes it (`POST /api/send-contact`); the runner writes it as a vCard. */
export interface ContactCard {
  name: string
  phones: string[]
  email?: string
  organization?: string
}

/** A place as the API takes it (`POST /api/send-location`). */
export interface Location {
  latitude: number
  longitude: number
  name?: string
  address?: string
}

/**
 * What a kind needs beyond `body` (text or caption) and `media_id`, stored as JSON in `messages.details`: a
 * document's (or audio file's) name, whether audio is a voice note, a location, a contact card. Null for text and
 * images.
 */
export interface MessageDetails {
  fileName?: string
  ptt?: boolean
  location?: Location
  contact?: ContactCard
}

/** Session names everywhere a name is accepted, URL paths included. */
export const SESSION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,40}$/
export const DEFAULT_SESSION = 'default'

export interface SessionRecord {
  name: string
  status: SessionStatus
  phone: string | null
  lastSeen: Date | null
  qrCode: string | null
  qr: string | null
  detail: string | null
  owner: string | null
  leaseEpoch: number
  leaseUntil: Date
  nextSendAt: Date
  pausedUntil: Date | null
  reconnectRequestedAt: Date | null
  deleteRequestedAt: Date | null
  createdAt: Date
  updatedAt: Date
  /** A pairing-code request from the API (phone digits) and the runner's answer: the code, or why not. */
  pairingPhone: string | null
  pairingCode: string | null
  pairingError: string | null
  /** When the number was last linked (QR or code); the warm-up counts local days from it. */
  pairedAt: Date | null
  settings: SessionSettings
  /** Local date (`YYYY-MM-DD`, session time zone) the two counters below belong to. */
  quotaDay: string | null
  sentToday: number
  firstContactToday: number
  consecutiveFailures: number
  /** Why the session holds messages back (a cap or quiet hours) and until when; stale once `holdUntil` passed. */
  holdUntil: Date | null
  holdReason: string | null
  /** The session's proxy with its password masked (`socks5://user:***@host:1080`), or null: direct. */
  proxyUrl: string | null
}

/**
 * Per-session sending limits. `null` takes the runner's default (`.env`); a cap or threshold of 0 is off.
 */
export interface SessionSettings {
  /** Messages per local day; the warm-up ramps up to it. */
  dailyCap: number | null
  /** Day-0 cap of a newly linked number. */
  warmupStart: number | null
  /** Days the ramp from `warmupStart` to `dailyCap` takes. */
  warmupDays: number | null
  /** Messages per local day to numbers that never wrote to this session. */
  firstContactCap: number | null
  /** Consecutive send failures that pause the session (circuit breaker). */
  breakerFailures: number | null
  /** `HH:MM-HH:MM` or `off`. */
  quietHours: string | null
  /** IANA zone for quiet hours and the counters' midnight. */
  timeZone: string | null
  /** Show "typing…" / "recording…" to the recipient before each send (runner/README.md, Typing before each send). */
  presence: PresenceSetting | null
}

/** A session's `presence` setting: typing before each send on or off. */
export type PresenceSetting = 'on' | 'off'

export interface MessageRecord {
  id: number
  session: string
  phone: string
  type: MessageType
  body: string | null
  mediaId: number | null
  status: MessageStatus
  attempts: number
  availableAt: Date
  waMessageId: string | null
  claimedBy: string | null
  claimEpoch: number | null
  claimedAt: Date | null
  sentAt: Date | null
  deliveredAt: Date | null
  readAt: Date | null
  /** Sentence of the last error or hold, as the audit log shows it. Code decides on `status` and `hold`, never on this. */
  error: string | null
  /** Why a `pending` message waits (migration 0008); null for any other row. */
  hold: MessageHold | null
  /** Kind-specific fields (migration 0009). */
  details: MessageDetails | null
  /** The inbound message (`inbound_messages.id`) this one quotes. */
  replyTo: number | null
  /** For a `revoke` row: the message it takes back. */
  targetId: number | null
  /** When this message was taken back for everyone (its revoke row was sent). */
  revokedAt: Date | null
  idempotencyKey: string | null
  /** The instant a scheduled send asked for (null: send as soon as possible). */
  sendAt: Date | null
  createdAt: Date
  updatedAt: Date
}

export interface ContactRecord {
  phone: string
  optIn: OptIn
  optInAt: Date | null
  name: string | null
  lid: string | null
  lastInboundAt: Date | null
  createdAt: Date
  updatedAt: Date
}

export interface MediaRecord {
  id: number
  bytes: Uint8Array
  mime: string
  size: number
  /** Images only (null for documents, audio and video). */
  width: number | null
  height: number | null
  sha256: string
  createdAt: Date
}

/** A message to a group keeps the group JID (`…@g.us`) where a phone would be (db/README.md, Groups). */
export const isGroupAddress = (phone: string): boolean => phone.endsWith('@g.us')
