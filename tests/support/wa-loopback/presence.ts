import type { BinaryNode } from '@whiskeysockets/baileys'
import type { LoopbackConnection } from './connection.js'
import type { LoopbackContext } from './context.js'

/** What a paired device showed: "typing…", "recording…" (a voice note), neither, or its own online state. */
export type PresenceState = 'composing' | 'recording' | 'paused' | 'available' | 'unavailable'

/** One presence stanza a paired device sent, as `GET /control/presence` returns it. */
export type RecordedPresence = {
  /** The sending paired phone. */
  from: string
  /** The contact's phone for a chat state; null for `available` / `unavailable` (they go to nobody in particular). */
  to: string | null
  state: PresenceState
  /** ISO time the server received it. */
  at: string
}

/**
 * Records `<chatstate to=…><composing/></chatstate>` (Baileys' `sendPresenceUpdate('composing' | 'paused', jid)`;
 * `'recording'` is `<composing media="audio"/>`) and `<presence type="available|unavailable"/>`. Nothing is
 * forwarded to the contact: the loopback's contacts have no screen.
 */
export function recordPresence(ctx: LoopbackContext, conn: LoopbackConnection, node: BinaryNode): void {
  const from = conn.device?.phone
  if (!from) return
  const at = new Date().toISOString()
  if (node.tag === 'presence') {
    const type = node.attrs.type
    if (type === 'available' || type === 'unavailable') ctx.presence.push({ from, to: null, state: type, at })
    return
  }
  const child = Array.isArray(node.content) ? node.content[0] : undefined
  const to = node.attrs.to ? ctx.directory.phoneOfJid(node.attrs.to) : null
  if (!child || !to) {
    conn.log.debug({ to: node.attrs.to, state: child?.tag }, 'chat state to a JID the loopback does not serve, dropped')
    return
  }
  if (child.tag === 'composing') ctx.presence.push({ from, to, state: child.attrs.media === 'audio' ? 'recording' : 'composing', at })
  else if (child.tag === 'paused') ctx.presence.push({ from, to, state: 'paused', at })
  else conn.log.debug({ state: child.tag }, 'unknown chat state, dropped')
}
