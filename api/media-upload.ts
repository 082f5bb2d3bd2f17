/**
 * Queues a message whose bytes are a file (image, document, video, audio): the file is stored once (or an identical
 * recent one reused) and the message row written in the same transaction, so a message never points at half a
 * file and an idempotent repeat stores nothing.
 */
import type { Db } from '../db/driver.js'
import { enqueueMessage, type EnqueueResult } from '../db/lifecycle/enqueue.js'
import { findReusableMedia, insertMedia } from '../db/queries/media.js'
import type { MediaType, MessageDetails } from '../db/types.js'
import { sha256Hex } from './idempotency.js'

export interface MediaMessage {
  session: string
  phone: string
  type: MediaType
  /** Caption (images, documents, video); null for none. */
  caption: string | null
  media: { bytes: Uint8Array; mime: string; width?: number | null; height?: number | null }
  details: MessageDetails | null
  /** Hex SHA-256 of the bytes (computed here when absent). */
  sha256?: string
  idempotencyKey?: string | null
  requestHash?: string | null
  /** An identical file younger than this is reused instead of stored again (half the media retention). */
  mediaReuseSeconds: number
  sendAt?: Date | null
  replyTo?: number | null
}

/** Carries an idempotent repeat out of the transaction so the media rows roll back with it. */
class Repeat extends Error {
  constructor(readonly result: EnqueueResult) {
    super('idempotent repeat')
  }
}

export async function enqueueMediaMessage(db: Db, m: MediaMessage): Promise<EnqueueResult> {
  const sha256 = m.sha256 ?? (await sha256Hex(m.media.bytes))
  const { bytes, mime, width, height } = m.media
  try {
    return await db.transaction(async (tx) => {
      const mediaId = (await findReusableMedia(tx, sha256, mime, m.mediaReuseSeconds))
        ?? (await insertMedia(tx, { bytes, mime, width: width ?? null, height: height ?? null, sha256 }))
      const result = await enqueueMessage(tx, {
        session: m.session, phone: m.phone, type: m.type, body: m.caption, mediaId, details: m.details,
        replyTo: m.replyTo ?? null, idempotencyKey: m.idempotencyKey ?? null, requestHash: m.requestHash ?? null,
        sendAt: m.sendAt ?? null,
      })
      if (result.kind !== 'created') throw new Repeat(result)
      return result
    })
  } catch (err) {
    if (err instanceof Repeat) return err.result
    throw err
  }
}
