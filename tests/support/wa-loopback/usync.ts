import { getBinaryNodeChild, getBinaryNodeChildren, type BinaryNode } from '@whiskeysockets/baileys'
import type { LoopbackContext } from './context.js'
import type { CompanionDevice } from './directory.js'
import { lidJid, pnJid } from './directory.js'

/**
 * Answers `usync` IQs for the protocols Baileys sends: `devices` (device list per user), `lid` (PN → LID), and
 * `contact` (used by `onWhatsApp`). Every number is on the loopback WhatsApp (unknown numbers become simulated
 * contacts with a primary phone, device 0) except those declared unregistered (`Directory.unregister`): for them
 * the contact protocol answers `out` (Baileys' `onWhatsApp` then leaves them out of its answer) and nothing else is
 * listed.
 *
 * For the asking device's own account, the primary phone (device 0, a simulated contact like any other) and every
 * linked companion are listed, as WhatsApp does: Baileys then caches the device list (5 min) instead of asking again
 * at every send, and encrypts its "sent from another device" copies to them, which the loopback accepts but ignores.
 * Other numbers list only their phone (device 0), even when they are paired accounts.
 */
export function answerUsync(ctx: LoopbackContext, asker: CompanionDevice, iq: BinaryNode): BinaryNode {
  const usync = getBinaryNodeChild(iq, 'usync')
  const queryNode = getBinaryNodeChild(usync, 'query')
  const protocols = new Set(Array.isArray(queryNode?.content) ? queryNode.content.map(node => node.tag) : [])
  const users = getBinaryNodeChildren(getBinaryNodeChild(usync, 'list'), 'user')

  const answers = users.map(user => {
    const phone = phoneOfUser(ctx, user)
    const jid = user.attrs.jid ?? (phone ? pnJid(phone) : '')
    if (!phone) return { tag: 'user', attrs: { jid }, content: [] } satisfies BinaryNode
    if (!ctx.directory.isRegistered(phone)) {
      const out: BinaryNode[] = protocols.has('contact') ? [{ tag: 'contact', attrs: { type: 'out' } }] : []
      return { tag: 'user', attrs: { jid }, content: out } satisfies BinaryNode
    }
    const content: BinaryNode[] = []
    if (protocols.has('devices')) content.push(devicesNode(phone === asker.phone ? ctx.directory.devicesOf(phone) : []))
    if (protocols.has('lid')) content.push({ tag: 'lid', attrs: { val: lidJid(ctx.directory.lidFor(phone)) } })
    if (protocols.has('contact')) content.push({ tag: 'contact', attrs: { type: 'in' } })
    return { tag: 'user', attrs: { jid }, content } satisfies BinaryNode
  })

  return {
    tag: 'iq',
    attrs: { from: 's.whatsapp.net', type: 'result', id: iq.attrs.id! },
    content: [
      {
        tag: 'usync',
        attrs: { ...(usync?.attrs ?? {}) },
        content: [
          { tag: 'result', attrs: {} },
          { tag: 'list', attrs: {}, content: answers }
        ]
      }
    ]
  }
}

/** A user is named by `jid` (PN or LID) or, for the contact protocol, by a `+phone` inside `<contact>`. */
function phoneOfUser(ctx: LoopbackContext, user: BinaryNode): string | undefined {
  if (user.attrs.jid) return ctx.directory.phoneOfJid(user.attrs.jid)
  const contact = getBinaryNodeChild(user, 'contact')
  const raw = contact?.content ? Buffer.from(contact.content as Uint8Array).toString() : ''
  const digits = raw.replace(/\D/g, '')
  return digits || undefined
}

/** Device 0, then the linked companions with the key index Baileys requires for non-zero devices. */
function devicesNode(companions: CompanionDevice[]): BinaryNode {
  const list: BinaryNode[] = [
    { tag: 'device', attrs: { id: '0' } },
    ...companions.map(device => ({ tag: 'device', attrs: { id: String(device.deviceId), 'key-index': String(device.keyIndex) } }))
  ]
  return { tag: 'devices', attrs: {}, content: [{ tag: 'device-list', attrs: {}, content: list }] }
}
