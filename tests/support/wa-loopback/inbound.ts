import { randomBytes } from 'node:crypto'
import type { BinaryNode } from '@whiskeysockets/baileys'
import { connectionsOf, unixSeconds, type LoopbackContext } from './context.js'
import type { CompanionDevice } from './directory.js'
import { normalizePhone, pnJid } from './directory.js'

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

export async function sendInbound(ctx: LoopbackContext, input: { from: string; to: string; text: string }): Promise<string> {
  const fromPhone = normalizePhone(input.from)
  const toPhone = normalizePhone(input.to)
  const devices = ctx.directory.devicesOf(toPhone)
  if (!devices.length) throw new InboundError(404, `no paired device has the number ${toPhone}`)
  const contact = ctx.contacts.get(fromPhone)
  const id = `AC${randomBytes(15).toString('hex').toUpperCase()}`
  const t = unixSeconds()

  const stanzaFor = (device: CompanionDevice) => async (): Promise<BinaryNode> => {
    const { type, ciphertext } = await contact.encryptFor(device, { conversation: input.text })
    return {
      tag: 'message',
      attrs: { id, from: contact.lidJid, sender_pn: pnJid(fromPhone), t, type: 'text', notify: `Contact ${fromPhone}` },
      content: [{ tag: 'enc', attrs: { v: '2', type }, content: ciphertext }]
    }
  }
  for (const device of devices) {
    const build = stanzaFor(device)
    const [conn] = connectionsOf(ctx, device)
    if (conn) await conn.send(await build())
    else ctx.offline.enqueue(device, build)
  }
  return id
}
