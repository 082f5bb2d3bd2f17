import { normalizeMessageContent, proto } from '@whiskeysockets/baileys'
import type { WAMessage } from '@whiskeysockets/baileys'

/**
 * What the runner reads out of an inbound WhatsApp message (runner/README.md, STOP and YES): its text, after unwrapping
 * ephemeral, view-once and edited envelopes. Protocol messages and reactions carry no text.
 */
export function inboundText(m: WAMessage): string | null {
  const c = normalizeMessageContent(m.message)
  if (!c || c.protocolMessage || c.reactionMessage) return null
  return c.conversation ?? c.extendedTextMessage?.text ?? c.imageMessage?.caption ?? c.videoMessage?.caption ?? null
}

/**
 * Whether an upsert is an inbound message the runner should consider at all. Stubs (a failed decrypt
 * is a CIPHERTEXT stub whose real message follows with the same id) must not take the dedupe slot.
 */
export function isConsiderable(m: WAMessage): boolean {
  if (m.key.fromMe) return false
  if (m.messageStubType) return false // any stub type but UNKNOWN (0)
  if (!m.message) return false
  return true
}

export const WA_STATUS = proto.WebMessageInfo.Status
