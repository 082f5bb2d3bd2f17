import { formatBytes } from './body.js'
import type { ApiConfig } from './config.js'
import { invalid } from './validation.js'
import { readImageInfo, type ImageInfo } from './image.js'

export interface AcceptedImage extends ImageInfo {
  bytes: Uint8Array
}

/**
 * The image rules of `POST /api/send-image` (and the dashboard's Send form, through `mediaKindRules`): size, type from
 * the file's own bytes (an upload, or a file fetched from a URL), a readable header, and the pixel limit. Throws the
 * API's `ApiError` (413 / 400 / 415 / 422) with one field error for `field`.
 */
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
