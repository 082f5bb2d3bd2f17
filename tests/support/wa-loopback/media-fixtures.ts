import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

/**
 * Real media for the loopback's message-kind tests: a PDF written out object by object with a correct xref table,
 * and a video and a voice note encoded by ffmpeg. A made-up container would prove nothing about a real phone's view
 * of a real file, so without ffmpeg these fixtures fail with a message saying so instead of skipping.
 */
const run = promisify(execFile)

/** A valid PDF of `pages` pages, each with one line of Helvetica text. */
export function minimalPdf(pages: string[]): Buffer {
  const objects: string[] = []
  const pageIds = pages.map((_, i) => 4 + i * 2)
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>'
  objects[2] = `<< /Type /Pages /Kids [${pageIds.map(id => `${id} 0 R`).join(' ')}] /Count ${pages.length} >>`
  objects[3] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'
  pages.forEach((text, i) => {
    const content = `BT /F1 18 Tf 24 100 Td (${text.replace(/[\\()]/g, c => `\\${c}`)}) Tj ET`
    objects[pageIds[i]!] =
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Resources << /Font << /F1 3 0 R >> >> ' +
      `/Contents ${pageIds[i]! + 1} 0 R >>`
    objects[pageIds[i]! + 1] = `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`
  })
  let pdf = '%PDF-1.4\n'
  const offsets: number[] = []
  for (let id = 1; id < objects.length; id++) {
    offsets[id] = Buffer.byteLength(pdf, 'latin1')
    pdf += `${id} 0 obj\n${objects[id]}\nendobj\n`
  }
  const xrefAt = Buffer.byteLength(pdf, 'latin1')
  pdf += `xref\n0 ${objects.length}\n0000000000 65535 f \n`
  for (let id = 1; id < objects.length; id++) pdf += `${String(offsets[id]).padStart(10, '0')} 00000 n \n`
  pdf += `trailer\n<< /Size ${objects.length} /Root 1 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`
  return Buffer.from(pdf, 'latin1')
}

/** Fails with a clear reason when ffmpeg is missing: these tests do not pass without real media. */
export async function requireFfmpeg(): Promise<void> {
  try {
    await run('ffmpeg', ['-hide_banner', '-version'])
  } catch (err) {
    throw new Error(
      `ffmpeg is required to encode the test video and voice note (apt-get install ffmpeg): ${err instanceof Error ? err.message : err}`
    )
  }
}

export async function ffmpegOutput(args: string[], fileName: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'wa-loopback-media-'))
  try {
    const out = join(dir, fileName)
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', ...args, '-y', out])
    return await readFile(out)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** One second of ffmpeg's test pattern, 160×120 at 10 fps, H.264 in MP4. */
export const testVideoMp4 = () =>
  ffmpegOutput(['-f', 'lavfi', '-i', 'testsrc=duration=1:size=160x120:rate=10', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'], 'video.mp4')

/** One second of a 440 Hz tone as Opus in Ogg, the format of a WhatsApp voice note. */
export const testVoiceNoteOgg = () =>
  ffmpegOutput(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'libopus', '-b:a', '24k'], 'voice.ogg')

/** One second of a 440 Hz tone as MP3: audio that is not a voice note's format. */
export const testMp3 = () => ffmpegOutput(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'libmp3lame', '-b:a', '64k'], 'tone.mp3')
