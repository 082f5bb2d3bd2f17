import { isJidBroadcast, isJidGroup, isJidNewsletter, isLidUser, isPnUser, jidDecode, jidEncode, jidNormalizedUser } from '@whiskeysockets/baileys'

import { isGroupAddress } from '../../db/types.js'

/** WhatsApp addresses (JIDs) ↔ the gateway's phone numbers (E.164 digits without `+`). */

/** `9611234567` → `9611234567@s.whatsapp.net`. */
export function phoneToJid(phone: string): string {
  if (!/^\d{6,15}$/.test(phone)) throw new Error(`not a phone number: ${phone}`)
  return jidEncode(phone, 's.whatsapp.net')
}

/** Where a queued message goes: a group send's `phone` is already the group JID (db/README.md, Groups). */
export function recipientJid(to: string): string {
  if (isGroupAddress(to) && isJidGroup(to)) return to
  return phoneToJid(to)
}

/** The phone digits of a phone-number JID (device suffix dropped), or null for any other kind of address. */
export function jidToPhone(jid: string | null | undefined): string | null {
  if (!jid || !isPnUser(jid)) return null
  const user = jidDecode(jidNormalizedUser(jid))?.user
  return user && /^\d{6,15}$/.test(user) ? user : null
}

/** The user part of an `@lid` address (device dropped), or null. */
export function lidUser(jid: string | null | undefined): string | null {
  if (!jid || !isLidUser(jid)) return null
  return jidDecode(jid)?.user ?? null
}

export const isLid = (jid: string | null | undefined): boolean => Boolean(jid && isLidUser(jid))

/** Groups, broadcasts and newsletters: the runner neither sends to nor reads them. */
export function isIgnoredJid(jid: string | null | undefined): boolean {
  return !jid || Boolean(isJidGroup(jid) || isJidBroadcast(jid) || isJidNewsletter(jid))
}
