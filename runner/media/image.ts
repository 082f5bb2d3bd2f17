import type { Sharp, SharpOptions } from 'sharp'

/**
 * Image compression at send time (the guide: "max 1280px, JPEG 78 %"). The API stores the original;
 * the runner turns it into what goes to WhatsApp:
 * - EXIF orientation applied (`rotate()`), then every metadata block dropped (sharp's default unless
 *   `withMetadata()` is asked for), so no GPS position or camera serial leaves with the photo;
 * - resized to fit inside 1280×1280, never enlarged;
 * - JPEG quality 78 with mozjpeg (smaller files at the same quality);
 * - `limitInputPixels` refuses decompression bombs before decoding a single row.
 */

export const MAX_EDGE = 1280
export const JPEG_QUALITY = 78
/** 50 megapixels: well above any phone camera (≈ 8000×6000), far below a bomb's 2^30 pixels. */
export const MAX_INPUT_PIXELS = 50_000_000

/** The image could not be decoded or is not acceptable: a permanent error for the message. */
export class ImageDecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ImageDecodeError'
  }
}

export interface CompressedImage {
  jpeg: Buffer
  width: number
  height: number
}

type SharpFactory = (input: Uint8Array, options: SharpOptions) => Sharp
let loaded: Promise<SharpFactory> | undefined

/** sharp and libvips (≈ 20 MB resident) are loaded with the first image, not at start: many gateways send text only. */
function loadSharp(): Promise<SharpFactory> {
  loaded ??= import('sharp').then(({ default: sharp }) => {
    // The process is long-lived and sends one image at a time per session; sharp's defaults (a cache of
    // 50 MB and as many threads as cores) are fine, except the cache, which would keep originals around.
    sharp.cache(false)
    return sharp
  })
  return loaded
}

/**
 * Compresses a stored original for sending.
 * @example const { jpeg } = await compressImage(media.bytes)
 */
export async function compressImage(input: Uint8Array, options: { maxInputPixels?: number } = {}): Promise<CompressedImage> {
  const sharp = await loadSharp()
  try {
    const { data, info } = await sharp(input, {
      limitInputPixels: options.maxInputPixels ?? MAX_INPUT_PIXELS,
      failOn: 'error',
      // Animated GIF/WebP: the first frame only.
      pages: 1,
    })
      .rotate()
      .resize({ width: MAX_EDGE, height: MAX_EDGE, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: JPEG_QUALITY, mozjpeg: true })
      .toBuffer({ resolveWithObject: true })
    return { jpeg: data, width: info.width, height: info.height }
  } catch (err) {
    const why = (err as Error).message ?? String(err)
    throw new ImageDecodeError(
      /pixel limit/i.test(why)
        ? `image is larger than ${MAX_INPUT_PIXELS} pixels: refused`
        : `image cannot be decoded: ${why}`,
      { cause: err },
    )
  }
}
