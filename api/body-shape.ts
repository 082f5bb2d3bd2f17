/**
 * Cheap checks of a request body's shape, made on the raw bytes before a parser builds anything from them: the
 * nesting depth and value count of a JSON text, and the number of parts of a multipart stream. A body within the
 * byte limit can still cost far more memory and time than its size once parsed (an 8 MB send-batch of nested arrays
 * held 233 MB; a 10 MB form of 162,000 empty parts stalled the event loop 3.5 s), and the routes know how little
 * they take, so these refuse such a body early with the API's JSON error.
 */
import { ApiError } from './errors.js'

export interface JsonShapeLimits {
  /** Most levels of arrays and objects inside one another. */
  maxDepth: number
  /** Most values: every array or object counts one, and so does every element or member after the first. */
  maxValues: number
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_ARRAY = 0x5b
const OPEN_OBJECT = 0x7b
const CLOSE_ARRAY = 0x5d
const CLOSE_OBJECT = 0x7d
const COMMA = 0x2c

function tooDeep(limits: JsonShapeLimits): ApiError {
  return new ApiError(400, 'json_too_deep', `The JSON body nests arrays and objects more than ${limits.maxDepth} levels deep; send the documented fields only`)
}

function tooManyValues(limits: JsonShapeLimits): ApiError {
  return new ApiError(413, 'body_too_complex', `The JSON body holds more than ${limits.maxValues} values (array elements and object members); send the documented fields only, or split it into several requests`)
}

/**
 * Throws 400 `json_too_deep` or 413 `body_too_complex` when the JSON text in `bytes` passes a limit. Only counts
 * brackets and commas outside strings, so it works on the UTF-8 bytes (no multi-byte sequence contains an ASCII
 * byte) and leaves every other judgement to `JSON.parse`; string contents are skipped with `indexOf`, so a long
 * message costs next to nothing.
 */
export function checkJsonShape(bytes: Uint8Array, limits: JsonShapeLimits): void {
  let depth = 0
  let values = 0
  const n = bytes.length
  for (let i = 0; i < n; i++) {
    const b = bytes[i]
    if (b === QUOTE) {
      // Jump to the closing quote: the first one not escaped by an odd run of backslashes.
      for (;;) {
        const end = bytes.indexOf(QUOTE, i + 1)
        if (end === -1) return // unterminated: JSON.parse says so
        let slashes = 0
        while (bytes[end - 1 - slashes] === BACKSLASH) slashes++
        i = end
        if (slashes % 2 === 0) break
      }
    } else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > limits.maxDepth) throw tooDeep(limits)
      if (++values > limits.maxValues) throw tooManyValues(limits)
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      depth--
    } else if (b === COMMA) {
      if (++values > limits.maxValues) throw tooManyValues(limits)
    }
  }
}

/** The `boundary` parameter of a multipart Content-Type, or null. */
export function multipartBoundary(contentType: string): string | null {
  const m = /;\s*boundary\s*=\s*(?:"([^"]{1,200})"|([^\s;"]{1,200}))/i.exec(contentType)
  return m ? (m[1] ?? m[2]!) : null
}

const CR = 0x0d

/**
 * Counts the parts of a multipart body as it streams by, by the delimiters `CRLF--boundary` that end each part
 * (RFC 2046: the boundary may not occur in any part's content). Feed it every chunk in order; a delimiter split
 * across two chunks is counted once. Searches with `indexOf` for the delimiter's first byte, so a 10 MB image costs
 * a few milliseconds; stops counting once past `stopAbove`, where the caller refuses the body anyway.
 */
export function createPartCounter(boundary: string, stopAbove = Infinity): (chunk: Uint8Array) => number {
  const delimiter = new TextEncoder().encode(`\r\n--${boundary}`)
  const keep = delimiter.length - 1
  let tail = new Uint8Array(0)
  let count = 0

  /** Matches of `delimiter` in `hay` that start before `startsBefore`. */
  const matches = (hay: Uint8Array, startsBefore: number): number => {
    let found = 0
    let at = hay.indexOf(CR)
    while (at !== -1 && at < startsBefore && at + delimiter.length <= hay.length && count + found <= stopAbove) {
      let k = 1
      while (k < delimiter.length && hay[at + k] === delimiter[k]) k++
      if (k === delimiter.length) {
        found++
        at = hay.indexOf(CR, at + delimiter.length)
      } else at = hay.indexOf(CR, at + 1)
    }
    return found
  }

  return (chunk) => {
    if (tail.length > 0) {
      // Delimiters that start in the previous bytes and end in this chunk.
      const seam = new Uint8Array(tail.length + Math.min(keep, chunk.length))
      seam.set(tail, 0)
      seam.set(chunk.subarray(0, seam.length - tail.length), tail.length)
      count += matches(seam, tail.length)
    }
    count += matches(chunk, chunk.length)
    if (chunk.length >= keep) tail = chunk.slice(chunk.length - keep)
    else {
      const joined = new Uint8Array(tail.length + chunk.length)
      joined.set(tail, 0)
      joined.set(chunk, tail.length)
      tail = joined.slice(Math.max(0, joined.length - keep))
    }
    return count
  }
}
