import { getBinaryNodeChild, getBinaryNodeChildren, normalizeMessageContent, type BinaryNode, type proto } from '@whiskeysockets/baileys'
import type { LoopbackConnection } from './connection.js'
import { connectionsOf, unixSeconds, type LoopbackContext, type RecordedMessage } from './context.js'
import type { CompanionDevice } from './directory.js'
import { lidJid, pnJid } from './directory.js'
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
  ctx.messages.push(await describe(ctx, conn, { id, from: sender.phone, to: phone }, message))
  scheduleReceipts(ctx, sender, contact, id)
}

async function sendAck(ctx: LoopbackContext, conn: LoopbackConnection, stanza: BinaryNode, error?: string) {
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

async function describe(
  ctx: LoopbackContext,
  conn: LoopbackConnection,
  route: Pick<RecordedMessage, 'id' | 'from' | 'to'>,
  raw: proto.Message
): Promise<RecordedMessage> {
  const message = normalizeMessageContent(raw) ?? raw
  const base: RecordedMessage = {
    ...route,
    type: 'unknown',
    text: null,
    caption: null,
    mimetype: null,
    width: null,
    height: null,
    size: null,
    at: new Date().toISOString()
  }
  if (message.conversation != null || message.extendedTextMessage) {
    return { ...base, type: 'text', text: message.conversation ?? message.extendedTextMessage?.text ?? '' }
  }
  if (message.imageMessage) {
    const image = message.imageMessage
    const recorded = { ...base, type: 'image', caption: image.caption ?? null, mimetype: image.mimetype ?? null }
    try {
      const media = await ctx.media.decryptImage(image)
      return { ...recorded, width: media.width, height: media.height, size: media.bytes.length }
    } catch (err) {
      conn.log.error({ err, id: route.id }, 'could not download and decrypt the image')
      return recorded
    }
  }
  const field = Object.keys(message).find(key => (message as Record<string, unknown>)[key] != null)
  return { ...base, type: field ?? 'unknown' }
}

/**
 * Delivery comes from the contact's phone number, read from its LID, as WhatsApp mixes both addressings; clients
 * must correlate on the message id. A sender that went offline meanwhile gets them on its next login.
 */
function scheduleReceipts(ctx: LoopbackContext, sender: CompanionDevice, contact: SimulatedContact, id: string) {
  const { deliveredMs, readMs } = ctx.receipts
  const emit = (attrs: Record<string, string>) => {
    const receipt: BinaryNode = { tag: 'receipt', attrs: { id, t: unixSeconds(), ...attrs } }
    const live = connectionsOf(ctx, sender)
    if (live.length) for (const conn of live) void conn.send(receipt)
    else ctx.offline.enqueue(sender, async () => receipt)
  }
  if (deliveredMs !== null) setTimeout(() => emit({ from: pnJid(contact.phone) }), deliveredMs).unref()
  if (readMs !== null) {
    const at = Math.max(readMs, deliveredMs ?? 0)
    setTimeout(() => emit({ from: contact.lidJid, type: 'read' }), at).unref()
  }
}
