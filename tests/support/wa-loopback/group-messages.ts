import { randomBytes } from 'node:crypto'
import { getBinaryNodeChild, getBinaryNodeChildren, type BinaryNode, type proto } from '@whiskeysockets/baileys'
import type { LoopbackConnection } from './connection.js'
import { connectionsOf, unixSeconds, type LoopbackContext } from './context.js'
import type { CompanionDevice } from './directory.js'
import { lidJid, normalizePhone, pnJid } from './directory.js'
import { groupNode, mayWrite, participantNode, type Group, GroupError } from './groups.js'
import { inboundContent, InboundError, sendTracked, type InboundInput } from './inbound.js'
import type { DeferredStanza } from './offline-queue.js'
import { describe, scheduleReceiptStanzas, sendAck } from './outbound.js'
import type { SimulatedContact } from './signal-contacts.js'

/**
 * Group traffic, as WhatsApp's server relays it with Signal sender keys:
 *
 * - a paired device writes to a group: one `<enc type="skmsg">` for everyone, plus a pairwise `pkmsg`/`msg` carrying
 *   the sender's `senderKeyDistributionMessage` to each member device that does not have it yet. Every member other
 *   than the sender decrypts it on its phone (device 0): the pairwise copy first, whose sender key goes into that
 *   phone's store, then the `skmsg` with it. A member that never got the key cannot read it and records nothing.
 * - a simulated member writes to a group: its own sender key encrypts the message once; each paired member device
 *   gets the `skmsg`, preceded the first time by the distribution message in a pairwise Signal message.
 */

/** What WhatsApp's server answers a message to a group the sender may not write in (not a member, announce-only). */
export const NOT_AUTHORIZED = '403'

export async function acceptGroupMessage(ctx: LoopbackContext, conn: LoopbackConnection, stanza: BinaryNode) {
  const sender = conn.device!
  const id = stanza.attrs.id!
  const group = ctx.groups.get(stanza.attrs.to!)
  if (!group) {
    conn.log.warn({ to: stanza.attrs.to }, 'message to an unknown group, refused')
    return sendAck(ctx, conn, stanza, '404')
  }
  if (!mayWrite(group, sender.phone)) {
    conn.log.info({ group: group.jid, id }, 'sender may not write in this group, refused')
    return sendAck(ctx, conn, stanza, NOT_AUTHORIZED)
  }
  await sendAck(ctx, conn, stanza)

  const skmsg = getBinaryNodeChildren(stanza, 'enc').find(enc => enc.attrs.type === 'skmsg')
  if (!(skmsg?.content instanceof Uint8Array)) {
    conn.log.warn({ id }, 'group message without an skmsg')
    return
  }
  for (const phone of group.participants.keys()) {
    if (phone === sender.phone) continue
    const contact = ctx.contacts.get(phone)
    let message: proto.Message
    try {
      const pairwise = pairwiseEncFor(stanza, contact)
      if (pairwise) {
        const carrier = await contact.decryptFrom(sender, pairwise.attrs.type ?? '', pairwise.content as Uint8Array)
        const distribution = carrier.senderKeyDistributionMessage?.axolotlSenderKeyDistributionMessage
        if (distribution) await contact.acceptSenderKey(group.jid, sender, distribution)
      }
      message = await contact.decryptGroupFrom(group.jid, sender, skmsg.content)
    } catch (err) {
      conn.log.error({ err, id, group: group.jid, participant: phone }, 'participant could not decrypt the group message')
      continue
    }
    ctx.messages.push(await describe(ctx, conn, { id, from: sender.phone, to: phone, group: group.jid }, message))
    const participant = { from: group.jid, participant: pnJid(phone) }
    scheduleReceiptStanzas(ctx, sender, id, participant, { ...participant, participant: contact.lidJid })
  }
}

/** The pairwise `<enc>` for the member's phone (device 0, by phone number or LID), if the sender included one. */
function pairwiseEncFor(stanza: BinaryNode, contact: SimulatedContact): BinaryNode | undefined {
  const wanted = new Set([pnJid(contact.phone), lidJid(contact.lid), `${contact.phone}:0@s.whatsapp.net`, `${contact.lid}:0@lid`])
  const to = getBinaryNodeChildren(getBinaryNodeChild(stanza, 'participants'), 'to').find(node => wanted.has(node.attrs.jid ?? ''))
  return getBinaryNodeChild(to, 'enc')
}

/** Which paired devices hold a contact's current sender key for a group: `<group> <contact> <phone>:<device>`. */
const distributed = new WeakMap<LoopbackContext, Set<string>>()
const distributionKey = (group: Group, contact: SimulatedContact, device: CompanionDevice) =>
  `${group.jid} ${contact.phone} ${device.phone}:${device.deviceId}`

/**
 * A simulated member writes in a group: every device of the paired members (all but the author, or only `to`'s)
 * gets it, from the group with `participant` = the author's LID and `participant_pn` its phone number.
 */
export async function sendGroupInbound(ctx: LoopbackContext, input: InboundInput & { group: string }): Promise<string> {
  const group = ctx.groups.get(input.group)
  if (!group) throw new InboundError(404, `no group ${input.group}`)
  const fromPhone = normalizePhone(input.from)
  if (!group.participants.has(fromPhone)) throw new InboundError(400, `${fromPhone} is not a participant of ${group.jid}`)
  if (!mayWrite(group, fromPhone)) throw new InboundError(403, `${fromPhone} is not an admin of the announce-only ${group.jid}`)
  const toPhone = input.to ? normalizePhone(input.to) : undefined
  if (toPhone && !group.participants.has(toPhone)) throw new InboundError(400, `${toPhone} is not a participant of ${group.jid}`)
  const readers = [...group.participants.keys()].filter(phone => phone !== fromPhone && (!toPhone || phone === toPhone))
  const devices = readers.flatMap(phone => ctx.directory.devicesOf(phone))
  if (!devices.length) throw new InboundError(404, `no paired device is a member of ${group.jid} besides ${fromPhone}`)

  const contact = ctx.contacts.get(fromPhone)
  const upload = input.file ? await ctx.media.uploadFromContact(input.file.bytes, input.file.type, input.file.corrupt) : undefined
  const { ciphertext, distribution } = await contact.encryptForGroup(group.jid, inboundContent(input, upload))
  const holders = distributed.get(ctx) ?? new Set<string>()
  distributed.set(ctx, holders)
  const id = `AC${randomBytes(15).toString('hex').toUpperCase()}`
  const t = unixSeconds()

  const stanzaFor = (device: CompanionDevice): DeferredStanza => async options => {
    const key = distributionKey(group, contact, device)
    const content: BinaryNode[] = []
    if (options?.freshSession) contact.forgetSession(device)
    if (options?.freshSession || !holders.has(key)) {
      const carrier = { senderKeyDistributionMessage: { groupId: group.jid, axolotlSenderKeyDistributionMessage: distribution } }
      const { type, ciphertext: pairwise } = await contact.encryptFor(device, carrier)
      content.push({ tag: 'enc', attrs: { v: '2', type }, content: pairwise })
      holders.add(key)
    }
    content.push({ tag: 'enc', attrs: { v: '2', type: 'skmsg' }, content: ciphertext })
    return {
      tag: 'message',
      attrs: {
        id,
        from: group.jid,
        participant: contact.lidJid,
        participant_pn: pnJid(fromPhone),
        addressing_mode: 'lid',
        t,
        type: 'text',
        notify: `Contact ${fromPhone}`
      },
      content
    }
  }
  for (const device of devices) {
    const build = stanzaFor(device)
    const [conn] = connectionsOf(ctx, device)
    if (conn) await sendTracked(conn, device, await build(), build)
    else ctx.offline.enqueue(device, build)
  }
  return id
}

/**
 * Membership changes through the control API: the group's creator adds or removes members, and every paired
 * device of a member (the removed ones included, as they learn they were removed) gets the `w:gp2` notification.
 * A simulated member starts a new sender key when someone is removed, so a removed paired device cannot read what
 * it writes next; Baileys, as sender, re-distributes its key to a device that joins (its `sender-key-memory`).
 */
export async function updateGroupParticipants(
  ctx: LoopbackContext,
  jid: string,
  change: { add?: string[]; remove?: string[] }
): Promise<{ id: string; participants: string[] }> {
  const group = ctx.groups.get(jid)
  if (!group) throw new GroupError(404, `no group ${jid}`)
  const before = [...group.participants.keys()]
  const { added, removed } = ctx.groups.update(group, change)
  if (removed.length) {
    for (const phone of group.participants.keys()) ctx.contacts.get(phone).forgetOwnSenderKey(group.jid)
    const holders = distributed.get(ctx)
    if (holders) for (const key of holders) if (key.startsWith(`${group.jid} `)) holders.delete(key)
  }
  const notices: BinaryNode[] = []
  if (added.length) notices.push({ tag: 'add', attrs: {}, content: added.map(phone => participantNode(ctx.directory, phone)) })
  if (removed.length) notices.push({ tag: 'remove', attrs: {}, content: removed.map(phone => participantNode(ctx.directory, phone)) })
  const audience = new Set([...before, ...added])
  for (const notice of notices) await notifyMembers(ctx, group, [...audience], notice)
  return { id: group.jid, participants: [...group.participants.keys()] }
}

/** The `w:gp2` `<create>` notification to the paired members of a new group (Baileys emits `groups.upsert`). */
export async function announceGroup(ctx: LoopbackContext, group: Group): Promise<void> {
  await notifyMembers(ctx, group, [...group.participants.keys()], { tag: 'create', attrs: {}, content: [groupNode(ctx.directory, group)] })
}

async function notifyMembers(ctx: LoopbackContext, group: Group, phones: string[], child: BinaryNode): Promise<void> {
  const notification: BinaryNode = {
    tag: 'notification',
    attrs: {
      from: group.jid,
      type: 'w:gp2',
      id: String(randomBytes(8).readBigUInt64BE()),
      t: unixSeconds(),
      participant: lidJid(ctx.directory.lidFor(group.creator)),
      participant_pn: pnJid(group.creator),
      addressing_mode: 'lid'
    },
    content: [child]
  }
  for (const device of phones.flatMap(phone => ctx.directory.devicesOf(phone))) {
    const live = connectionsOf(ctx, device)
    if (live.length) for (const conn of live) await conn.send(notification)
    else ctx.offline.enqueue(device, async () => notification)
  }
}

/** `w:g2` IQs: `participating` (Baileys' `groupFetchAllParticipating`) and `query` (`groupMetadata`). */
export function answerGroupIq(ctx: LoopbackContext, device: CompanionDevice, iq: BinaryNode): BinaryNode {
  const first = Array.isArray(iq.content) ? iq.content[0] : undefined
  const reply = (content: BinaryNode[], type = 'result'): BinaryNode => ({
    tag: 'iq',
    attrs: { from: iq.attrs.to ?? 'g.us', type, id: iq.attrs.id! },
    content
  })
  if (first?.tag === 'participating') {
    const groups = ctx.groups.of(device.phone).map(group => groupNode(ctx.directory, group))
    return reply([{ tag: 'groups', attrs: {}, content: groups }])
  }
  const group = iq.attrs.to ? ctx.groups.get(iq.attrs.to) : undefined
  if (first?.tag === 'query' && group) {
    // WhatsApp answers a group's metadata to its members only
    if (!group.participants.has(device.phone)) return reply([{ tag: 'error', attrs: { code: '403', text: 'forbidden' } }], 'error')
    return reply([groupNode(ctx.directory, group)])
  }
  if (first?.tag === 'query') return reply([{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }], 'error')
  // group changes by clients (create, subject, participants…) are not simulated; the control API makes them
  return reply([{ tag: 'error', attrs: { code: '501', text: 'feature-not-implemented' } }], 'error')
}
