import { NOISE_WA_HEADER } from '@whiskeysockets/baileys'

/**
 * Splits the client's byte stream into frames.
 *
 * The client's very first bytes are an intro: the 4-byte header `57 41 06 03`, or, once the client holds routing info,
 * `ED 00 01` + 3-byte length + routing info + header. After it, every frame is a 3-byte big-endian length + body,
 * in both directions (the server never sends an intro).
 */
export class FrameReader {
  private buffered = Buffer.alloc(0)
  private introSeen = false

  /** Appends bytes and returns every complete frame body now available. */
  push(bytes: Uint8Array): Buffer[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, bytes]) : Buffer.from(bytes)
    if (!this.introSeen && !this.skipIntro()) return []
    const frames: Buffer[] = []
    while (this.buffered.length >= 3) {
      const size = (this.buffered[0]! << 16) | (this.buffered[1]! << 8) | this.buffered[2]!
      if (this.buffered.length < size + 3) break
      frames.push(this.buffered.subarray(3, size + 3))
      this.buffered = this.buffered.subarray(size + 3)
    }
    return frames
  }

  private skipIntro(): boolean {
    const b = this.buffered
    if (b.length >= 1 && b[0] === 0x45 /* 'E' */) {
      if (b.length < 7) return false
      const routingLength = (b[4]! << 16) | b.readUInt16BE(5)
      const introLength = 7 + routingLength + NOISE_WA_HEADER.length
      if (b.length < introLength) return false
      this.assertHeader(b.subarray(7 + routingLength, introLength))
      this.buffered = b.subarray(introLength)
    } else {
      if (b.length < NOISE_WA_HEADER.length) return false
      this.assertHeader(b.subarray(0, NOISE_WA_HEADER.length))
      this.buffered = b.subarray(NOISE_WA_HEADER.length)
    }
    this.introSeen = true
    return true
  }

  private assertHeader(header: Uint8Array): void {
    if (Buffer.compare(Buffer.from(header), NOISE_WA_HEADER) !== 0) {
      throw new Error(`unexpected Noise intro header ${Buffer.from(header).toString('hex')}`)
    }
  }
}

/** Prefixes a frame body with its 3-byte big-endian length. */
export function lengthPrefixed(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(3 + body.length)
  frame[0] = (body.length >>> 16) & 0xff
  frame[1] = (body.length >>> 8) & 0xff
  frame[2] = body.length & 0xff
  frame.set(body, 3)
  return frame
}
