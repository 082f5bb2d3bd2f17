import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Every use of ffmpeg and ffprobe in the runner: the duration and size of a video, its thumbnail, and audio turned
 * into the OGG/Opus a WhatsApp voice note is.
 *
 * - The tools run as child processes with argument arrays (never a shell), so no byte of a file name or of the
 *   media reaches a command line.
 * - Inputs and outputs go through files in a private directory (`mkdtemp`, mode 0700) removed after every call,
 *   whatever happened: an input can be 64 MB, too much to pipe around in memory twice, and some containers (MP4
 *   with its index at the end) need a seekable input anyway.
 * - Each call has a time limit; past it the child is killed (SIGKILL) and the call fails with FfmpegTimeoutError.
 * - What the tools print on stderr never reaches a log: only its last line, shortened, goes into an error message,
 *   so a failure still says why.
 */

/** The time one ffmpeg or ffprobe run may take before it is killed: a 64 MB video takes a few seconds. */
export const FFMPEG_TIMEOUT_MS = 60_000

/** The end of stderr kept for error messages: enough for the last line, bounded whatever a tool prints. */
const STDERR_TAIL_BYTES = 4096
/** ffprobe's JSON for a file with a handful of streams is a few KB; more than this means something is wrong. */
const STDOUT_LIMIT_BYTES = 4 * 1024 * 1024

/** ffmpeg (or ffprobe) is not installed, the configured path does not exist or cannot run, or it lacks libopus. */
export class FfmpegMissingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'FfmpegMissingError'
  }
}

/** The input cannot be decoded (not media, corrupt, or no stream of the kind needed): a permanent error. */
export class MediaConversionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MediaConversionError'
  }
}

/** A run went past FFMPEG_TIMEOUT_MS and was killed: the machine may just be busy, so not a verdict on the media. */
export class FfmpegTimeoutError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FfmpegTimeoutError'
  }
}

/** The ffmpeg binary: `FFMPEG_PATH`, or `ffmpeg` looked up on the PATH. */
export function ffmpegPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.FFMPEG_PATH || 'ffmpeg'
}

/** The ffprobe binary: `FFPROBE_PATH`, or `ffprobe` looked up on the PATH. */
export function ffprobePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.FFPROBE_PATH || 'ffprobe'
}

/** Keyed by the two paths, so a changed FFMPEG_PATH or FFPROBE_PATH is checked anew rather than answered from the cache. */
const availability = new Map<string, Promise<boolean>>()

/**
 * Whether both `ffmpeg -version` and `ffprobe -version` run and exit 0, checked once per pair of paths.
 * @example if (!(await ffmpegAvailable())) log.warn('no ffmpeg: videos go without thumbnail')
 */
export function ffmpegAvailable(): Promise<boolean> {
  const tools = [ffmpeg(), ffprobe()]
  const key = tools.map((t) => t.path).join('\0')
  let answer = availability.get(key)
  if (!answer) {
    answer = Promise.all(tools.map((t) => run(t, ['-version']))).then(
      (results) => results.every((r) => r.code === 0),
      () => false,
    )
    availability.set(key, answer)
  }
  return answer
}

export interface MediaProbe {
  /** The container's duration, else the longest stream's; null when neither is known. */
  seconds: number | null
  /** The first video stream's size (cover art in an audio file does not count as video). */
  width: number | null
  height: number | null
  hasVideo: boolean
  hasAudio: boolean
  /** The first video stream's codec, else the first audio stream's (`h264`, `aac`, `opus`…). */
  codec: string | null
}

/**
 * What ffprobe sees in the bytes. Throws MediaConversionError when ffprobe cannot read them at all.
 * @example const { seconds, width, height } = await probeMedia(video)
 */
export async function probeMedia(bytes: Uint8Array): Promise<MediaProbe> {
  return withScratch(async (dir) => {
    const input = await writeInput(dir, bytes)
    const r = await run(ffprobe(), ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', input])
    if (r.code !== 0) throw new MediaConversionError(`media cannot be read: ${lastLine(r.stderr, dir)}`)
    return summarize(parseProbe(r.stdout))
  })
}

/**
 * A JPEG of the frame about 1 s in (the first frame of a shorter video), scaled down to fit inside
 * maxEdge × maxEdge and never enlarged; null when no video frame can be decoded.
 * @example const jpegThumbnail = await videoThumbnail(video)
 */
export async function videoThumbnail(bytes: Uint8Array, maxEdge = 320): Promise<Buffer | null> {
  const edge = Math.max(1, Math.floor(maxEdge))
  return withScratch(async (dir) => {
    const input = await writeInput(dir, bytes)
    const output = join(dir, 'thumbnail.jpg')
    // Seeking past the end is not an error to ffmpeg: it writes no file. Then the first frame will do.
    for (const seek of [['-ss', '1'], []]) {
      const r = await run(ffmpeg(), [
        ...QUIET,
        ...seek,
        '-i', input,
        '-map', '0:v:0', '-an', '-sn', '-dn', '-frames:v', '1',
        // Fit inside the box keeping the aspect ratio; min() keeps a small video at its size. The MJPEG encoder
        // wants full-range YUV.
        '-vf', `scale=w='min(${edge},iw)':h='min(${edge},ih)':force_original_aspect_ratio=decrease,format=yuvj420p`,
        '-c:v', 'mjpeg', '-q:v', '4', '-f', 'image2', output,
      ])
      if (r.code !== 0) continue
      const jpeg = await readFile(output).catch(() => null)
      if (jpeg && jpeg.length > 0) return jpeg
    }
    return null
  })
}

/**
 * Any audio ffmpeg decodes (MP3, M4A/AAC, WAV, OGG/Vorbis, the audio track of a video…) as a WhatsApp voice note:
 * OGG/Opus, mono, 48 kHz, 32 kbit/s tuned for speech, tags and cover art dropped. `seconds` is the note's length,
 * read from the Ogg stream itself. Throws MediaConversionError when there is no audio to decode.
 * @example const { ogg, seconds } = await toVoiceNote(mp3)
 */
export async function toVoiceNote(bytes: Uint8Array): Promise<{ ogg: Buffer; seconds: number | null }> {
  return withScratch(async (dir) => {
    const input = await writeInput(dir, bytes)
    const output = join(dir, 'voice.ogg')
    const r = await run(ffmpeg(), [
      ...QUIET,
      '-i', input,
      '-map', '0:a:0', '-map_metadata', '-1',
      '-vn', '-sn', '-dn', '-ac', '1', '-ar', '48000',
      '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip',
      '-f', 'ogg', output,
    ])
    // An ffmpeg built without libopus fails every conversion: that says nothing about the audio.
    if (r.code !== 0 && /Unknown encoder 'libopus'/.test(r.stderr)) {
      throw new FfmpegMissingError(`${ffmpegPath()} has no libopus encoder: install Debian's ffmpeg, or set FFMPEG_PATH`)
    }
    if (r.code !== 0) throw new MediaConversionError(`audio cannot be converted to a voice note: ${lastLine(r.stderr, dir)}`)
    const ogg = await readFile(output).catch(() => null)
    if (!ogg || ogg.length === 0) throw new MediaConversionError('audio cannot be converted to a voice note: no audio was decoded')
    return { ogg, seconds: oggOpusSeconds(ogg) }
  })
}

/** No banner, no progress lines, no prompt: stderr holds only errors, stdin is never read. */
const QUIET = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y']

interface Tool {
  name: 'ffmpeg' | 'ffprobe'
  /** What is spawned: the configured path, or the bare name for a PATH lookup. */
  path: string
  /** The variable that configures it, named when it cannot be run. */
  variable: 'FFMPEG_PATH' | 'FFPROBE_PATH'
}

const ffmpeg = (): Tool => ({ name: 'ffmpeg', path: ffmpegPath(), variable: 'FFMPEG_PATH' })
const ffprobe = (): Tool => ({ name: 'ffprobe', path: ffprobePath(), variable: 'FFPROBE_PATH' })

interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs one tool to its end (or FFMPEG_TIMEOUT_MS), keeping stdout and the tail of stderr. A missing binary
 * rejects with FfmpegMissingError; a non-zero exit is for the caller to judge.
 */
function run(tool: Tool, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool.path, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true })
    const stdout: Buffer[] = []
    let stdoutBytes = 0
    let stderr = Buffer.alloc(0)
    let failure: Error | null = null
    const kill = (why: Error) => {
      failure ??= why
      child.kill('SIGKILL')
    }
    const timer = setTimeout(
      () => kill(new FfmpegTimeoutError(`${tool.name} took longer than ${FFMPEG_TIMEOUT_MS / 1000} s and was stopped`)),
      FFMPEG_TIMEOUT_MS,
    )
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length
      if (stdoutBytes > STDOUT_LIMIT_BYTES) kill(new Error(`${tool.name} printed more than ${STDOUT_LIMIT_BYTES} bytes`))
      else stdout.push(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk])
      if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES)
    })
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        reject(new FfmpegMissingError(`${tool.name} cannot be run (${tool.path}: ${err.code}): install ffmpeg, or set ${tool.variable}`, { cause: err }))
      } else {
        reject(err)
      }
    })
    // A killed run ends at its exit: a grandchild still holding the pipes must not keep the call open.
    child.on('exit', () => {
      if (!failure) return
      clearTimeout(timer)
      child.stdout.destroy()
      child.stderr.destroy()
      reject(failure)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      if (failure) reject(failure)
      else resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: stderr.toString('utf8') })
    })
  })
}

/** Runs `body` in a fresh private directory, removed afterwards whether it succeeded or threw. */
async function withScratch<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'wa-gateway-media-'))
  try {
    return await body(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function writeInput(dir: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, 'input')
  await writeFile(path, bytes, { mode: 0o600 })
  return path
}

/** The last non-empty stderr line, with the scratch directory taken out of paths and cut to a readable length. */
function lastLine(stderr: string, dir: string): string {
  const line = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).pop() ?? 'no error message'
  const plain = line.split(`${dir}/`).join('')
  return plain.length > 200 ? `${plain.slice(0, 197)}...` : plain
}

interface ProbeStream {
  codec_type?: string
  codec_name?: string
  width?: number
  height?: number
  duration?: string
  disposition?: { attached_pic?: number }
}

interface ProbeOutput {
  streams?: ProbeStream[]
  format?: { duration?: string }
}

function parseProbe(json: string): ProbeOutput {
  try {
    const parsed: unknown = JSON.parse(json)
    return typeof parsed === 'object' && parsed !== null ? parsed : {}
  } catch (err) {
    throw new MediaConversionError('ffprobe gave no readable answer', { cause: err })
  }
}

function summarize(probe: ProbeOutput): MediaProbe {
  const streams = probe.streams ?? []
  // An MP3's or M4A's cover art is a one-picture "video" stream; it makes no video.
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1)
  const audio = streams.find((s) => s.codec_type === 'audio')
  const streamSeconds = streams.map((s) => positive(s.duration)).filter((s): s is number => s !== null)
  return {
    seconds: positive(probe.format?.duration) ?? (streamSeconds.length ? Math.max(...streamSeconds) : null),
    width: positive(video?.width),
    height: positive(video?.height),
    hasVideo: video !== undefined,
    hasAudio: audio !== undefined,
    codec: video?.codec_name ?? audio?.codec_name ?? null,
  }
}

/** A positive finite number from ffprobe's text or number fields ("N/A" and 0 are unknown). */
function positive(value: string | number | undefined): number | null {
  const n = typeof value === 'number' ? value : Number.parseFloat(value ?? '')
  return Number.isFinite(n) && n > 0 ? n : null
}

/**
 * The length of an OGG/Opus stream: the last page's granule position (48 kHz samples) less the pre-skip from the
 * OpusHead packet (RFC 7845). Reading it here saves an ffprobe run per voice note. The pages are walked by their
 * headers (RFC 3533), not searched for, since "OggS" can occur inside compressed audio.
 */
function oggOpusSeconds(ogg: Buffer): number | null {
  let offset = 0
  let preSkip: number | null = null
  let granule: bigint | null = null
  while (offset + 27 <= ogg.length && ogg.toString('latin1', offset, offset + 4) === 'OggS') {
    const segments = ogg[offset + 26] ?? 0
    const table = offset + 27
    if (table + segments > ogg.length) break
    let body = 0
    for (let i = 0; i < segments; i++) body += ogg[table + i] ?? 0
    const payload = table + segments
    if (preSkip === null && ogg.toString('latin1', payload, payload + 8) === 'OpusHead' && payload + 12 <= ogg.length) {
      preSkip = ogg.readUInt16LE(payload + 10)
    }
    // -1 marks a page on which no packet ends; it carries no position.
    const position = ogg.readBigInt64LE(offset + 6)
    if (position >= 0n) granule = position
    offset = payload + body
  }
  if (preSkip === null || granule === null) return null
  const samples = Number(granule) - preSkip
  return samples > 0 ? samples / 48_000 : null
}
