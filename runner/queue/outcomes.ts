import { MediaGoneError } from '../../db/queries/media.js'
import { FfmpegMissingError, MediaConversionError } from '../media/ffmpeg.js'
import { ImageDecodeError } from '../media/image.js'
import { MediaRefusedError, NotConnectedError } from '../whatsapp/client.js'

/**
 * Typed send outcomes: a send ends `sent`, `retry` (back to `pending` with backoff, same WhatsApp
 * id) or `fail` (permanent); db/README.md, Claim and throttle, says which.
 */

/** A send that can never succeed (invalid number, missing or undecodable media, a revoke too late). */
export class PermanentSendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PermanentSendError'
  }
}

export type SendOutcome =
  | { kind: 'sent' }
  /** `offline`: the socket was not open; the message waits for the session and is never failed for it. */
  | { kind: 'retry'; error: string; offline: boolean }
  | { kind: 'fail'; error: string }

/** Maps what a send threw to the outcome, given the attempts made so far (the claim counted this one). */
export function outcomeOf(err: unknown, attempts: number, maxAttempts: number): SendOutcome {
  if (err instanceof PermanentSendError) return { kind: 'fail', error: err.message }
  // The media itself is the problem: refused by WhatsApp, undecodable, or pruned since the claim. A retry cannot help.
  if (err instanceof ImageDecodeError || err instanceof MediaRefusedError || err instanceof MediaConversionError) {
    return { kind: 'fail', error: err.message }
  }
  if (err instanceof MediaGoneError) return { kind: 'fail', error: `${err.message}: nothing left to send` }
  if (err instanceof FfmpegMissingError) {
    // Only a voice note that needs converting gets here (videos and audio go without ffmpeg's extras).
    return { kind: 'fail', error: `${err.message}: install ffmpeg on the runner, or send voice notes as OGG/Opus` }
  }
  const message = describe(err)
  if (err instanceof NotConnectedError) return { kind: 'retry', error: message, offline: true }
  if (attempts >= maxAttempts) return { kind: 'fail', error: `${message} (gave up after ${attempts} attempts)` }
  return { kind: 'retry', error: message, offline: false }
}

export function describe(err: unknown): string {
  const e = err as { message?: string; output?: { statusCode?: number } }
  const code = e?.output?.statusCode
  const text = (e?.message ?? String(err)).slice(0, 900)
  return code ? `${text} (${code})` : text
}

/** Short wait before a message interrupted by a lost connection is tried again (the session must reconnect first). */
export const OFFLINE_RETRY_MS = 2_000
