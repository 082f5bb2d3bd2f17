/**
 * Reading request bodies with a hard byte limit, using web streams only (Node and Workers).
 * Nothing here ever holds more than `limit` bytes of a body: a declared Content-Length above the
 * limit is refused before reading, and a streamed body is cut off as soon as it passes the limit.
 */
import { checkJsonShape, createPartCounter, multipartBoundary, type JsonShapeLimits } from './body-shape.js'
import { ApiError } from './errors.js'

/**
 * What a JSON body of a single-object route may hold: the documented fields, with room for a client's own extras.
 * `POST /api/send-batch` takes more values (api/routes/send.ts). Deeper or larger bodies are refused before parsing.
 */
export const JSON_SHAPE: JsonShapeLimits = { maxDepth: 32, maxValues: 1000 }

/** Values a send-batch allows per item on top of `JSON_SHAPE`'s: its four fields, with room for a client's extras. */
export const BATCH_VALUES_PER_ITEM = 32

/** Most parts of a multipart form (and fields of an urlencoded one): every route takes a handful. */
export const FORM_MAX_PARTS = 32

function tooLarge(limit: number, what: string): ApiError {
  return new ApiError(413, 'body_too_large', `${what} is larger than the ${formatBytes(limit)} this route accepts; send less data`)
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KB`
  return `${n} bytes`
}

function declaredLength(req: Request): number | null {
  const raw = req.headers.get('content-length')
  if (raw === null || !/^\d+$/.test(raw.trim())) return null
  return Number(raw)
}

/** The media type of the request, lower-case, without parameters ('' when absent). */
export function mediaType(req: Request): string {
  return (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

/** Reads the whole body, refusing with 413 as soon as it passes `limit` bytes. */
export async function readBytes(req: Request, limit: number, what = 'The request body'): Promise<Uint8Array> {
  const declared = declaredLength(req)
  if (declared !== null && declared > limit) throw tooLarge(limit, what)
  if (declared !== null && !req.headers.has('transfer-encoding')) {
    // A declared length within the limit: the HTTP layer delivers exactly that many bytes, so the body can be
    // read in one call. On Node this takes @hono/node-server's direct path (no web stream, no Request object
    // built per request), which is most of the cost of a small JSON send. The check after it covers in-process
    // callers (app.request) whose header need not match their body.
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(await req.arrayBuffer())
    } catch (err) {
      throw new ApiError(400, 'request_aborted', `${what} ended before it was complete: the connection was closed`, { cause: err })
    }
    if (bytes.byteLength > limit) throw tooLarge(limit, what)
    return bytes
  }
  return readStreamWithin(req.body, limit, {
    tooLarge: () => tooLarge(limit, what),
    // The client closed the connection mid-body (ECONNRESET "aborted"): its fault, not ours, so a 4xx
    // (which nobody receives) rather than an unhandled 500 in the logs and metrics.
    broken: (err) => new ApiError(400, 'request_aborted', `${what} ended before it was complete: the connection was closed`, { cause: err }),
  })
}

/**
 * Reads a stream whole, cancelling it and throwing `refuse.tooLarge()` the moment it passes `limit` bytes; a read
 * that fails throws `refuse.broken(err)` (or the error itself). Shared by request bodies and media downloads.
 */
export async function readStreamWithin(
  stream: ReadableStream<Uint8Array> | null,
  limit: number,
  refuse: { tooLarge: () => Error; broken?: (err: unknown) => Error },
): Promise<Uint8Array> {
  if (!stream) return new Uint8Array(0)
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>
    try {
      next = await reader.read()
    } catch (err) {
      throw refuse.broken ? refuse.broken(err) : err
    }
    const { done, value } = next
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw refuse.tooLarge()
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Parses a JSON body of at most `limit` bytes, nested and counted within `shape` (default `JSON_SHAPE`). An absent
 * body is `undefined` when `allowEmpty` (routes whose every field is optional), else a 400. Any content type other
 * than JSON is a 415.
 */
export async function readJson(req: Request, limit: number, options: { allowEmpty?: boolean; shape?: JsonShapeLimits } = {}): Promise<unknown> {
  const type = mediaType(req)
  const declared = declaredLength(req)
  // With a declared length, never touch `req.body`: on Node that getter builds the full web Request (stream,
  // AbortSignal) that the direct read in readBytes exists to avoid.
  const maybeBody = declared === null ? req.body !== null : declared !== 0
  if (type && !isJsonType(type)) {
    if (!maybeBody && options.allowEmpty) return undefined
    throw new ApiError(415, 'unsupported_media_type', `Send the body as JSON with the header "Content-Type: application/json" (got "${type}")`)
  }
  const bytes = maybeBody ? await readBytes(req, limit) : new Uint8Array(0)
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw new ApiError(400, 'invalid_json', 'The body is not valid UTF-8; send JSON encoded as UTF-8')
  }
  if (text.trim() === '') {
    if (options.allowEmpty) return undefined
    throw new ApiError(400, 'invalid_json', 'The body is empty; send a JSON object with "Content-Type: application/json"')
  }
  if (!type) {
    throw new ApiError(415, 'unsupported_media_type', 'Add the header "Content-Type: application/json" to send a JSON body')
  }
  checkJsonShape(bytes, options.shape ?? JSON_SHAPE)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ApiError(400, 'invalid_json', `The body is not valid JSON (${(err as Error).message}); send a JSON object`)
  }
}

function tooManyParts(maxParts: number, what: string): ApiError {
  return new ApiError(413, 'too_many_parts', `${what} has more than ${maxParts} fields; send only the documented fields`)
}

/**
 * Parses a multipart/form-data body of at most `limit` bytes and `maxParts` parts. The body stream is wrapped in a
 * counting stream that errors once either is passed, so the form parser stops reading there.
 */
export async function readMultipart(
  req: Request,
  limit: number,
  maxParts = FORM_MAX_PARTS,
  /** How to send it right, for the 415 (the routes that also take JSON say so). */
  howTo = 'Send the image as multipart/form-data with a "file" field (curl -F "file=@photo.jpg")',
): Promise<FormData> {
  const type = mediaType(req)
  if (type !== 'multipart/form-data') {
    throw new ApiError(415, 'unsupported_media_type', `${howTo}; got ${type ? `"${type}"` : 'no Content-Type'}`)
  }
  const declared = declaredLength(req)
  if (declared !== null && declared > limit) throw tooLarge(limit, 'The upload')
  if (!req.body) throw new ApiError(400, 'invalid_multipart', 'The multipart body is empty; send the phone and file fields')
  let size = 0
  // Typed by its initialiser: set inside the stream callbacks, so TypeScript must not narrow it to null here.
  let refusal = null as ApiError | null
  // Without a boundary the form parser refuses the body at once; with one, its parts are counted as they arrive.
  const boundary = multipartBoundary(req.headers.get('content-type') ?? '')
  const countParts = boundary ? createPartCounter(boundary, maxParts) : null
  const counted = req.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength
        if (size > limit) refusal = tooLarge(limit, 'The upload')
        else if (countParts && countParts(chunk) > maxParts) refusal = tooManyParts(maxParts, 'The form')
        if (refusal) {
          controller.error(refusal)
          return
        }
        controller.enqueue(chunk)
      },
    }),
  )
  const limited = new Request(req.url, {
    method: req.method,
    headers: req.headers,
    body: counted,
    // Required by Node's fetch for a streamed request body; ignored by Workers.
    duplex: 'half',
  } as RequestInit)
  try {
    return await limited.formData()
  } catch (err) {
    if (refusal) throw refusal
    throw new ApiError(400, 'invalid_multipart', `The multipart/form-data body could not be read (${(err as Error).message}); let your HTTP client build it (curl -F, PHP CURLFile, FormData)`)
  }
}
