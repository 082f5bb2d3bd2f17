import type { Db } from '../db/driver.js'
import type { EnqueueResult } from '../db/lifecycle/enqueue.js'
import { formatBytes } from './body.js'
import type { ApiConfig } from './config.js'
import { invalid } from './validation.js'
import { enqueueMediaMessage } from './media-upload.js'
import { readImageInfo, type ImageInfo } from './image.js'

export interface AcceptedImage extends ImageInfo {
  bytes: Uint8Array
}

/**
 * The image rules of `POST /api/send-image`, shared with the dashboard's Send form: size, type from the
 * file's own bytes, a readable header, and the pixel limit. Throws the API's `ApiError`
 * (413 / 400 / 415 / 422) with a message that starts with `file:` and one field error for `file`.
 */
export async function checkImageUpload(file: File, config: Pick<ApiConfig, 'imageMaxBytes' | 'imageMaxPixels'>): Promise<AcceptedImage> {
  if (file.size > config.imageMaxBytes) {
    throw invalid('file', 'image_too_large', `is ${file.size} bytes; images may be at most ${formatBytes(config.imageMaxBytes)}`, 413)
  }
  return checkImageBytes(new Uint8Array(await file.arrayBuffer()), config)
}

/** The same rules on bytes already read (an upload, or a file fetched from a URL); `field` names it in errors. */
export function checkImageBytes(bytes: Uint8Array, config: Pick<ApiConfig, 'imageMaxBytes' | 'imageMaxPixels'>, field = 'file'): AcceptedImage {
  if (bytes.byteLength > config.imageMaxBytes) {
    throw invalid(field, 'image_too_large', `is ${bytes.byteLength} bytes; images may be at most ${formatBytes(config.imageMaxBytes)}`, 413)
  }
  if (bytes.byteLength === 0) throw invalid(field, 'invalid_file', 'is empty; attach a JPEG, PNG, GIF or WEBP image')
  const check = readImageInfo(bytes)
  if (!check.ok && check.reason === 'unsupported') {
    throw invalid(field, 'unsupported_image_type', "is not a JPEG, PNG, GIF or WEBP image (the type is read from the file's content, not its name); convert it first", 415)
  }
  if (!check.ok) {
    throw invalid(field, 'unreadable_image', 'looks like an image but its header is damaged or truncated, so its size cannot be read; re-export it', 422)
  }
  const { width, height } = check.info
  if (width * height > config.imageMaxPixels) {
    throw invalid(
      field,
      'image_too_many_pixels',
      `is ${width}×${height} (${((width * height) / 1e6).toFixed(1)} megapixels); images may have at most ${config.imageMaxPixels / 1e6} megapixels, resize it first`,
      422,
    )
  }
  return { bytes, ...check.info }
}

export interface ImageMessage {
  session: string
  phone: string
  caption: string | null
  image: AcceptedImage
  /** Hex SHA-256 of the bytes (computed here when absent). */
  sha256?: string
  idempotencyKey?: string | null
  requestHash?: string | null
  /** An identical upload younger than this is reused instead of stored again (half the media retention). */
  mediaReuseSeconds: number
  /** Scheduled send (`send_at`); absent or null = as soon as possible. */
  sendAt?: Date | null
  /** The received message this one quotes. */
  replyTo?: number | null
}

/**
 * Stores the original bytes (or reuses an identical recent upload) and queues the image message in one
 * transaction; an idempotent repeat or conflict rolls the media row back with it.
 */
export async function enqueueImageMessage(db: Db, m: ImageMessage): Promise<EnqueueResult> {
  const { bytes, mime, width, height } = m.image
  return enqueueMediaMessage(db, {
    ...m, type: 'image', media: { bytes, mime, width, height }, details: null,
  })
}
