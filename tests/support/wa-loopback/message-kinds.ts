import { normalizeMessageContent, proto } from '@whiskeysockets/baileys'
import type { RecordedMessage } from './context.js'
import type { DecryptedMedia, EncryptedMediaRef, MediaKind } from './media.js'

/**
 * What a contact's phone makes of a decrypted message: its kind and the fields a person would see (caption, file
 * name, duration, place, card, the message it quotes or deletes). Media messages also name the upload to fetch and
 * decrypt; what that shows (size, SHA-256, image dimensions) is added by `withMedia`.
 */
export type MessageFields = Omit<RecordedMessage, 'id' | 'from' | 'to' | 'group' | 'at'>

export type DescribedMessage = { fields: MessageFields; media: { kind: MediaKind; ref: EncryptedMediaRef } | null }

const NONE: MessageFields = {
  type: 'unknown',
  text: null,
  caption: null,
  mimetype: null,
  file_name: null,
  width: null,
  height: null,
  size: null,
  sha256: null,
  page_count: null,
  seconds: null,
  ptt: null,
  latitude: null,
  longitude: null,
  name: null,
  address: null,
  vcard: null,
  quoted_id: null,
  revoked_id: null
}

export function describeMessage(raw: proto.IMessage): DescribedMessage {
  const message = normalizeMessageContent(raw) ?? raw
  const base: MessageFields = { ...NONE, quoted_id: quotedIdOf(message) }
  const plain = (fields: Partial<MessageFields>): DescribedMessage => ({ fields: { ...base, ...fields }, media: null })

  if (message.conversation != null) return plain({ type: 'text', text: message.conversation })
  if (message.extendedTextMessage) return plain({ type: 'text', text: message.extendedTextMessage.text ?? '' })
  if (message.imageMessage) {
    const image = message.imageMessage
    return withRef(plain({ type: 'image', caption: image.caption ?? null, mimetype: image.mimetype ?? null }), 'image', image)
  }
  if (message.documentMessage) {
    const document = message.documentMessage
    const fields = {
      type: 'document',
      caption: document.caption ?? null,
      mimetype: document.mimetype ?? null,
      file_name: document.fileName ?? null,
      page_count: document.pageCount ?? null
    }
    return withRef(plain(fields), 'document', document)
  }
  if (message.videoMessage) {
    const video = message.videoMessage
    const fields = { type: 'video', caption: video.caption ?? null, mimetype: video.mimetype ?? null, seconds: video.seconds ?? null }
    return withRef(plain(fields), 'video', video)
  }
  if (message.audioMessage) {
    const audio = message.audioMessage
    const fields = { type: 'audio', mimetype: audio.mimetype ?? null, seconds: audio.seconds ?? null, ptt: audio.ptt === true }
    return withRef(plain(fields), 'audio', audio)
  }
  if (message.locationMessage) {
    const location = message.locationMessage
    return plain({
      type: 'location',
      latitude: location.degreesLatitude ?? null,
      longitude: location.degreesLongitude ?? null,
      name: location.name ?? null,
      address: location.address ?? null
    })
  }
  if (message.contactMessage) {
    return plain({ type: 'contact', name: message.contactMessage.displayName ?? null, vcard: message.contactMessage.vcard ?? null })
  }
  if (message.protocolMessage?.type === proto.Message.ProtocolMessage.Type.REVOKE) {
    return plain({ type: 'revoke', revoked_id: message.protocolMessage.key?.id ?? null })
  }
  const field = Object.keys(message).find(key => (message as Record<string, unknown>)[key] != null)
  return plain({ type: field ?? 'unknown' })
}

/** The fields the downloaded, decrypted media shows. */
export function withMedia(fields: MessageFields, media: DecryptedMedia): MessageFields {
  return { ...fields, size: media.bytes.length, sha256: media.sha256, width: media.width, height: media.height }
}

function withRef(described: DescribedMessage, kind: MediaKind, ref: EncryptedMediaRef): DescribedMessage {
  return { ...described, media: { kind, ref } }
}

/** `contextInfo.stanzaId` of whichever message kind carries the context (text, media, location, contact…). */
function quotedIdOf(message: proto.IMessage): string | null {
  for (const content of Object.values(message) as unknown[]) {
    if (!content || typeof content !== 'object' || !('contextInfo' in content)) continue
    const stanzaId = (content.contextInfo as proto.IContextInfo | null | undefined)?.stanzaId
    if (stanzaId) return stanzaId
  }
  return null
}
