import { randomBytes } from 'node:crypto'
import { getBinaryNodeChild, getBinaryNodeChildren, type BinaryNode, type proto } from '@whiskeysockets/baileys'
import type { LoopbackConnection } from './connection.js'
import { connectionsOf, unixSeconds, type LoopbackContext } from './context.js'
import type { CompanionDevice } from './directory.js'
import { normalizePhone, pnJid } from './directory.js'
import type { MediaKind, MediaStore } from './media.js'
import type { DeferredStanza } from './offline-queue.js'
import { sendGroupInbound } from './group-messages.js'

/**
 * A simulated contact writes to a paired account: every linked device of `to` gets its own Signal-encrypted copy
 * (pkmsg to start a session from the device's uploaded bundle, msg afterwards), addressed as current WhatsApp does:
 * `from` the contact's LID with `sender_pn` carrying its phone number. Devices that are offline get it on their next
 * login (`offline="1"`, which Baileys emits as a `messages.upsert` of type `append`).
 */
export class InboundError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
  }
}

/** What a contact writes: a text (quoting a message when `quotedId` is set) or an image whose caption is `text`. */
export interface InboundInput {
  from: string
  /** the paired phone written to; with `group`, optional: only that member's devices get the message */
  to?: string
  /** a group JID: the contact writes in that group (group-messages.ts) */
  group?: string
  text: string
  freshSession?: boolean
  /** `contextInfo.stanzaId`: the id of the message this one replies to. */
  quotedId?: string
  /**
   * An image message with this declared metadata: it carries no downloadable media (no url or media key), which a
   * receiver that only stores the metadata never asks for.
   */
  image?: { mimetype: string; size: number }
  /**
   * A file the contact uploads and sends (an image, video, audio or document message with `text` as its caption):
   * downloadable from the media endpoint like a real one. `declaredSize` overrides the `fileLength` the message
   * declares (a sender that lies); `corrupt` damages the stored upload (its MAC no longer matches).
   */
  file?: { type: MediaKind; mimetype: string; bytes: Buffer; fileName?: string; declaredSize?: number; corrupt?: boolean }
}

const FILE_FIELDS = { image: 'imageMessage', video: 'videoMessage', audio: 'audioMessage', document: 'documentMessage' } as const

export function inboundContent(input: InboundInput, upload?: Awaited<ReturnType<MediaStore['uploadFromContact']>>): proto.IMessage {
  const contextInfo = input.quotedId ? { stanzaId: input.quotedId, quotedMessage: { conversation: '' } } : undefined
  const file = input.file
  if (file && upload) {
    return {
      [FILE_FIELDS[file.type]]: {
        ...upload, mimetype: file.mimetype, fileLength: file.declaredSize ?? file.bytes.length, contextInfo,
        ...(file.type !== 'audio' && input.text && { caption: input.text }),
        ...(file.type === 'document' && { fileName: file.fileName ?? 'file' }),
      },
    }
  }
  if (input.image) {
    return { imageMessage: { caption: input.text || undefined, mimetype: input.image.mimetype, fileLength: input.image.size, contextInfo } }
  }
  return contextInfo ? { extendedTextMessage: { text: input.text, contextInfo } } : { conversation: input.text }
}

/**
 * `freshSession`: the contact starts a new Signal session first, as a phone that re-installed WhatsApp does, so the
 * device receives a pkmsg with a new base key and replaces (closes) the session it had.
 */
export async function sendInbound(ctx: LoopbackContext, input: InboundInput): Promise<string> {
  if (input.group) return sendGroupInbound(ctx, { ...input, group: input.group })
  if (!input.to) throw new InboundError(400, 'to (string) is required')
  const fromPhone = normalizePhone(input.from)
  const toPhone = normalizePhone(input.to)
  const devices = ctx.directory.devicesOf(toPhone)
  if (!devices.length) throw new InboundError(404, `no paired device has the number ${toPhone}`)
  const contact = ctx.contacts.get(fromPhone)
  const id = `AC${randomBytes(15).toString('hex').toUpperCase()}`
  const t = unixSeconds()
  // One upload for every device's copy, as a phone sends the same media message to each.
  const upload = input.file ? await ctx.media.uploadFromContact(input.file.bytes, input.file.type, input.file.corrupt) : undefined

  const stanzaFor = (device: CompanionDevice): DeferredStanza => async (options) => {
    if (options?.freshSession) contact.forgetSession(device)
    const { type, ciphertext } = await contact.encryptFor(device, inboundContent(input, upload))
    // The stanza stays type="text" for an image too: WhatsApp's type="media" made the contact fail to decrypt the
    // device's next message to it in the loopback (tests/runner/inbound-kinds-pglite.test.ts); not modelled further.
    return {
      tag: 'message',
      attrs: { id, from: contact.lidJid, sender_pn: pnJid(fromPhone), t, type: 'text', notify: `Contact ${fromPhone}` },
      content: [{ tag: 'enc', attrs: { v: '2', type }, content: ciphertext }]
    }
  }
  for (const device of devices) {
    if (input.freshSession) contact.forgetSession(device)
    const build = stanzaFor(device)
    const [conn] = connectionsOf(ctx, device)
    if (conn) await sendTracked(conn, device, await build(), build)
    else ctx.offline.enqueue(device, build)
  }
  return id
}

/**
 * WhatsApp keeps a message queued for a device until the device acknowledges it (its `<receipt>`, or an `<ack>`,
 * negative ones included); a connection that ends before that gets the same ciphertext again at the next login
 * (`offline="1"`): the server cannot re-encrypt, so a device that already advanced its ratchet past it fails to
 * decrypt the copy. A device that cannot decrypt a message sends a retry receipt, then a negative ack: the sender's
 * phone answers with the message again under the same id, in a new Signal session, up to `MAX_RETRIES` times.
 */
type Unsettled = { device: CompanionDevice; stanza: BinaryNode; build: DeferredStanza; retryAsked: boolean; retries: number }

/** Baileys asks at most 5 times (`maxMsgRetryCount`); a phone gives up sooner. */
export const MAX_RETRIES = 3
const unsettled = new WeakMap<LoopbackConnection, Map<string, Unsettled>>()

/** Sends an inbound `<message>` and keeps it (and `build`, which encrypts it anew) until the connection acknowledges it. */
export async function sendTracked(conn: LoopbackConnection, device: CompanionDevice, stanza: BinaryNode, build: DeferredStanza, offline = false) {
  const id = stanza.attrs.id
  if (id) {
    const map = unsettled.get(conn) ?? new Map<string, Unsettled>()
    unsettled.set(conn, map)
    map.set(id, { device, stanza, build, retryAsked: false, retries: map.get(id)?.retries ?? 0 })
  }
  await conn.send(offline ? { ...stanza, attrs: { ...stanza.attrs, offline: '1' } } : stanza)
}

/**
 * A `<receipt>` or `<ack class="message">` from the client settles the message ids it names, except the negative ack
 * that follows a retry receipt: that message is sent again, re-encrypted in a new session.
 */
export async function settleInbound(conn: LoopbackConnection, node: BinaryNode) {
  const map = unsettled.get(conn)
  if (!map) return
  if (node.tag === 'receipt' && node.attrs.type === 'retry') {
    const entry = node.attrs.id ? map.get(node.attrs.id) : undefined
    if (entry) entry.retryAsked = true
    return
  }
  if (node.tag === 'ack' && node.attrs.class !== 'message') return
  const entry = node.tag === 'ack' && node.attrs.error && node.attrs.id ? map.get(node.attrs.id) : undefined
  if (entry?.retryAsked && entry.retries < MAX_RETRIES && conn.isOpen) {
    entry.retries++
    conn.log.info({ id: node.attrs.id, retry: entry.retries }, 'device could not decrypt an inbound message: sending it again')
    await sendTracked(conn, entry.device, await entry.build({ freshSession: true }), entry.build)
    return
  }
  const ids = [node.attrs.id, ...getBinaryNodeChildren(getBinaryNodeChild(node, 'list'), 'item').map(item => item.attrs.id)]
  for (const id of ids) if (id) map.delete(id)
}

/** The connection ended: what it never acknowledged waits for the device's next login, ahead of newer stanzas. */
export function requeueUnsettled(ctx: LoopbackContext, conn: LoopbackConnection) {
  const map = unsettled.get(conn)
  unsettled.delete(conn)
  if (!map?.size) return
  const byDevice = new Map<CompanionDevice, DeferredStanza[]>()
  for (const { device, stanza, build } of map.values()) {
    // The same ciphertext again; a new encryption only for a retry (the sender's phone answering it).
    const again: DeferredStanza = options => (options?.freshSession ? build(options) : Promise.resolve(stanza))
    byDevice.set(device, [...(byDevice.get(device) ?? []), again])
  }
  for (const [device, builds] of byDevice) {
    const newer = ctx.offline.drain(device)
    for (const build of [...builds, ...newer]) ctx.offline.enqueue(device, build)
  }
  conn.log.info({ messages: map.size }, 'connection ended with unacknowledged inbound messages: redelivered at the next login')
}
