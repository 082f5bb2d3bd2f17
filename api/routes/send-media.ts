import { Hono } from '../hono-app.js'
import { type Context } from 'hono'
import type { EnqueueResult } from '../../db/lifecycle/enqueue.js'
import { findMessageByKey } from '../../db/queries/messages.js'
import type { MediaType, MessageDetails } from '../../db/types.js'
import { formatBytes, mediaType, readJson, readMultipart } from '../body.js'
import type { ApiConfig } from '../config.js'
import type { AppEnv } from '../env.js'
import { ApiError } from '../errors.js'
import { idempotencyConflict, idempotencyKey, requestHash, sha256Hex } from '../idempotency.js'
import { checkImageBytes } from '../image-upload.js'
import { fetchMedia, type ResolveHost } from '../media-fetch.js'
import { isOpusOgg, isVideoContainer, sanitizeFileName, sniffMediaType } from '../media-type.js'
import { enqueueMediaMessage } from '../media-upload.js'
import { assertReplyable } from '../reply-to.js'
import { checkRecipient, recipientOf } from '../recipient.js'
import type { RouteBook } from '../route-book.js'
import { sendAnswer, type Schemas } from '../schemas.js'
import { captionOrNull, mediaReuseSeconds, scheduledFor } from '../send-request.js'
import type { SessionGate } from '../session-gate.js'
import { gatherProblems, invalid, parse, type Schema } from '../validation.js'

/**
 * `POST /api/send-image`, `/api/send-document`, `/api/send-video`, `/api/send-audio`: a file as a multipart upload
 * (`file`), or JSON with a `url` the API downloads once before answering. Each kind's rules (size, what its bytes
 * must be) are checked on the bytes, whichever way they came; the file is then stored and queued like any upload.
 */

/** What the runtime offers media sends. Workers has neither; the Node entry passes both. */
export interface MediaRuntime {
  /** Resolves a URL's host so that every address it names can be checked (DNS rebinding); Node only. */
  resolveHost?: ResolveHost
  /** The fetch media URLs go through (default: the global one). */
  fetch?: typeof fetch
  /** Whether non-Opus audio can become a voice note (ffmpeg on the gateway's PATH). Default: no. */
  canConvertAudio?: () => Promise<boolean>
}

export interface MediaSendRoutesOptions {
  config: ApiConfig
  schemas: Schemas
  gate: SessionGate
  book: RouteBook
  runtime: MediaRuntime
}

/** Multipart framing around the file: field headers, boundaries and the small text fields. */
const MULTIPART_OVERHEAD = 64 * 1024

/** The fields all four kinds share after parsing. */
export interface SendFields {
  /** Exactly one of phone and group (api/routes/send.ts, checkRecipient). */
  phone?: string
  group?: string
  session: string
  send_at?: Date
  reply_to?: number
  caption?: string
  filename?: string
  ptt?: boolean
}

/** The file of a send, as it arrived: its bytes and the name it came with (upload name, or from the URL). */
export interface ArrivedFile {
  bytes: Uint8Array
  name: string | null
  /** Which request field it came from, for error messages. */
  field: 'file' | 'url'
}

/** A file that passed its kind's rules: what is stored and what the message row carries. */
export interface AcceptedFile {
  media: { bytes: Uint8Array; mime: string; width?: number; height?: number }
  details: MessageDetails | null
}

export interface KindRules {
  type: MediaType
  operationId: string
  summary: string
  description: string
  fields: Schema
  urlBody: Schema
  maxBytes: number
  errors: number[]
  /** Checks the bytes and decides what is stored. */
  accept(file: ArrivedFile, fields: SendFields): AcceptedFile | Promise<AcceptedFile>
}

/** A size over the kind's limit: 413 with the kind's code. */
function tooLarge(kind: string, file: ArrivedFile, max: number) {
  return invalid(file.field, `${kind}_too_large`, `is ${file.bytes.byteLength} bytes; ${kind}s may be at most ${formatBytes(max)}`, 413)
}

function notEmpty(kind: string, file: ArrivedFile): void {
  if (file.bytes.byteLength === 0) throw invalid(file.field, 'invalid_file', `is empty; attach the ${kind}`)
}

/** Each file kind's rules, for one configuration: the single-file routes and `send-batch` items both use them. */
export function mediaKindRules(config: ApiConfig, schemas: Schemas, runtime: MediaRuntime): Record<MediaType, KindRules> {
  const canConvertAudio = runtime.canConvertAudio ?? (() => Promise.resolve(false))
  const kinds: KindRules[] = [
    {
      type: 'image', operationId: 'sendImage', summary: 'Queue an image message',
      description: `JPEG, PNG, GIF or WEBP (decided by the file's content), at most ${config.imageMaxBytes / 1048576} MB and ${config.imageMaxPixels / 1e6} megapixels, as multipart/form-data (\`file\`) or JSON with a \`url\`. The original is stored; the runner compresses it before sending.`,
      fields: schemas.sendImageFields, urlBody: schemas.sendImageUrl, maxBytes: config.imageMaxBytes, errors: [400, 404, 409, 413, 415, 422],
      accept: (file) => {
        const image = checkImageBytes(file.bytes, config, file.field)
        return { media: { bytes: image.bytes, mime: image.mime, width: image.width, height: image.height }, details: null }
      },
    },
    {
      type: 'document', operationId: 'sendDocument', summary: 'Queue a document (PDF, Office, CSV, any file)',
      description: `Any file up to ${formatBytes(config.documentMaxBytes)} (DOCUMENT_MAX_BYTES), sent byte for byte as a WhatsApp document: the recipient sees its name, size and page count. Its type is read from its bytes (PDF, Office, images, text), else from its extension.`,
      fields: schemas.sendDocumentFields, urlBody: schemas.sendDocumentUrl, maxBytes: config.documentMaxBytes, errors: [400, 404, 409, 413, 415, 422],
      accept: (file, fields) => {
        if (file.bytes.byteLength > config.documentMaxBytes) throw tooLarge('document', file, config.documentMaxBytes)
        notEmpty('document', file)
        const name = fields.filename ?? file.name
        const { mime } = sniffMediaType(file.bytes, name)
        return { media: { bytes: file.bytes, mime }, details: { fileName: sanitizeFileName(name, mime) } }
      },
    },
    {
      type: 'video', operationId: 'sendVideo', summary: 'Queue a video (MP4 or 3GP)',
      description: `MP4 or 3GP (recognised by their bytes), at most ${formatBytes(config.videoMaxBytes)} (VIDEO_MAX_BYTES). With ffmpeg on the runner's PATH a thumbnail and the duration go with it; without, the video still sends.`,
      fields: schemas.sendVideoFields, urlBody: schemas.sendVideoUrl, maxBytes: config.videoMaxBytes, errors: [400, 404, 409, 413, 415, 422],
      accept: (file) => {
        if (file.bytes.byteLength > config.videoMaxBytes) throw tooLarge('video', file, config.videoMaxBytes)
        notEmpty('video', file)
        if (!isVideoContainer(file.bytes)) {
          throw invalid(file.field, 'unsupported_video_type', "is not an MP4 or 3GP video (the type is read from the file's content); convert it first, e.g. ffmpeg -i in.mov -c:v libx264 -c:a aac out.mp4", 415)
        }
        return { media: { bytes: file.bytes, mime: sniffMediaType(file.bytes, file.name).mime }, details: null }
      },
    },
    {
      type: 'audio', operationId: 'sendAudio', summary: 'Queue audio or a voice note',
      description: `Audio up to ${formatBytes(config.documentMaxBytes)}. \`ptt=true\` sends a voice note: OGG/Opus as it is, other audio (MP3, M4A/AAC, WAV, OGG/Vorbis) converted when ffmpeg is on the gateway's PATH, refused with 415 otherwise. Without ptt it is sent as an audio file, byte for byte.`,
      fields: schemas.sendAudioFields, urlBody: schemas.sendAudioUrl, maxBytes: config.documentMaxBytes, errors: [400, 404, 409, 413, 415, 422],
      accept: async (file, fields) => {
        if (file.bytes.byteLength > config.documentMaxBytes) throw tooLarge('audio file', file, config.documentMaxBytes)
        notEmpty('audio', file)
        const sniffed = sniffMediaType(file.bytes, file.name)
        const opus = isOpusOgg(file.bytes)
        if (sniffed.kind !== 'audio' && !opus) {
          throw invalid(file.field, 'unsupported_audio_type', `is not audio (its bytes say ${sniffed.mime}); send MP3, M4A/AAC, WAV, OGG or AMR`, 415)
        }
        if (fields.ptt && !opus && !(await canConvertAudio())) {
          throw invalid(
            file.field,
            'voice_note_not_opus',
            `is ${sniffed.mime}, but a voice note must be OGG/Opus and this gateway has no ffmpeg to convert it; convert it first (ffmpeg -i in.mp3 -c:a libopus -ac 1 out.ogg), install ffmpeg on the gateway, or send it with ptt=false as an audio file`,
            415,
          )
        }
        return { media: { bytes: file.bytes, mime: sniffed.mime }, details: { ptt: fields.ptt === true } }
      },
    },
  ]

  return Object.fromEntries(kinds.map((k) => [k.type, k])) as Record<MediaType, KindRules>
}

/** Downloads a send's `url` within its kind's size limit (api/media-fetch.ts says how it refuses). */
export async function fetchKindFile(url: string, rules: KindRules, config: ApiConfig, runtime: MediaRuntime, signal?: AbortSignal): Promise<ArrivedFile> {
  const fetched = await fetchMedia(url, { policy: config.mediaUrlPolicy, maxBytes: rules.maxBytes, resolve: runtime.resolveHost, fetch: runtime.fetch, signal })
  return { bytes: fetched.bytes, name: fetched.fileName, field: 'url' }
}

export function mediaSendRoutes({ config, schemas, gate, book, runtime }: MediaSendRoutesOptions) {
  const app = new Hono<AppEnv>()

  const kinds = Object.values(mediaKindRules(config, schemas, runtime))

  /** The fields and the file of a multipart send, every field problem reported at once. */
  async function fromMultipart(c: Context<AppEnv>, rules: KindRules): Promise<{ fields: SendFields; file: ArrivedFile }> {
    const form = await readMultipart(c.req.raw, rules.maxBytes + MULTIPART_OVERHEAD, undefined,
      `Send the ${rules.type} as multipart/form-data with a "file" field (curl -F "file=@name.ext"), or as JSON with a "url"`)
    const values: Record<string, unknown> = {}
    const problems = gatherProblems()
    for (const [name, value] of form.entries()) {
      if (name === 'file') continue
      problems.check(name, () => {
        if (typeof value !== 'string') throw invalid(name, 'invalid_type', 'must be a text field, not a file')
        values[name] = value
      })
    }
    const fields = problems.check('', () => parse(rules.fields, values, '') as SendFields)
    const upload = form.get('file')
    const file = problems.check('file', () => {
      if (upload === null) throw invalid('file', 'missing_field', `is required; attach the ${rules.type} as the multipart field "file" (curl -F "file=@name.ext"), or send JSON with a "url"`)
      if (typeof upload === 'string') throw invalid('file', 'invalid_type', 'must be a file upload (curl -F "file=@name.ext"), not a text field')
      return upload
    })
    problems.done()
    if (file!.size > rules.maxBytes) throw tooLarge(rules.type === 'audio' ? 'audio file' : rules.type, { bytes: { byteLength: file!.size } as Uint8Array, name: null, field: 'file' }, rules.maxBytes)
    return { fields: fields!, file: { bytes: new Uint8Array(await file!.arrayBuffer()), name: file!.name || null, field: 'file' } }
  }

  /** A JSON send: its fields, then (after the cheap checks) the file fetched from its `url`. */
  async function fromUrl(c: Context<AppEnv>, rules: KindRules, beforeFetch: (fields: SendFields) => Promise<void>): Promise<{ fields: SendFields; file: ArrivedFile }> {
    const raw = await readJson(c.req.raw, config.jsonBodyLimit)
    if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !('url' in raw)) {
      // JSON without a url is an upload sent the wrong way (as before URLs were taken): say how to send the file.
      throw new ApiError(415, 'unsupported_media_type',
        `Send the ${rules.type} as multipart/form-data with a "file" field (curl -F "file=@name.ext"), or as JSON with a "url" to fetch it from`)
    }
    const body = parse(rules.urlBody, raw) as SendFields & { url: string }
    await beforeFetch(body)
    return { fields: body, file: await fetchKindFile(body.url, rules, config, runtime, c.req.raw.signal) }
  }

  for (const rules of kinds) {
    book.serve(app, '/api', {
      method: 'post', path: `/api/send-${rules.type}`, operationId: rules.operationId, tag: 'Sending', summary: rules.summary, idempotent: true,
      description: rules.description,
      multipart: { fields: rules.fields, files: { file: `The ${rules.type} file.` }, orJson: rules.urlBody },
      ok: sendAnswer, okExample: { success: true, message_id: 43 }, errors: rules.errors,
    }, async (c) => {
      const db = c.get('db')
      const key = idempotencyKey(c)
      let phone = ''
      const checkSendable = async (fields: SendFields) => {
        checkRecipient(fields)
        await gate.assertSendable(db, fields.session)
        phone = await recipientOf(db, fields.session, fields)
        await assertReplyable(db, fields.reply_to, fields.session)
      }
      const isJson = mediaType(c.req.raw) === 'application/json'
      const { fields, file } = isJson ? await fromUrl(c, rules, checkSendable) : await fromMultipart(c, rules)
      if (!isJson) await checkSendable(fields)
      const accepted = await rules.accept(file, fields)
      const caption = rules.type === 'audio' ? null : captionOrNull(fields.caption)
      const sha256 = await sha256Hex(accepted.media.bytes)
      const replyTo = fields.reply_to ?? null
      const hash = key ? await mediaRequestHash(rules.type, { ...fields, phone }, caption, sha256, accepted.details, replyTo) : null
      if (key) {
        // A retry of a stored send: answered before any media is written.
        const found = await findMessageByKey(db, key)
        if (found) return c.json(answerFor(found.requestHash === hash ? { kind: 'repeat', id: found.id } : { kind: 'conflict', id: found.id }))
      }
      const result = await enqueueMediaMessage(db, {
        session: fields.session, phone, type: rules.type, caption, media: accepted.media, details: accepted.details,
        sha256, idempotencyKey: key, requestHash: hash, mediaReuseSeconds: mediaReuseSeconds(config), sendAt: fields.send_at ?? null, replyTo,
      })
      return c.json(answerFor(result))
    })
  }
  return app
}

function answerFor(result: EnqueueResult): { success: true; message_id: number } {
  if (result.kind === 'conflict') throw idempotencyConflict()
  return { success: true, message_id: result.id }
}

/**
 * The hash a repeat under the same Idempotency-Key must match. An image without reply_to hashes as it always has, so
 * keys stored before the new kinds still match their repeats.
 */
export function mediaRequestHash(type: MediaType, f: SendFields, caption: string | null, sha256: string, details: MessageDetails | null, replyTo: number | null): Promise<string> {
  const extra = [...(details ? [JSON.stringify(details)] : []), ...(replyTo !== null ? [`reply_to=${replyTo}`] : [])]
  return requestHash([type, f.session, f.phone, caption, sha256, ...scheduledFor(f.send_at), ...extra])
}
