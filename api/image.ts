/**
 * Image type and size from the file's own header (magic bytes), never from its name or declared
 * type. No decoder: the API only needs to refuse what the runner could not or should not decode.
 * Formats: JPEG (SOFn marker), PNG (IHDR), GIF (logical screen), WEBP (VP8, VP8L, VP8X).
 */

export type ImageMime = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp'

export interface ImageInfo {
  mime: ImageMime
  width: number
  height: number
}

/** The recognized type, or null. Dimensions may still be unreadable (see `readImageInfo`). */
export function sniffImageType(b: Uint8Array): ImageMime | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg'
  if (b.length >= 8 && b[0] === 0x89 && ascii(b, 1, 3) === 'PNG' && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'image/png'
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'image/gif'
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'image/webp'
  return null
}

function ascii(b: Uint8Array, start: number, length: number): string {
  let s = ''
  for (let i = start; i < start + length && i < b.length; i++) s += String.fromCharCode(b[i]!)
  return s
}

const u16be = (b: Uint8Array, i: number) => (b[i]! << 8) | b[i + 1]!
const u16le = (b: Uint8Array, i: number) => b[i]! | (b[i + 1]! << 8)
const u24le = (b: Uint8Array, i: number) => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16)
const u32be = (b: Uint8Array, i: number) => ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!)

function jpegSize(b: Uint8Array): { width: number; height: number } | null {
  let i = 2
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null
    // Any number of 0xFF fill bytes may precede a marker.
    while (i < b.length && b[i] === 0xff) i++
    if (i >= b.length) return null
    const marker = b[i]!
    i++
    // Standalone markers carry no length: TEM, RSTn.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue
    if (marker === 0xd9 || marker === 0xda) return null // end of image / start of scan before any frame header
    if (i + 2 > b.length) return null
    const length = u16be(b, i)
    if (length < 2) return null
    // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 7 > b.length) return null
      return { height: u16be(b, i + 3), width: u16be(b, i + 5) }
    }
    i += length
  }
  return null
}

function pngSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length < 24 || ascii(b, 12, 4) !== 'IHDR') return null
  return { width: u32be(b, 16), height: u32be(b, 20) }
}

function gifSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length < 10) return null
  return { width: u16le(b, 6), height: u16le(b, 8) }
}

function webpSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length < 30) return null
  const chunk = ascii(b, 12, 4)
  if (chunk === 'VP8 ') {
    // Lossy: 3-byte frame tag, then start code 9D 01 2A, then 14-bit width and height.
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return null
    return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff }
  }
  if (chunk === 'VP8L') {
    // Lossless: signature 0x2F, then width-1 and height-1 in 14 bits each, little-endian bit order.
    if (b[20] !== 0x2f) return null
    const bits = (b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24)) >>> 0
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 }
  }
  if (chunk === 'VP8X') {
    // Extended: canvas width-1 and height-1 as 24-bit little-endian at 24 and 27.
    return { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 }
  }
  return null
}

export type ImageCheck =
  | { ok: true; info: ImageInfo }
  | { ok: false; reason: 'unsupported' | 'unreadable' }

/** Type from the magic bytes and dimensions from the header. */
export function readImageInfo(bytes: Uint8Array): ImageCheck {
  const mime = sniffImageType(bytes)
  if (!mime) return { ok: false, reason: 'unsupported' }
  const size =
    mime === 'image/jpeg' ? jpegSize(bytes)
    : mime === 'image/png' ? pngSize(bytes)
    : mime === 'image/gif' ? gifSize(bytes)
    : webpSize(bytes)
  if (!size || size.width <= 0 || size.height <= 0) return { ok: false, reason: 'unreadable' }
  return { ok: true, info: { mime, ...size } }
}
