import { getBinaryNodeChild, getBinaryNodeChildren, type BinaryNode, type proto } from '@whiskeysockets/baileys'
import type { LoopbackConnection } from './connection.js'
import { connectionsOf, mediaKey, unixSeconds, type LoopbackContext, type RecordedMessage } from './context.js'
import { acceptGroupMessage } from './group-messages.js'
import type { CompanionDevice } from './directory.js'
import { lidJid, pnJid } from './directory.js'
import { describeMessage, withMedia } from './message-kinds.js'
import type { SimulatedContact } from './signal-contacts.js'

/**
 * A paired device sent `<message to=contact>`: ack it as the server, decrypt the copy addressed to the contact's
 * phone (device 0) with libsignal as that phone would, record the plaintext, then send the contact's delivery and
 * read receipts after the configured delays.
 */
export async function acceptOutboundMessage(ctx: LoopbackContext, conn: LoopbackConnection, stanza: BinaryNode) {
  const sender = conn.device
  const id = stanza.attrs.id
  const to = stanza.attrs.to
  if (!sender || !id || !to) return
  if (to.endsWith('@g.us')) return acceptGroupMessage(ctx, conn, stanza)
  const phone = ctx.directory.phoneOfJid(to)
  if (!phone) {
    conn.log.warn({ to }, 'message to a JID the loopback does not serve (groups, newsletters…), acked and dropped')
    await sendAck(ctx, conn, stanza)
    return
  }
  if (ctx.faults.restrictedRecipients.has(phone)) {
    // what WhatsApp answers when the account may not start this chat (missing tctoken / restricted)
    await sendAck(ctx, conn, stanza, '463')
    return
  }
  await sendAck(ctx, conn, stanza)

  const contact = ctx.contacts.get(phone)
  const enc = encFor(stanza, contact)
  if (!enc) {
    conn.log.warn({ id, to }, 'message without a copy for the contact phone (device 0)')
    return
  }
  let message: proto.Message
  try {
    message = await contact.decryptFrom(sender, enc.attrs.type ?? '', enc.content as Uint8Array)
  } catch (err) {
    conn.log.error({ err, id, to }, 'contact could not decrypt the message')
    return
  }
  ctx.messages.push(await describe(ctx, conn, { id, from: sender.phone, to: phone, group: null }, message))
  scheduleReceipts(ctx, sender, contact, id)
}

export async function sendAck(ctx: LoopbackContext, conn: LoopbackConnection, stanza: BinaryNode, error?: string) {
  if (conn.device && ctx.faults.droppedAcks.has(conn.device.phone)) return
  await conn.send({
    tag: 'ack',
    attrs: {
      class: 'message',
      id: stanza.attrs.id!,
      from: stanza.attrs.to!,
      t: unixSeconds(),
      ...(error && { error })
    }
  })
}

/** The `<enc>` inside `<participants><to jid>` whose JID is the contact's phone or LID, device 0. */
function encFor(stanza: BinaryNode, contact: SimulatedContact): BinaryNode | undefined {
  const wanted = new Set([pnJid(contact.phone), lidJid(contact.lid), `${contact.phone}:0@s.whatsapp.net`, `${contact.lid}:0@lid`])
  for (const to of getBinaryNodeChildren(getBinaryNodeChild(stanza, 'participants'), 'to')) {
    if (wanted.has(to.attrs.jid ?? '')) return getBinaryNodeChild(to, 'enc')
  }
  // a stanza addressed to a single device carries its <enc> directly
  return getBinaryNodeChild(stanza, 'enc')
}

/**
 * Records the message as the contact's phone sees it. Media is downloaded and decrypted (MAC and hashes checked); its
 * bytes are kept for `GET /control/messages/:id/media`. Media that cannot be opened is logged and recorded without
 * size or hash, as a phone would show a download that failed.
 */
export async function describe(
  ctx: LoopbackContext,
  conn: LoopbackConnection,
  route: Pick<RecordedMessage, 'id' | 'from' | 'to' | 'group'>,
  raw: proto.Message
): Promise<RecordedMessage> {
  const { fields, media } = describeMessage(raw)
  const recorded = { ...route, ...fields, at: new Date().toISOString() }
  if (!media) return recorded
  try {
    const decrypted = await ctx.media.decryptMedia(media.ref, media.kind)
    ctx.receivedMedia.set(mediaKey(route.id, route.group, route.to), { bytes: decrypted.bytes, mimetype: fields.mimetype })
    return { ...route, ...withMedia(fields, decrypted), at: recorded.at }
  } catch (err) {
    conn.log.error({ err, id: route.id }, `could not download and decrypt the ${media.kind}`)
    return recorded
  }
}

/**
 * Delivery comes from the contact's phone number, read from its LID, as WhatsApp mixes both addressings; clients
 * must correlate on the message id. A sender that went offline meanwhile gets them on its next login.
 */
function scheduleReceipts(ctx: LoopbackContext, sender: CompanionDevice, contact: SimulatedContact, id: string) {
  scheduleReceiptStanzas(ctx, sender, id, { from: pnJid(contact.phone) }, { from: contact.lidJid })
}

/** Sends the delivery receipt (`delivered`) and then the read receipt (`read` plus `type="read"`) after the delays. */
export function scheduleReceiptStanzas(
  ctx: LoopbackContext,
  sender: CompanionDevice,
  id: string,
  delivered: Record<string, string>,
  read: Record<string, string>
) {
  const { deliveredMs, readMs } = ctx.receipts
  const emit = (attrs: Record<string, string>) => {
    const receipt: BinaryNode = { tag: 'receipt', attrs: { id, t: unixSeconds(), ...attrs } }
    const live = connectionsOf(ctx, sender)
    if (live.length) for (const conn of live) void conn.send(receipt)
    else ctx.offline.enqueue(sender, async () => receipt)
  }
  if (deliveredMs !== null) setTimeout(() => emit(delivered), deliveredMs).unref()
  if (readMs !== null) {
    const at = Math.max(readMs, deliveredMs ?? 0)
    setTimeout(() => emit({ ...read, type: 'read' }), at).unref()
  }
}
