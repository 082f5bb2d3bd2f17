/**
 * runner/media/ffmpeg.ts against the real ffmpeg and ffprobe, on fixtures ffmpeg makes here: a test pattern video,
 * a 440 Hz tone in MP3, WAV, M4A and OGG/Vorbis, and bytes that are no media at all.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  FfmpegMissingError,
  ffmpegAvailable,
  ffmpegPath,
  ffprobePath,
  MediaConversionError,
  probeMedia,
  toVoiceNote,
  videoThumbnail,
} from '../../runner/media/ffmpeg.js'
import { skipReason } from '../support/prerequisites.js'

const noFfmpeg = skipReason('ffmpeg')
const GARBAGE = Buffer.from('this is a text file pretending to be media '.repeat(100))
const TONE = ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2']
const PATTERN = ['-f', 'lavfi', '-i', 'testsrc=duration=2:size=320x240:rate=10']

describe('media paths', () => {
  it('are FFMPEG_PATH and FFPROBE_PATH, else the bare names for a PATH lookup', () => {
    expect(ffmpegPath({})).toBe('ffmpeg')
    expect(ffprobePath({})).toBe('ffprobe')
    expect(ffmpegPath({ FFMPEG_PATH: '' })).toBe('ffmpeg')
    expect(ffmpegPath({ FFMPEG_PATH: '/opt/ffmpeg/bin/ffmpeg' })).toBe('/opt/ffmpeg/bin/ffmpeg')
    expect(ffprobePath({ FFPROBE_PATH: '/opt/ffmpeg/bin/ffprobe' })).toBe('/opt/ffmpeg/bin/ffprobe')
  })
})

describe.skipIf(Boolean(noFfmpeg))(noFfmpeg ? `ffmpeg media [${noFfmpeg}]` : 'ffmpeg media', () => {
  let fixtures: string
  /** The module's scratch directories land here (os.tmpdir() reads TMPDIR), so a leftover is seen. */
  let scratch: string
  const savedEnv = { ...process.env }
  /**
   * Puts the environment back as it was, plus `extra`, on process.env itself: replacing the object would leave the
   * process's real environment (which os.tmpdir() reads) pointing at a scratch directory the next file never made.
   */
  const restoreEnv = (extra: Record<string, string>) => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key]
    Object.assign(process.env, savedEnv, extra)
  }
  const file: Record<string, Buffer> = {}

  const make = (name: string, args: string[]) => {
    const path = join(fixtures, name)
    execFileSync(ffmpegPath(), ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args, path])
    file[name] = readFileSync(path)
  }
  /** channels, sample rate and codec of an audio file, straight from ffprobe. */
  const audioStream = (bytes: Buffer) => {
    const path = join(fixtures, 'probe-me')
    writeFileSync(path, bytes)
    const out = execFileSync(ffprobePath(), ['-v', 'error', '-print_format', 'json', '-show_streams', path], { encoding: 'utf8' })
    return JSON.parse(out).streams[0]
  }

  beforeAll(() => {
    fixtures = mkdtempSync(join(tmpdir(), 'wa-test-media-'))
    scratch = mkdtempSync(join(tmpdir(), 'wa-test-media-scratch-'))
    make('video.mp4', [...PATTERN, '-c:v', 'libx264', '-pix_fmt', 'yuv420p'])
    make('short.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=0.5:size=320x240:rate=10', '-c:v', 'libx264', '-pix_fmt', 'yuv420p'])
    make('talking.mp4', [...PATTERN, ...TONE, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest'])
    make('tone.mp3', TONE)
    make('tone.wav', TONE)
    make('tone.m4a', [...TONE, '-c:a', 'aac'])
    make('tone.ogg', [...TONE, '-c:a', 'libvorbis'])
    // An MP3 with cover art: ffprobe lists the picture as a video stream.
    make('cover.mp3', [...TONE, '-f', 'lavfi', '-i', 'color=red:size=64x64:d=1', '-map', '0:a', '-map', '1:v',
      '-frames:v', '1', '-c:v', 'mjpeg', '-disposition:v', 'attached_pic', '-id3v2_version', '3'])
    process.env.TMPDIR = scratch
  })
  afterEach(() => {
    restoreEnv({ TMPDIR: scratch })
    expect(readdirSync(scratch)).toEqual([])
  })
  afterAll(() => {
    restoreEnv({})
    rmSync(fixtures, { recursive: true, force: true })
    rmSync(scratch, { recursive: true, force: true })
  })

  it('finds ffmpeg and ffprobe', async () => {
    expect(await ffmpegAvailable()).toBe(true)
  })

  it('probes a video: duration, size, codec, no audio', async () => {
    const p = await probeMedia(file['video.mp4']!)
    expect(Math.abs(p.seconds! - 2)).toBeLessThanOrEqual(0.2)
    expect(p).toMatchObject({ width: 320, height: 240, hasVideo: true, hasAudio: false, codec: 'h264' })
    expect(await probeMedia(file['talking.mp4']!)).toMatchObject({ hasVideo: true, hasAudio: true, codec: 'h264' })
  })

  it('probes audio, and cover art is not video', async () => {
    for (const [name, codec] of [['tone.mp3', 'mp3'], ['tone.wav', 'pcm_s16le'], ['tone.m4a', 'aac'], ['tone.ogg', 'vorbis'], ['cover.mp3', 'mp3']]) {
      const p = await probeMedia(file[name!]!)
      expect(p, name).toMatchObject({ hasVideo: false, hasAudio: true, codec, width: null, height: null })
      expect(Math.abs(p.seconds! - 2), name).toBeLessThanOrEqual(0.2)
    }
  })

  it('refuses to probe bytes that are no media', async () => {
    const err = await probeMedia(GARBAGE).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MediaConversionError)
    expect((err as Error).message).toMatch(/^media cannot be read: /)
    // The last stderr line names the input without the private directory's path.
    expect((err as Error).message).not.toContain(scratch)
  })

  it('makes a JPEG thumbnail about 1 s in, within maxEdge and never enlarged', async () => {
    const full = await videoThumbnail(file['video.mp4']!)
    expect(full!.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]))
    expect(await sharp(full!).metadata()).toMatchObject({ format: 'jpeg', width: 320, height: 240 })

    const small = await videoThumbnail(file['video.mp4']!, 99)
    const meta = await sharp(small!).metadata()
    expect(meta.format).toBe('jpeg')
    expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(99)
    expect(meta.width).toBe(99)

    expect((await sharp((await videoThumbnail(file['video.mp4']!, 1000))!).metadata()).width).toBe(320)
  })

  it('takes the first frame of a video shorter than a second, and a later one otherwise', async () => {
    const first = await videoThumbnail(file['short.mp4']!)
    expect(first!.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]))
    // Both videos start with the same frames; the 2-second one's thumbnail is a later frame, so it differs.
    const later = await videoThumbnail(file['video.mp4']!)
    expect(later!.equals(first!)).toBe(false)
  })

  it('gives no thumbnail for audio or for bytes that are no media', async () => {
    expect(await videoThumbnail(file['tone.mp3']!)).toBeNull()
    expect(await videoThumbnail(Buffer.alloc(0))).toBeNull()
    expect(await videoThumbnail(GARBAGE)).toBeNull()
  })

  it.each(['tone.mp3', 'tone.wav', 'tone.m4a', 'tone.ogg', 'cover.mp3', 'talking.mp4'])(
    'turns %s into an OGG/Opus mono 48 kHz voice note',
    async (name) => {
        const { ogg, seconds } = await toVoiceNote(file[name]!)
      expect(ogg.subarray(0, 4).toString('latin1')).toBe('OggS')
      expect(ogg.includes('OpusHead')).toBe(true)
      expect(Math.abs(seconds! - 2)).toBeLessThanOrEqual(0.2)
      expect(audioStream(ogg)).toMatchObject({ codec_name: 'opus', channels: 1, sample_rate: '48000' })
      // The length read from the Ogg pages agrees with ffprobe's.
      expect(Math.abs((await probeMedia(ogg)).seconds! - seconds!)).toBeLessThanOrEqual(0.05)
    },
  )

  it('refuses to make a voice note of bytes that are no media, or of a video without sound', async () => {
    for (const bytes of [GARBAGE, file['video.mp4']!, Buffer.alloc(0)]) {
      const err = await toVoiceNote(bytes).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MediaConversionError)
      expect((err as Error).message).toMatch(/^audio cannot be converted to a voice note: \S/)
      expect((err as Error).message).not.toContain(scratch)
    }
  })

  it('says ffmpeg is missing when FFMPEG_PATH names no binary, and checks again when the path changes', async () => {
    expect(await ffmpegAvailable()).toBe(true)
    process.env.FFMPEG_PATH = join(fixtures, 'no-such-ffmpeg')
    expect(await ffmpegAvailable()).toBe(false)
    await expect(toVoiceNote(file['tone.mp3']!)).rejects.toThrow(FfmpegMissingError)
    await expect(toVoiceNote(file['tone.mp3']!)).rejects.toThrow(/FFMPEG_PATH/)
    await expect(videoThumbnail(file['video.mp4']!)).rejects.toThrow(FfmpegMissingError)
    delete process.env.FFMPEG_PATH
    expect(await ffmpegAvailable()).toBe(true)
  })

  it('says so when ffmpeg was built without libopus, rather than blaming the audio', async () => {
    const withoutOpus = join(fixtures, 'ffmpeg-without-opus')
    writeFileSync(withoutOpus, "#!/bin/sh\necho \"Unknown encoder 'libopus'\" >&2\nexit 1\n", { mode: 0o755 })
    process.env.FFMPEG_PATH = withoutOpus
    await expect(toVoiceNote(file['tone.mp3']!)).rejects.toThrow(FfmpegMissingError)
    await expect(toVoiceNote(file['tone.mp3']!)).rejects.toThrow(/no libopus encoder/)
  })

  it('says ffprobe is missing when FFPROBE_PATH names no binary or a file that cannot run', async () => {
    process.env.FFPROBE_PATH = join(fixtures, 'no-such-ffprobe')
    expect(await ffmpegAvailable()).toBe(false)
    await expect(probeMedia(file['video.mp4']!)).rejects.toThrow(FfmpegMissingError)
    await expect(probeMedia(file['video.mp4']!)).rejects.toThrow(/FFPROBE_PATH/)

    const notExecutable = join(fixtures, 'not-executable')
    writeFileSync(notExecutable, '#!/bin/sh\n')
    chmodSync(notExecutable, 0o644)
    process.env.FFPROBE_PATH = notExecutable
    await expect(probeMedia(file['video.mp4']!)).rejects.toThrow(FfmpegMissingError)
  })
})
