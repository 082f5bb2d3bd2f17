import { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type { Db } from '../../db/driver.js'
import type { ClaimedMessage } from '../../db/lifecycle/index.js'
import { REVOKE_WINDOW_SECONDS } from '../../db/lifecycle/revoke.js'
import { getInboundById } from '../../db/queries/inbound.js'
import { getMedia, getMediaInfo, MediaGoneError, readMediaChunks, type MediaInfo } from '../../db/queries/media.js'
import { getMessage } from '../../db/queries/messages.js'
import {
  ffmpegAvailable, FfmpegMissingError, FfmpegTimeoutError, MediaConversionError, probeMedia, toVoiceNote, videoThumbnail,
} from '../media/ffmpeg.js'
import { compressImage } from '../media/image.js'
import { pdfPageCount } from '../media/pdf.js'
import { buildVcard } from '../media/vcard.js'
import type { MediaUpload, OutboundContent, OutboundMedia, SendOptions } from '../whatsapp/client.js'
import { PermanentSendError } from './outcomes.js'

/**
 * What a claimed message becomes on the wire (runner/README.md, Sending): its content, its quote, how many bytes
 * it uploads (the send's guard time scales with them) and, for a revoke, the message it takes back. Media bytes are
 * read only when the session has no reusable upload of them (`OutboundMedia.prepare`).
 */
export interface PreparedSend {
  content: OutboundContent
  options: SendOptions
  /** Bytes an upload of this message may send: 0 for text, locations, contacts and revokes. */
  uploadBytes: number
  /** For a revoke: the message it takes back (`finalizeSent`'s `revokes`). */
  revokes: number | null
}

/** WhatsApp plays a voice note only as OGG/Opus, announced with exactly this type. */
export const VOICE_NOTE_MIME = 'audio/ogg; codecs=opus'
/**
 * PDFs up to this size are read whole to count their pages; a larger one is streamed and sent without a page count,
 * so a 64 MB document never sits in memory.
 */
export const PAGE_COUNT_MAX_BYTES = 16 * 1024 * 1024

export async function contentOf(db: Db, message: ClaimedMessage, log: Logger): Promise<PreparedSend> {
  const options = await quoteOf(db, message, log)
  const plain = (content: OutboundContent, revokes: number | null = null): PreparedSend => ({ content, options, uploadBytes: 0, revokes })
  const details = message.details ?? {}
  switch (message.type) {
    case 'text':
      if (!message.body) throw new PermanentSendError('text message has no body')
      return plain({ kind: 'text', text: message.body })
    case 'location': {
      const l = details.location
      if (!l) throw new PermanentSendError('location message has no location')
      return plain({ kind: 'location', latitude: l.latitude, longitude: l.longitude, name: l.name ?? null, address: l.address ?? null })
    }
    case 'contact': {
      const c = details.contact
      if (!c) throw new PermanentSendError('contact message has no contact card')
      return plain({ kind: 'contact', displayName: c.name, vcard: buildVcard(c) })
    }
    case 'revoke':
      return plain(await revokeOf(db, message), message.targetId)
    case 'image':
    case 'document':
    case 'video':
    case 'audio': {
      const info = message.mediaId === null ? null : await getMediaInfo(db, message.mediaId)
      if (!info) throw new PermanentSendError(`${message.type} is missing (media pruned or deleted)`)
      const media = mediaOf(db, message.type, info, details.ptt === true, log)
      return {
        content: {
          kind: 'media', media, caption: message.body,
          ...(message.type === 'document' ? { fileName: details.fileName ?? 'file' } : {}),
          ...(message.type === 'audio' ? { ptt: details.ptt === true } : {}),
        },
        options,
        uploadBytes: info.size,
        revokes: null,
      }
    }
  }
}

/** The inbound message this one replies to; a reply whose inbound row is gone is sent without the quote. */
async function quoteOf(db: Db, message: ClaimedMessage, log: Logger): Promise<SendOptions> {
  if (message.replyTo === null) return {}
  const inbound = await getInboundById(db, message.replyTo)
  if (!inbound) {
    log.warn({ id: message.id, replyTo: message.replyTo }, 'the inbound message this replies to is gone: sending without the quote')
    return {}
  }
  return { quote: { waMessageId: inbound.waMessageId, senderJid: inbound.senderJid, body: inbound.body } }
}

async function revokeOf(db: Db, message: ClaimedMessage): Promise<OutboundContent> {
  const target = message.targetId === null ? null : await getMessage(db, message.targetId)
  if (!target) throw new PermanentSendError('the message to revoke is gone')
  if (!target.waMessageId || !target.sentAt) throw new PermanentSendError('the message to revoke was never sent')
  const ageSeconds = (Date.now() - target.sentAt.getTime()) / 1000
  if (ageSeconds > REVOKE_WINDOW_SECONDS) {
    throw new PermanentSendError(
      `revoke_too_late: message ${target.id} was sent ${Math.round(ageSeconds / 3600)} h ago; WhatsApp deletes for everyone ` +
        `only within ${REVOKE_WINDOW_SECONDS / 3600} h`,
    )
  }
  return { kind: 'revoke', phone: target.phone, waMessageId: target.waMessageId }
}

/** Whole stored bytes, or MediaGoneError (pruned after the claim: a permanent failure). */
async function bytesOf(db: Db, info: MediaInfo): Promise<Buffer> {
  const stored = await getMedia(db, info.id)
  if (!stored) throw new MediaGoneError(info.id)
  return Buffer.from(stored.bytes.buffer, stored.bytes.byteOffset, stored.bytes.byteLength)
}

/** OGG (`OggS`) whose first stream is Opus (`OpusHead` in the first page): a voice note as WhatsApp plays it. */
export function isOggOpus(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 64))
  return b.subarray(0, 4).toString('latin1') === 'OggS' && b.subarray(28, 36).toString('latin1') === 'OpusHead'
}

function mediaOf(db: Db, kind: 'image' | 'document' | 'video' | 'audio', info: MediaInfo, ptt: boolean, log: Logger): OutboundMedia {
  switch (kind) {
    case 'image':
      // Compressed at send time (runner/media/image.ts); the JPEG is what is uploaded and reused.
      return {
        kind, reuseKey: `${info.id}:img`,
        prepare: async () => {
          const img = await compressImage(await bytesOf(db, info))
          return { bytes: img.jpeg, mimetype: 'image/jpeg', width: img.width, height: img.height }
        },
      }
    case 'document':
      return { kind, reuseKey: `${info.id}:raw`, prepare: () => documentUpload(db, info) }
    case 'video':
      return { kind, reuseKey: `${info.id}:raw`, prepare: () => videoUpload(db, info, log) }
    case 'audio':
      return ptt
        ? { kind, reuseKey: `${info.id}:voice`, prepare: () => voiceNoteUpload(db, info) }
        : { kind, reuseKey: `${info.id}:raw`, prepare: () => audioUpload(db, info, log) }
  }
}

/** Byte for byte as stored, streamed chunk by chunk from the database (a PDF small enough to count pages is read whole). */
async function documentUpload(db: Db, info: MediaInfo): Promise<MediaUpload> {
  if (info.mime === 'application/pdf' && info.size <= PAGE_COUNT_MAX_BYTES) {
    const bytes = await bytesOf(db, info)
    const pageCount = pdfPageCount(bytes)
    return { bytes, mimetype: info.mime, ...(pageCount ? { pageCount } : {}) }
  }
  return { bytes: Readable.from(readMediaChunks(db, info)), mimetype: info.mime }
}

/** A video with its length and a thumbnail when ffmpeg is installed; without them otherwise (it still plays). */
async function videoUpload(db: Db, info: MediaInfo, log: Logger): Promise<MediaUpload> {
  const bytes = await bytesOf(db, info)
  if (!(await ffmpegAvailable())) return { bytes, mimetype: info.mime }
  try {
    const [probe, jpegThumbnail] = await Promise.all([probeMedia(bytes), videoThumbnail(bytes)])
    return {
      bytes, mimetype: info.mime,
      ...(probe.seconds ? { seconds: probe.seconds } : {}),
      ...(probe.width && probe.height ? { width: probe.width, height: probe.height } : {}),
      ...(jpegThumbnail ? { jpegThumbnail } : {}),
    }
  } catch (err) {
    if (!isFfmpegTrouble(err)) throw err
    log.warn({ media: info.id, err: err.message }, 'ffmpeg cannot read this video: sending it without length and thumbnail')
    return { bytes, mimetype: info.mime }
  }
}

/** ffmpeg could not help with this file (unreadable, gone since the check, too slow): extras are left out. */
const isFfmpegTrouble = (err: unknown): err is Error =>
  err instanceof MediaConversionError || err instanceof FfmpegMissingError || err instanceof FfmpegTimeoutError

/** Audio as stored; its length from ffprobe when installed (else Baileys reads it from the file's headers). */
async function audioUpload(db: Db, info: MediaInfo, log: Logger): Promise<MediaUpload> {
  const bytes = await bytesOf(db, info)
  if (!(await ffmpegAvailable())) return { bytes, mimetype: info.mime }
  const seconds = await probeMedia(bytes).then(
    (p) => p.seconds,
    (err: unknown) => {
      log.warn({ media: info.id, err: (err as Error).message }, 'ffprobe cannot read this audio: sending it without its length')
      return null
    },
  )
  return { bytes, mimetype: info.mime, ...(seconds ? { seconds } : {}) }
}

/** A voice note is OGG/Opus: sent as-is when it already is, converted with ffmpeg otherwise. */
async function voiceNoteUpload(db: Db, info: MediaInfo): Promise<MediaUpload> {
  const bytes = await bytesOf(db, info)
  const haveFfmpeg = await ffmpegAvailable()
  if (isOggOpus(bytes)) {
    const seconds = haveFfmpeg ? (await probeMedia(bytes).catch(() => null))?.seconds ?? null : null
    return { bytes, mimetype: VOICE_NOTE_MIME, ...(seconds ? { seconds } : {}) }
  }
  if (!haveFfmpeg) {
    throw new PermanentSendError(
      'voice note is not OGG/Opus and ffmpeg is not installed on the runner: install ffmpeg, or send the voice note as OGG/Opus',
    )
  }
  const { ogg, seconds } = await toVoiceNote(bytes)
  return { bytes: ogg, mimetype: VOICE_NOTE_MIME, ...(seconds ? { seconds } : {}) }
}
