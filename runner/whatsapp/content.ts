import { getContentType, normalizeMessageContent, proto } from '@whiskeysockets/baileys'
import type { WAMessage } from '@whiskeysockets/baileys'
import type { InboundType } from '../../db/types.js'
import type { DownloadKind, EncryptedFileRef } from './download.js'

/** What the runner stores of an inbound message besides its sender (`inbound_messages`, migration 0012). */
export interface InboundContent {
  kind: InboundType
  /** A text message's text or a reaction's emoji; null for the other kinds. */
  text: string | null
  /** An image's, video's or document's caption. */
  caption: string | null
  mimetype: string | null
  fileName: string | null
  /** Bytes, as the message declares them. */
  size: number | null
  /** WhatsApp id of the message it quotes (`contextInfo.stanzaId`), or null. */
  quotedId: string | null
  /** An image's, video's, audio's or document's encrypted file, to download (runner/whatsapp/download.ts). */
  file: { kind: DownloadKind; ref: EncryptedFileRef } | null
}

// proto field → stored kind; a field not listed is 'other' (stickers, polls, protocol messages…).
const KINDS: Record<string, InboundType> = {
  conversation: 'text', extendedTextMessage: 'text', imageMessage: 'image', documentMessage: 'document',
  videoMessage: 'video', audioMessage: 'audio', locationMessage: 'location', liveLocationMessage: 'location',
  contactMessage: 'contact', contactsArrayMessage: 'contact', reactionMessage: 'reaction',
}

interface MediaFields {
  caption?: string | null
  mimetype?: string | null
  fileName?: string | null
  fileLength?: number | { toNumber(): number } | null
  contextInfo?: proto.IContextInfo | null
  mediaKey?: Uint8Array | null
  directPath?: string | null
  fileEncSha256?: Uint8Array | null
  fileSha256?: Uint8Array | null
}

const FILE_KINDS: ReadonlySet<InboundType> = new Set(['image', 'video', 'audio', 'document'])

/**
 * What the runner reads out of an inbound WhatsApp message (runner/README.md, STOP and YES), after unwrapping
 * ephemeral, view-once, edited and captioned-document envelopes: its kind, its text (consent keywords are matched in
 * text messages only), the media's declared metadata and the id of the message it quotes.
 */
export function inboundContent(m: WAMessage): InboundContent {
  const c = normalizeMessageContent(m.message)
  const field = c ? getContentType(c) : undefined
  const kind = (field && KINDS[field]) || 'other'
  const inner = (field && field !== 'conversation' ? c![field as keyof proto.IMessage] : null) as MediaFields | null
  const text = kind === 'text' ? (c!.conversation ?? c!.extendedTextMessage?.text ?? null)
    : kind === 'reaction' ? (c!.reactionMessage?.text || null) : null
  const length = inner?.fileLength
  const size = length === null || length === undefined ? null : typeof length === 'number' ? length : length.toNumber()
  return {
    kind,
    text,
    caption: kind === 'image' || kind === 'video' || kind === 'document' ? (inner?.caption ?? null) : null,
    mimetype: inner?.mimetype ?? null,
    fileName: kind === 'document' ? (inner?.fileName ?? null) : null,
    size,
    quotedId: inner?.contextInfo?.stanzaId ?? null,
    file: inner && FILE_KINDS.has(kind) ? {
      kind: kind as DownloadKind,
      ref: { mediaKey: inner.mediaKey, directPath: inner.directPath, fileEncSha256: inner.fileEncSha256, fileSha256: inner.fileSha256, fileLength: size },
    } : null,
  }
}

/**
 * Whether an upsert is an inbound message the runner should consider at all. Stubs (a failed decrypt
 * is a CIPHERTEXT stub whose real message follows with the same id) must not take the dedupe slot.
 */
export function isConsiderable(m: WAMessage): boolean {
  if (m.key.fromMe) return false
  if (m.messageStubType) return false // any stub type but UNKNOWN (0)
  if (!m.message) return false
  return true
}

export const WA_STATUS = proto.WebMessageInfo.Status
