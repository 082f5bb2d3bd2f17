/**
 * What the Node entry offers media sends (api/routes/send-media.ts): DNS, so that a media URL whose name resolves to
 * a private address is refused before it is fetched, and whether ffmpeg is on the PATH, so that a voice note that is
 * not OGG/Opus is accepted for conversion (the runner converts it) instead of refused. Workers has neither.
 */
import { execFile } from 'node:child_process'
import { lookup } from 'node:dns/promises'
import type { MediaRuntime } from './routes/send-media.js'

/** `ffmpeg -version` once; the answer is kept for the life of the process. */
function ffmpegOnPath(env: NodeJS.ProcessEnv): () => Promise<boolean> {
  let answer: Promise<boolean> | undefined
  return () => {
    answer ??= new Promise((resolve) => {
      execFile(env.FFMPEG_PATH?.trim() || 'ffmpeg', ['-version'], { timeout: 10_000 }, (err) => resolve(!err))
    })
    return answer
  }
}

export function nodeMediaRuntime(env: NodeJS.ProcessEnv = process.env): MediaRuntime {
  return {
    resolveHost: async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address),
    canConvertAudio: ffmpegOnPath(env),
  }
}
