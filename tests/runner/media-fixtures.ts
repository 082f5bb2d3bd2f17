import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Db } from '../../db/driver.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { insertMedia } from '../../db/queries/media.js'
import type { MessageDetails, MessageType } from '../../db/types.js'
import { ffmpegPath } from '../../runner/media/ffmpeg.js'
import { itNeeding } from '../support/prerequisites.js'

/** Files for the message-kind tests: built by hand (PDF, DOCX) or by ffmpeg (MP4, MP3, OGG/Opus), all real. */

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/**
 * A real, uncompressed PDF with one text page per entry (a viewer opens it); `padTo` appends a comment block so the
 * file reaches that size (a large document for the bench and the kill test) while staying valid.
 */
export function buildPdf(pages: string[], padTo = 0): Buffer {
  const objects: string[] = []
  const pageIds = pages.map((_, i) => 4 + i * 2)
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>'
  objects[2] = `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${pages.length} >>`
  objects[3] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'
  pages.forEach((text, i) => {
    const stream = `BT /F1 24 Tf 72 720 Td (${text.replace(/[()\\]/g, (c) => `\\${c}`)}) Tj ET`
    objects[pageIds[i]!] =
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> ' +
      `/Contents ${pageIds[i]! + 1} 0 R >>`
    objects[pageIds[i]! + 1] = `<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}\nendstream`
  })
  let body = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n'
  const offsets: number[] = []
  for (let id = 1; id < objects.length; id++) {
    offsets[id] = Buffer.byteLength(body, 'latin1')
    body += `${id} 0 obj\n${objects[id]}\nendobj\n`
  }
  if (padTo > 0) {
    // Comment lines are ignored by every reader; the xref offsets below stay right because they follow.
    const line = `%${'0123456789abcdef'.repeat(4)}\n`
    const missing = Math.max(0, padTo - Buffer.byteLength(body, 'latin1') - 200)
    body += line.repeat(Math.ceil(missing / line.length))
  }
  const xref = Buffer.byteLength(body, 'latin1')
  body += `xref\n0 ${objects.length}\n0000000000 65535 f \n`
  for (let id = 1; id < objects.length; id++) body += `${String(offsets[id]).padStart(10, '0')} 00000 n \n`
  body += `trailer\n<< /Size ${objects.length} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(body, 'latin1')
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(bytes: Buffer): number {
  let c = 0xffffffff
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** A ZIP of stored (uncompressed) entries: local headers, central directory, end record. */
function zipStored(entries: Array<[string, string]>): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const [name, text] of entries) {
    const data = Buffer.from(text, 'utf8')
    const fileName = Buffer.from(name, 'utf8')
    const crc = crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(fileName.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(fileName.length, 28)
    central.writeUInt32LE(offset, 42)
    locals.push(local, fileName, data)
    centrals.push(central, fileName)
    offset += local.length + fileName.length + data.length
  }
  const directory = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, directory, end])
}

/** A minimal Word document (a real DOCX: the three parts Word needs, in a ZIP). */
export function buildDocx(paragraph: string): Buffer {
  return zipStored([
    [
      '[Content_Types].xml',
      '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
        '<Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    ],
    [
      '_rels/.rels',
      '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
    ],
    [
      'word/document.xml',
      '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">' +
        `<w:body><w:p><w:r><w:t>${paragraph}</w:t></w:r></w:p></w:body></w:document>`,
    ],
  ])
}

export const DOCX_MIME = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'

/** `it` for a test that makes its media with these fixtures (or converts it): skipped, saying why, without ffmpeg. */
export const itWithFfmpeg = itNeeding('ffmpeg')

/** Runs ffmpeg with `args` writing `out` in a scratch directory and returns the file's bytes. */
async function ffmpegMake(args: string[], out: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'kinds-fixture-'))
  try {
    const path = join(dir, out)
    await promisify(execFile)(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-y', ...args, path])
    return await readFile(path)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** 2 s of a test pattern with a tone, H.264 + AAC in MP4. */
export const makeMp4 = () =>
  ffmpegMake([
    '-f', 'lavfi', '-i', 'testsrc=duration=2:size=320x240:rate=15', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2',
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast', '-c:a', 'aac', '-shortest', '-movflags', '+faststart',
  ], 'clip.mp4')

/** 3 s of a tone as MP3. */
export const makeMp3 = () => ffmpegMake(['-f', 'lavfi', '-i', 'sine=frequency=330:duration=3', '-c:a', 'libmp3lame', '-b:a', '64k'], 'tone.mp3')

/** 2 s of a tone as OGG/Opus, mono: already a voice note. */
export const makeOggOpus = () =>
  ffmpegMake(['-f', 'lavfi', '-i', 'sine=frequency=520:duration=2', '-ac', '1', '-c:a', 'libopus', '-b:a', '24k'], 'note.ogg')

/** Stores `bytes` and queues one message of `type` for them, in one transaction (as the API does). */
export async function enqueueMedia(
  db: Db,
  input: { session?: string; phone: string; type: MessageType; bytes: Buffer; mime: string; body?: string | null; details?: MessageDetails | null },
): Promise<{ id: number; mediaId: number }> {
  return db.transaction(async (tx) => {
    const mediaId = await insertMedia(tx, { bytes: input.bytes, mime: input.mime, sha256: sha256(input.bytes) })
    const r = await enqueueMessage(tx, {
      session: input.session ?? 'default', phone: input.phone, type: input.type, body: input.body ?? null, mediaId,
      details: input.details ?? null,
    })
    return { id: r.id, mediaId }
  })
}
