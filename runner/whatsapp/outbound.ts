import type { Readable } from 'node:stream'
import { generateWAMessageFromContent, prepareWAMessageMedia, proto } from '@whiskeysockets/baileys'
import type { AnyMessageContent, WAMediaUploadFunction, WAMessage, WASocket } from '@whiskeysockets/baileys'
import { randomBytes } from 'node:crypto'
import { growingLru } from './growing-lru.js'
import type { Logger } from 'pino'
import { recipientJid } from './jid.js'

/**
 * What the runner sends, and how it becomes Baileys message content (runner/README.md, Sending). The queue speaks
 * these types; Baileys' stay in this folder. Text, locations, contact cards and revokes go through
 * `sock.sendMessage`; media is uploaded through Baileys' `prepareWAMessageMedia` once per (media, session), its
 * upload fields kept in a `MediaUploads` cache, and every send of it is built from those fields with
 * `generateWAMessageFromContent` and relayed, each with its own caption and quote.
 */

export type MediaKind = 'image' | 'document' | 'video' | 'audio'

/** What an upload needs; made only when no earlier upload of the same media can be reused. */
export interface MediaUpload {
  /** The bytes as sent, whole or streamed (read once). */
  bytes: Buffer | Readable
  mimetype: string
  /** Fields WhatsApp shows from the bytes themselves; kept with the upload. */
  pageCount?: number
  seconds?: number
  jpegThumbnail?: Buffer
  width?: number
  height?: number
}

export interface OutboundMedia {
  kind: MediaKind
  /**
   * The same key is the same uploaded bytes: the stored media's id and the variant made of it (`img` for the
   * compressed JPEG, `voice` for a voice-note conversion, `raw` for the bytes as stored).
   */
  reuseKey: string
  /** Reads (and converts) the bytes; called only when the upload is not reusable. */
  prepare(): Promise<MediaUpload>
}

export type OutboundContent =
  | { kind: 'text'; text: string }
  /** `fileName` for documents, `ptt` for audio: this message's own, never taken from a reused upload. */
  | { kind: 'media'; media: OutboundMedia; caption: string | null; fileName?: string; ptt?: boolean }
  | { kind: 'location'; latitude: number; longitude: number; name: string | null; address: string | null }
  | { kind: 'contact'; displayName: string; vcard: string }
  /** Deletes for everyone the message this session sent to `phone` under `waMessageId`. */
  | { kind: 'revoke'; phone: string; waMessageId: string }

/** An inbound message this send replies to (its row in `inbound_messages`). */
export interface QuotedInbound {
  waMessageId: string
  senderJid: string
  body: string | null
}

export interface SendOptions {
  quote?: QuotedInbound
  /**
   * Awaited after a media upload, just before the message itself leaves: an upload may take long, and the lease
   * must still be held when the message is relayed. Throws (`FenceClosedError`) to abandon the send.
   */
  beforeRelay?: () => Promise<void>
}

/** The lease ended (or is about to) while the media uploaded: the message was not relayed; the next holder sends it. */
export class FenceClosedError extends Error {
  constructor(message = 'the lease ended during the upload: message not relayed') {
    super(message)
    this.name = 'FenceClosedError'
  }
}

/**
 * How long an upload is reused: 6 hours. Long enough that a campaign sending one document to many contacts (at the
 * throttle's 10-30 s a message, ~1,000 sends) uploads it once; short enough to stay far inside the life of an upload
 * on WhatsApp's media hosts (the CDN URL's `oe=` expiry lies days ahead, and phones download the blob by its
 * direct path long after) and inside the media retention, so a reused upload never points at bytes WhatsApp has
 * dropped. A reuse that failed anyway is dropped from the cache and uploaded afresh on the retry.
 */
export const UPLOAD_REUSE_MS = 6 * 3600_000
/** Uploads remembered per session: the fields are a few hundred bytes plus a thumbnail (≤ ~10 KB). */
export const UPLOAD_REUSE_MAX = 500

type MediaMessage = proto.Message.IImageMessage & proto.Message.IDocumentMessage & proto.Message.IVideoMessage & proto.Message.IAudioMessage

/** The upload fields Baileys produced for one media, per session. */
export class MediaUploads {
  private readonly cache = growingLru<string, MediaMessage>(UPLOAD_REUSE_MAX, UPLOAD_REUSE_MS)
  /** Uploads made (tests and metrics). */
  uploads = 0

  get(key: string): MediaMessage | undefined {
    return this.cache.get(key)
  }

  set(key: string, fields: MediaMessage): void {
    this.cache.set(key, fields)
  }

  drop(key: string): void {
    this.cache.delete(key)
  }
}

const KEY_OF: Record<MediaKind, 'imageMessage' | 'documentMessage' | 'videoMessage' | 'audioMessage'> = {
  image: 'imageMessage',
  document: 'documentMessage',
  video: 'videoMessage',
  audio: 'audioMessage',
}

/** Fields of a message, not of its upload: never cached. */
const PER_SEND = ['caption', 'fileName', 'ptt', 'contextInfo'] as const

/** The minimal WAMessage Baileys' `quoted` option needs: the inbound message's key and its text. */
function quotedMessage(q: QuotedInbound): WAMessage {
  return { key: { remoteJid: q.senderJid, fromMe: false, id: q.waMessageId }, message: { conversation: q.body ?? '' } }
}

export interface OutboundDeps {
  sock: WASocket
  upload: WAMediaUploadFunction
  uploads: MediaUploads
  log: Logger
  /** Upload time limit (ms) for a media of this size. */
  uploadTimeoutMs?: number
}

/** Sends `content` to `to` under `messageId`; returns the message as sent (kept for WhatsApp's retry receipts). */
export async function sendOutbound(
  deps: OutboundDeps,
  to: string,
  messageId: string,
  content: OutboundContent,
  options: SendOptions = {},
): Promise<proto.IMessage | null> {
  const { sock } = deps
  const jid = recipientJid(to)
  const quoted = options.quote ? quotedMessage(options.quote) : undefined
  if (content.kind === 'media') return sendMedia(deps, jid, messageId, content, quoted, options.beforeRelay)
  const payload = plainContent(content)
  const sent = await sock.sendMessage(jid, payload, { messageId, ...(quoted ? { quoted } : {}) })
  return sent?.message ?? null
}

function plainContent(content: Exclude<OutboundContent, { kind: 'media' }>): AnyMessageContent {
  switch (content.kind) {
    case 'text':
      return { text: content.text, linkPreview: null }
    case 'location':
      return {
        location: {
          degreesLatitude: content.latitude,
          degreesLongitude: content.longitude,
          ...(content.name ? { name: content.name } : {}),
          ...(content.address ? { address: content.address } : {}),
        },
      }
    case 'contact':
      return { contacts: { displayName: content.displayName, contacts: [{ displayName: content.displayName, vcard: content.vcard }] } }
    case 'revoke':
      return { delete: { remoteJid: recipientJid(content.phone), fromMe: true, id: content.waMessageId } }
  }
}

async function sendMedia(
  deps: OutboundDeps,
  jid: string,
  messageId: string,
  content: Extract<OutboundContent, { kind: 'media' }>,
  quoted: WAMessage | undefined,
  beforeRelay: (() => Promise<void>) | undefined,
): Promise<proto.IMessage | null> {
  const { sock, uploads } = deps
  const { kind, reuseKey } = content.media
  const key = KEY_OF[kind]
  let fields = uploads.get(reuseKey)
  const reused = fields !== undefined
  if (!fields) {
    fields = await uploadMedia(deps, content.media)
    await beforeRelay?.()
  }
  const message = proto.Message.fromObject({
    [key]: {
      ...fields,
      ...(content.caption && kind !== 'audio' ? { caption: content.caption } : {}),
      ...(kind === 'document' ? { fileName: content.fileName ?? 'file' } : {}),
      ...(kind === 'audio' ? { ptt: content.ptt === true } : {}),
    },
    // What Baileys' own generateWAMessageContent adds to every such message (its reporting token secret).
    messageContextInfo: { messageSecret: randomBytes(32) },
  })
  const userJid = sock.user?.id ?? sock.authState.creds.me?.id ?? ''
  const full = generateWAMessageFromContent(jid, message, { userJid, messageId, ...(quoted ? { quoted } : {}) })
  try {
    await sock.relayMessage(jid, full.message!, { messageId })
  } catch (err) {
    // The relay may have failed for reasons of the reused upload itself (WhatsApp dropped it): upload again next time.
    if (reused) uploads.drop(reuseKey)
    throw err
  }
  return full.message ?? null
}

/** Uploads the media with Baileys' own encryption and keeps the fields it produced for the next send. */
async function uploadMedia(deps: OutboundDeps, media: OutboundMedia): Promise<MediaMessage> {
  const prepared = await media.prepare()
  const upload = Buffer.isBuffer(prepared.bytes) ? prepared.bytes : { stream: prepared.bytes }
  const extra = {
    mimetype: prepared.mimetype,
    ...(prepared.pageCount ? { pageCount: prepared.pageCount } : {}),
    ...(prepared.seconds ? { seconds: Math.max(1, Math.round(prepared.seconds)) } : {}),
    ...(prepared.jpegThumbnail ? { jpegThumbnail: prepared.jpegThumbnail } : {}),
    // A video without one (no ffmpeg) goes without: Baileys would try ffmpeg itself on a temporary copy of the file.
    ...(media.kind === 'video' && !prepared.jpegThumbnail ? { jpegThumbnail: null } : {}),
    ...(prepared.width && prepared.height ? { width: prepared.width, height: prepared.height } : {}),
    // A waveform needs a decoder Baileys loads optionally; a voice note plays without one.
    ...(media.kind === 'audio' ? { waveform: null } : {}),
  }
  const content = { [media.kind]: upload, ...extra } as unknown as Parameters<typeof prepareWAMessageMedia>[0]
  const made = await prepareWAMessageMedia(content, {
    upload: deps.upload,
    logger: deps.log,
    ...(deps.uploadTimeoutMs ? { mediaUploadTimeoutMs: deps.uploadTimeoutMs } : {}),
  })
  deps.uploads.uploads++
  const fields = { ...(made[KEY_OF[media.kind]] as MediaMessage) }
  for (const k of PER_SEND) delete (fields as Record<string, unknown>)[k]
  deps.uploads.set(media.reuseKey, fields)
  return fields
}
