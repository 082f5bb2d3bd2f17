import { proto, type WAMessage } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import { inboundContent } from '../../runner/whatsapp/content.js'

/** What runner/whatsapp/content.ts reads out of each kind of inbound message, envelopes unwrapped. */
const msg = (message: proto.IMessage): WAMessage => ({ key: { id: 'X', remoteJid: '1@s.whatsapp.net' }, message })
// As Baileys hands it over: decoded from the wire, so fileLength is a Long.
const decoded = (message: proto.IMessage): WAMessage => msg(proto.Message.decode(proto.Message.encode(message).finish()))

describe('inboundContent', () => {
  it('reads text, quoted ids and reactions', () => {
    expect(inboundContent(msg({ conversation: 'hi' }))).toEqual({
      kind: 'text', text: 'hi', caption: null, mimetype: null, fileName: null, size: null, quotedId: null, file: null,
    })
    expect(inboundContent(msg({ extendedTextMessage: { text: 'yes', contextInfo: { stanzaId: 'Q1' } } }))).toMatchObject({ kind: 'text', text: 'yes', quotedId: 'Q1' })
    expect(inboundContent(msg({ reactionMessage: { text: '❤️', key: { id: 'Q2' } } }))).toMatchObject({ kind: 'reaction', text: '❤️', quotedId: null })
    // A removed reaction has an empty text.
    expect(inboundContent(msg({ reactionMessage: { text: '', key: { id: 'Q2' } } }))).toMatchObject({ kind: 'reaction', text: null })
  })

  it('reads media metadata and captions, never a caption as text, through ephemeral and captioned-document envelopes', () => {
    const key = new Uint8Array(32).fill(7)
    const image = { caption: 'STOP', mimetype: 'image/jpeg', fileLength: 6_000_000_000, contextInfo: { stanzaId: 'Q3' }, mediaKey: key, directPath: '/v/t62/x.enc' }
    expect(inboundContent(decoded({ ephemeralMessage: { message: { imageMessage: image } } }))).toEqual({
      kind: 'image', text: null, caption: 'STOP', mimetype: 'image/jpeg', fileName: null, size: 6_000_000_000, quotedId: 'Q3',
      // What the runner needs to download the file (runner/whatsapp/download.ts).
      file: { kind: 'image', ref: expect.objectContaining({ mediaKey: Buffer.from(key), directPath: '/v/t62/x.enc', fileLength: 6_000_000_000 }) },
    })
    expect(inboundContent(decoded({ documentWithCaptionMessage: { message: { documentMessage: { caption: 'invoice', mimetype: 'application/pdf', fileName: 'a.pdf', fileLength: 10 } } } }))).toMatchObject({
      kind: 'document', caption: 'invoice', fileName: 'a.pdf', size: 10,
    })
    expect(inboundContent(decoded({ audioMessage: { mimetype: 'audio/ogg; codecs=opus', fileLength: 99, ptt: true } }))).toMatchObject({ kind: 'audio', caption: null, size: 99 })
    expect(inboundContent(msg({ videoMessage: { caption: 'look', mimetype: 'video/mp4' } }))).toMatchObject({ kind: 'video', caption: 'look', size: null })
  })

  it('sorts locations, contacts and anything else', () => {
    expect(inboundContent(msg({ locationMessage: { degreesLatitude: 33.9, degreesLongitude: 35.5, name: 'Home' } }))).toMatchObject({ kind: 'location', text: null, caption: null })
    expect(inboundContent(msg({ liveLocationMessage: { degreesLatitude: 1 } }))).toMatchObject({ kind: 'location' })
    expect(inboundContent(msg({ contactMessage: { displayName: 'Ann', vcard: 'BEGIN:VCARD' } }))).toMatchObject({ kind: 'contact', text: null })
    expect(inboundContent(msg({ stickerMessage: { mimetype: 'image/webp', fileLength: 5 } }))).toMatchObject({ kind: 'other', mimetype: 'image/webp', size: 5, text: null })
    expect(inboundContent(msg({ protocolMessage: { type: proto.Message.ProtocolMessage.Type.REVOKE } }))).toMatchObject({ kind: 'other', text: null })
  })
})
