/**
 * How a send is assembled, once, for both doors into the queue: the API (`POST /api/send`, `/api/send-image`,
 * `/api/send-batch`) and the dashboard's Send form. Caption trimming, how long an identical upload is reused, and
 * the idempotency hash live here, so the two cannot drift apart.
 */
import type { EnqueueInput } from '../db/lifecycle/enqueue.js'
import type { ContactCard, Location, MessageDetails } from '../db/types.js'
import type { ApiConfig } from './config.js'
import { requestHash } from './idempotency.js'

/** An identical upload younger than half the media retention is reused instead of stored again. */
export function mediaReuseSeconds(config: Pick<ApiConfig, 'mediaRetentionDays'>): number {
  return Math.floor((config.mediaRetentionDays * 86_400) / 2)
}

/** A caption that is absent, empty or only whitespace is no caption: the image goes out bare. */
export function captionOrNull(caption: string | null | undefined): string | null {
  return caption !== undefined && caption !== null && caption.trim() !== '' ? caption : null
}

/** The part a scheduled send adds to an idempotency hash (nothing for an immediate one). */
export function scheduledFor(sendAt: Date | null | undefined): string[] {
  // send_at joins the hash only when given, so keys stored before it existed still match their repeats.
  return sendAt ? [`send_at=${sendAt.toISOString()}`] : []
}

export interface TextSend {
  session: string
  phone: string
  message: string
  sendAt?: Date | null
  /** The received message this one quotes. */
  replyTo?: number | null
}

/** The part a reply adds to an idempotency hash (nothing when it quotes nothing, so older keys still match). */
export function replyPart(replyTo: number | null | undefined): string[] {
  return replyTo ? [`reply_to=${replyTo}`] : []
}

/** The row of a text send; with an Idempotency-Key it carries the key and the request's hash. */
export async function textSend(send: TextSend, key: string | null = null): Promise<EnqueueInput> {
  const input: EnqueueInput = { session: send.session, phone: send.phone, type: 'text', body: send.message, sendAt: send.sendAt ?? null, replyTo: send.replyTo ?? null }
  if (!key) return input
  const hash = await requestHash(['text', send.session, send.phone, send.message, ...scheduledFor(send.sendAt), ...replyPart(send.replyTo)])
  return { ...input, idempotencyKey: key, requestHash: hash }
}

/**
 * The hash of a batch: every item's text and time, so a repeat must match item by item. Kinds beyond text add their
 * kind, details, file hash and reply, so a text-only batch hashes as it always did.
 */
export function batchHash(items: readonly EnqueueInput[], fileHashes: readonly (string | null)[] = []): Promise<string> {
  return requestHash(['batch', items.map((m, i) => [
    m.session, m.phone, m.body, ...scheduledFor(m.sendAt), ...replyPart(m.replyTo),
    ...(m.type === 'text' ? [] : [m.type, JSON.stringify(m.details ?? null), fileHashes[i] ?? null]),
  ])])
}

/** A send whose content is its details alone (a location, a contact card). */
export interface DetailsSend {
  session: string
  phone: string
  details: MessageDetails
  sendAt?: Date | null
  replyTo?: number | null
}

/** A location's details as stored: the optional name and address only when given. */
export function locationDetails(p: { latitude: number; longitude: number; name?: string; address?: string }): { location: Location } {
  const { latitude, longitude, name, address } = p
  return { location: { latitude, longitude, ...(name === undefined ? {} : { name }), ...(address === undefined ? {} : { address }) } }
}

/** A contact card's details as stored: the optional e-mail and company only when given. */
export function contactDetails(card: ContactCard): { contact: ContactCard } {
  const { name, phones, email, organization } = card
  return { contact: { name, phones, ...(email === undefined ? {} : { email }), ...(organization === undefined ? {} : { organization }) } }
}

/** The row of a location or contact send; with an Idempotency-Key it carries the key and the request's hash. */
export async function detailsSend(type: 'location' | 'contact', send: DetailsSend, key: string | null = null): Promise<EnqueueInput> {
  const input: EnqueueInput = {
    session: send.session, phone: send.phone, type, body: null, details: send.details, sendAt: send.sendAt ?? null, replyTo: send.replyTo ?? null,
  }
  if (!key) return input
  const hash = await requestHash([type, send.session, send.phone, JSON.stringify(send.details), ...scheduledFor(send.sendAt), ...replyPart(send.replyTo)])
  return { ...input, idempotencyKey: key, requestHash: hash }
}
