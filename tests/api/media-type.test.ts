/**
 * api/media-type.ts against real files: Office documents built as real ZIP archives here, images from sharp, and
 * audio and video encoded by ffmpeg (which must be on the PATH: the tests fail, not skip, without it).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateRawSync } from 'node:zlib'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  extensionForMime,
  FILE_NAME_MAX_BYTES,
  fileExtension,
  isAudioContainer,
  isOpusOgg,
  isVideoContainer,
  sanitizeFileName,
  sniffMediaType,
} from '../../api/media-type.js'

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
const PPTX = 'application/vnd.openxmlformats-officedocument.presentationml.presentation'

const text = (s: string) => new TextEncoder().encode(s)

// --- A small ZIP writer: local headers, deflated data, central directory, end record (APPNOTE 4.3) -----------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(data: Uint8Array): number {
  let c = 0xffffffff
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

interface ZipOptions {
  /** Store (method 0) rather than deflate. */
  stored?: boolean
  /** Sizes in a data descriptor after the data (flag bit 3), as streaming writers do. */
  dataDescriptor?: boolean
  /** Leave out the central directory (a truncated download). */
  truncate?: boolean
}

function zip(entries: Array<[name: string, content: string]>, options: ZipOptions = {}): Uint8Array {
  const parts: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const [name, content] of entries) {
    const nameBytes = Buffer.from(name, 'utf8')
    const raw = Buffer.from(content, 'utf8')
    const stored = options.stored || name === 'mimetype'
    const data = stored ? raw : deflateRawSync(raw)
    const crc = crc32(raw)
    const flags = 0x0800 | (options.dataDescriptor ? 0x08 : 0)
    const method = stored ? 0 : 8
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(flags, 6)
    local.writeUInt16LE(method, 8)
    local.writeUInt32LE(options.dataDescriptor ? 0 : crc, 14)
    local.writeUInt32LE(options.dataDescriptor ? 0 : data.length, 18)
    local.writeUInt32LE(options.dataDescriptor ? 0 : raw.length, 22)
    local.writeUInt16LE(nameBytes.length, 26)
    const descriptor = Buffer.alloc(options.dataDescriptor ? 16 : 0)
    if (options.dataDescriptor) {
      descriptor.writeUInt32LE(0x08074b50, 0)
      descriptor.writeUInt32LE(crc, 4)
      descriptor.writeUInt32LE(data.length, 8)
      descriptor.writeUInt32LE(raw.length, 12)
    }
    parts.push(local, nameBytes, data, descriptor)
    const entry = Buffer.alloc(46)
    entry.writeUInt32LE(0x02014b50, 0)
    entry.writeUInt16LE(20, 4)
    entry.writeUInt16LE(20, 6)
    entry.writeUInt16LE(flags, 8)
    entry.writeUInt16LE(method, 10)
    entry.writeUInt32LE(crc, 16)
    entry.writeUInt32LE(data.length, 20)
    entry.writeUInt32LE(raw.length, 24)
    entry.writeUInt16LE(nameBytes.length, 28)
    entry.writeUInt32LE(offset, 42)
    central.push(entry, nameBytes)
    offset += local.length + nameBytes.length + data.length + descriptor.length
  }
  if (options.truncate) return new Uint8Array(Buffer.concat(parts))
  const directory = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return new Uint8Array(Buffer.concat([...parts, directory, end]))
}

const CONTENT_TYPES = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
const RELS = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>'

/** A minimal Office Open XML package whose main part lives under `folder` (word/, xl/, ppt/). */
function officeZip(folder: string, part: string, options?: ZipOptions): Uint8Array {
  return zip([
    ['[Content_Types].xml', CONTENT_TYPES],
    ['_rels/.rels', RELS],
    [`${folder}/${part}`, '<?xml version="1.0" encoding="UTF-8"?><document>Quote</document>'],
    [`${folder}/_rels/${part}.rels`, RELS],
  ], options)
}

/**
 * A minimal OLE compound file ([MS-CFB], version 3, 512-byte sectors): the header, one FAT sector and a directory
 * holding the root entry and one stream per name. With `chained`, the directory takes two sectors and the stream
 * names sit in the second, reached only by following the FAT.
 */
function oleFile(streams: string[], chained = false): Uint8Array {
  const SECTOR = 512
  const dirSectors = chained ? 2 : 1
  const out = Buffer.alloc(SECTOR * (2 + dirSectors))
  out.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])
  out.writeUInt16LE(0x3e, 0x18)
  out.writeUInt16LE(3, 0x1a)
  out.writeUInt16LE(0xfffe, 0x1c)
  out.writeUInt16LE(9, 0x1e)
  out.writeUInt16LE(6, 0x20)
  out.writeUInt32LE(1, 0x2c) // one FAT sector
  out.writeUInt32LE(1, 0x30) // the directory starts at sector 1
  out.writeUInt32LE(4096, 0x38)
  out.writeUInt32LE(0xfffffffe, 0x3c)
  out.writeUInt32LE(0xfffffffe, 0x44)
  for (let i = 0; i < 109; i++) out.writeUInt32LE(i === 0 ? 0 : 0xffffffff, 0x4c + i * 4)
  // Sector 0 is the FAT: itself, then the directory's chain (1 → 2 → end, or 1 → end).
  const fat = SECTOR
  for (let i = 0; i < 128; i++) out.writeUInt32LE(0xffffffff, fat + i * 4)
  out.writeUInt32LE(0xfffffffd, fat)
  if (chained) {
    out.writeUInt32LE(2, fat + 4)
    out.writeUInt32LE(0xfffffffe, fat + 8)
  } else {
    out.writeUInt32LE(0xfffffffe, fat + 4)
  }
  const entry = (index: number, name: string, type: number) => {
    const at = SECTOR * 2 + index * 128
    const utf16 = Buffer.from(`${name}\0`, 'utf16le')
    utf16.copy(out, at)
    out.writeUInt16LE(utf16.length, at + 0x40)
    out[at + 0x42] = type
  }
  entry(0, 'Root Entry', 5)
  // Padding entries fill the first directory sector when the streams must land in the second.
  const names = chained ? ['\u0001CompObj', '\u0005SummaryInformation', '\u0005DocumentSummaryInformation', ...streams] : streams
  names.forEach((name, i) => entry(i + 1, name, 2))
  return new Uint8Array(out)
}

const MINIMAL_PDF = `%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj
trailer << /Root 1 0 R >>
%%EOF
`

// --- ffmpeg fixtures ---------------------------------------------------------------------------------------------

let workDir = ''

function ffmpegProblem(): string | null {
  const res = spawnSync('ffmpeg', ['-hide_banner', '-version'], { encoding: 'utf8' })
  if (res.error) return `ffmpeg is not on the PATH (${(res.error as NodeJS.ErrnoException).code}); install it with "apt-get install ffmpeg"`
  return res.status === 0 ? null : `ffmpeg -version failed: ${res.stderr}`
}

/** Encodes a short test tone (and picture) with ffmpeg and returns the file's bytes. */
function encode(file: string, args: string[]): Uint8Array {
  const out = join(workDir, file)
  const res = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args, out], { encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`ffmpeg could not make ${file}: ${res.error?.message ?? res.stderr}`)
  return new Uint8Array(readFileSync(out))
}

const TONE = ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=0.5']
const PICTURE = ['-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=10:duration=0.5']

const media: Record<string, Uint8Array> = {}

describe('sniffMediaType: documents', () => {
  it('reads a PDF from its header, whatever the name says', () => {
    expect(sniffMediaType(text(MINIMAL_PDF), 'report.pdf')).toEqual({ mime: 'application/pdf', kind: 'document' })
    expect(sniffMediaType(text(MINIMAL_PDF), 'renamed.docx')).toEqual({ mime: 'application/pdf', kind: 'document' })
    expect(sniffMediaType(text(`\r\n${MINIMAL_PDF}`))).toEqual({ mime: 'application/pdf', kind: 'document' })
  })

  it('tells DOCX, XLSX and PPTX apart by their entries, from the central directory or the local headers', () => {
    expect(sniffMediaType(officeZip('word', 'document.xml'), 'Quote')).toEqual({ mime: DOCX, kind: 'document' })
    expect(sniffMediaType(officeZip('xl', 'workbook.xml'))).toEqual({ mime: XLSX, kind: 'document' })
    expect(sniffMediaType(officeZip('ppt', 'presentation.xml'))).toEqual({ mime: PPTX, kind: 'document' })
    // Streamed (sizes after the data): only the central directory lists the later entries.
    expect(sniffMediaType(officeZip('word', 'document.xml', { dataDescriptor: true })).mime).toBe(DOCX)
    // Cut before the central directory: the local headers are walked instead.
    expect(sniffMediaType(officeZip('xl', 'workbook.xml', { truncate: true })).mime).toBe(XLSX)
    // A name saying .docx does not make a ZIP of something else a document.
    expect(sniffMediaType(zip([['word/notes.txt', 'hi']]), 'fake.docx')).toEqual({ mime: 'application/zip', kind: 'document' })
    expect(sniffMediaType(zip([['photos/a.txt', 'a'], ['photos/b.txt', 'b']], { stored: true }))).toEqual({ mime: 'application/zip', kind: 'document' })
  })

  it('reads the declared type of OpenDocument and EPUB files', () => {
    const odt = zip([['mimetype', 'application/vnd.oasis.opendocument.text'], ['content.xml', '<office:document-content/>']])
    expect(sniffMediaType(odt, 'letter.zip')).toEqual({ mime: 'application/vnd.oasis.opendocument.text', kind: 'document' })
    const epub = zip([['mimetype', 'application/epub+zip'], ['META-INF/container.xml', '<container/>']])
    expect(sniffMediaType(epub).mime).toBe('application/epub+zip')
    // Anything else in a mimetype entry is not believed.
    expect(sniffMediaType(zip([['mimetype', 'video/mp4'], ['a', 'b']])).mime).toBe('application/zip')
  })

  it('names legacy OLE Office files by the streams in their directory, whatever their name', () => {
    expect(sniffMediaType(oleFile(['WordDocument', '1Table']), 'letter')).toEqual({ mime: 'application/msword', kind: 'document' })
    expect(sniffMediaType(oleFile(['Workbook']), 'renamed.doc').mime).toBe('application/vnd.ms-excel')
    expect(sniffMediaType(oleFile(['Current User', 'PowerPoint Document'])).mime).toBe('application/vnd.ms-powerpoint')
    expect(sniffMediaType(oleFile(['__substg1.0_0037001F'])).mime).toBe('application/vnd.ms-outlook')
    // The stream is in the directory's second sector: found by following the FAT chain.
    expect(sniffMediaType(oleFile(['WordDocument'], true)).mime).toBe('application/msword')
  })

  it('names OLE files whose directory says nothing by their extension, and only legacy Office ones', () => {
    const unknown = oleFile(['Contents'])
    expect(sniffMediaType(unknown, 'old.DOC')).toEqual({ mime: 'application/msword', kind: 'document' })
    expect(sniffMediaType(unknown, 'sheet.xls').mime).toBe('application/vnd.ms-excel')
    expect(sniffMediaType(unknown, 'slides.ppt').mime).toBe('application/vnd.ms-powerpoint')
    expect(sniffMediaType(unknown, 'mystery.bin').mime).toBe('application/x-ole-storage')
    // Only the signature, the rest cut off or zeroed: the directory cannot be read.
    const bare = new Uint8Array(1024)
    bare.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])
    expect(sniffMediaType(bare, 'sheet.xls').mime).toBe('application/vnd.ms-excel')
    expect(sniffMediaType(bare).mime).toBe('application/x-ole-storage')
    expect(sniffMediaType(oleFile(['WordDocument']).subarray(0, 600)).mime).toBe('application/x-ole-storage')
  })

  it('calls valid UTF-8 text CSV when it is named .csv, and plain text otherwise', () => {
    const csv = text('name,phone\nRana,+9613000000\nÉlodie,+33612345678\n')
    expect(sniffMediaType(csv, 'contacts.csv')).toEqual({ mime: 'text/csv', kind: 'document' })
    expect(sniffMediaType(csv, 'contacts.CSV').mime).toBe('text/csv')
    expect(sniffMediaType(csv, 'contacts')).toEqual({ mime: 'text/plain', kind: 'document' })
    expect(sniffMediaType(csv, 'contacts.exe').mime).toBe('text/plain')
  })

  it('accepts a character cut at the end of the 4 KB probe, and refuses NULs and invalid UTF-8', () => {
    // 4095 ASCII bytes then "é" (2 bytes): the probe ends inside the character.
    const cut = text(`${'a'.repeat(4095)}é and more text after the probe`)
    expect(sniffMediaType(cut).mime).toBe('text/plain')
    const withNul = text('name,phone\n\u0000\n')
    expect(sniffMediaType(withNul).mime).toBe('application/octet-stream')
    // Not text by its bytes (UTF-16, say): the name's extension is all that is left to go by.
    expect(sniffMediaType(withNul, 'x.csv').mime).toBe('text/csv')
    const latin1 = new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]) // "café" in Latin-1
    expect(sniffMediaType(latin1).mime).toBe('application/octet-stream')
    // Past the probe, anything goes: only the first 4 KB are read.
    const lateBinary = new Uint8Array(5000).fill(0x61)
    lateBinary[4500] = 0
    expect(sniffMediaType(lateBinary).mime).toBe('text/plain')
  })

  it('falls back to a document extension, never to a media one, then to octet-stream', () => {
    const noise = new Uint8Array([0x00, 0x13, 0x37, 0x00, 0xee, 0x01, 0x02, 0x03])
    expect(sniffMediaType(noise, 'old.doc')).toEqual({ mime: 'application/msword', kind: 'document' })
    expect(sniffMediaType(noise, 'archive.rar').mime).toBe('application/vnd.rar')
    expect(sniffMediaType(noise, 'song.mp3')).toEqual({ mime: 'application/octet-stream', kind: 'document' })
    expect(sniffMediaType(noise, 'clip.mp4')).toEqual({ mime: 'application/octet-stream', kind: 'document' })
    expect(sniffMediaType(noise, 'photo.jpg')).toEqual({ mime: 'application/octet-stream', kind: 'document' })
    expect(sniffMediaType(noise)).toEqual({ mime: 'application/octet-stream', kind: 'document' })
    expect(sniffMediaType(new Uint8Array(0), 'empty.pdf').mime).toBe('application/pdf')
    expect(sniffMediaType(new Uint8Array(0)).mime).toBe('application/octet-stream')
  })

  it('knows a few archive and document signatures beyond Office', () => {
    expect(sniffMediaType(text('{\\rtf1\\ansi Hello}')).mime).toBe('application/rtf')
    expect(sniffMediaType(new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0])).mime).toBe('application/gzip')
    expect(sniffMediaType(new Uint8Array([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00])).mime).toBe('application/vnd.rar')
    expect(sniffMediaType(new Uint8Array([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4])).mime).toBe('application/x-7z-compressed')
  })
})

describe('sniffMediaType: images', () => {
  it('reads JPEG, PNG, GIF and WEBP from their headers', async () => {
    const base = sharp({ create: { width: 8, height: 8, channels: 3, background: '#08c' } })
    expect(sniffMediaType(await base.clone().jpeg().toBuffer(), 'x.pdf')).toEqual({ mime: 'image/jpeg', kind: 'image' })
    expect(sniffMediaType(await base.clone().png().toBuffer())).toEqual({ mime: 'image/png', kind: 'image' })
    expect(sniffMediaType(await base.clone().gif().toBuffer())).toEqual({ mime: 'image/gif', kind: 'image' })
    expect(sniffMediaType(await base.clone().webp().toBuffer())).toEqual({ mime: 'image/webp', kind: 'image' })
  })
})

describe('sniffMediaType: video and audio made by ffmpeg', () => {
  beforeAll(() => {
    const problem = ffmpegProblem()
    if (problem) throw new Error(`These tests need ffmpeg to encode their audio and video fixtures: ${problem}`)
    workDir = mkdtempSync(join(tmpdir(), 'media-type-'))
    media.mp4 = encode('clip.mp4', [...PICTURE, ...TONE, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest'])
    media.mp4Faststart = encode('faststart.mp4', [...PICTURE, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'])
    media.threeGp = encode('clip.3gp', [...PICTURE, ...TONE, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest'])
    media.mov = encode('clip.mov', [...PICTURE, '-c:v', 'libx264', '-pix_fmt', 'yuv420p'])
    media.m4a = encode('tone.m4a', [...TONE, '-c:a', 'aac'])
    media.audioOnlyMp4 = encode('tone.mp4', [...TONE, '-c:a', 'aac'])
    media.opus = encode('voice.ogg', [...TONE, '-c:a', 'libopus'])
    media.vorbis = encode('tone.ogg', [...TONE, '-c:a', 'libvorbis'])
    media.mp3 = encode('tone.mp3', [...TONE, '-c:a', 'libmp3lame'])
    media.mp3Bare = encode('bare.mp3', [...TONE, '-c:a', 'libmp3lame', '-id3v2_version', '0', '-write_xing', '0'])
    media.wav = encode('tone.wav', TONE)
    media.aac = encode('tone.aac', [...TONE, '-c:a', 'aac', '-f', 'adts'])
    media.flac = encode('tone.flac', TONE)
  }, 60_000)

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true })
  })

  it('reads MP4, 3GP and QuickTime from the ftyp brand and the tracks', () => {
    expect(sniffMediaType(media.mp4!, 'clip.bin')).toEqual({ mime: 'video/mp4', kind: 'video' })
    expect(sniffMediaType(media.mp4Faststart!)).toEqual({ mime: 'video/mp4', kind: 'video' })
    expect(sniffMediaType(media.threeGp!)).toEqual({ mime: 'video/3gpp', kind: 'video' })
    expect(sniffMediaType(media.mov!)).toEqual({ mime: 'video/quicktime', kind: 'video' })
    expect(isVideoContainer(media.mp4!)).toBe(true)
    expect(isVideoContainer(media.mp4Faststart!)).toBe(true)
    expect(isVideoContainer(media.threeGp!)).toBe(true)
    expect(isVideoContainer(media.mov!)).toBe(false)
    expect(isAudioContainer(media.mp4!)).toBe(false)
  })

  it('calls MP4 audio (an M4A brand, or sound tracks only) audio/mp4', () => {
    expect(sniffMediaType(media.m4a!)).toEqual({ mime: 'audio/mp4', kind: 'audio' })
    expect(String.fromCharCode(...media.audioOnlyMp4!.subarray(8, 12))).toBe('isom')
    expect(sniffMediaType(media.audioOnlyMp4!)).toEqual({ mime: 'audio/mp4', kind: 'audio' })
    expect(isVideoContainer(media.m4a!)).toBe(false)
    expect(isVideoContainer(media.audioOnlyMp4!)).toBe(false)
    expect(isAudioContainer(media.m4a!)).toBe(true)
  })

  it('tells Ogg Opus from Ogg Vorbis', () => {
    expect(sniffMediaType(media.opus!, 'voice.opus')).toEqual({ mime: 'audio/ogg; codecs=opus', kind: 'audio' })
    expect(sniffMediaType(media.vorbis!)).toEqual({ mime: 'audio/ogg', kind: 'audio' })
    expect(isOpusOgg(media.opus!)).toBe(true)
    expect(isOpusOgg(media.vorbis!)).toBe(false)
    expect(isOpusOgg(media.mp3!)).toBe(false)
    expect(isAudioContainer(media.opus!)).toBe(true)
    expect(isAudioContainer(media.vorbis!)).toBe(true)
  })

  it('reads MP3 with an ID3 tag and without one (frame sync), AAC ADTS, WAV and FLAC', () => {
    expect(String.fromCharCode(...media.mp3!.subarray(0, 3))).toBe('ID3')
    expect(sniffMediaType(media.mp3!)).toEqual({ mime: 'audio/mpeg', kind: 'audio' })
    expect(media.mp3Bare![0]).toBe(0xff)
    expect(sniffMediaType(media.mp3Bare!)).toEqual({ mime: 'audio/mpeg', kind: 'audio' })
    expect(sniffMediaType(media.aac!)).toEqual({ mime: 'audio/aac', kind: 'audio' })
    expect(sniffMediaType(media.wav!)).toEqual({ mime: 'audio/wav', kind: 'audio' })
    expect(sniffMediaType(media.flac!)).toEqual({ mime: 'audio/flac', kind: 'audio' })
    for (const name of ['mp3', 'mp3Bare', 'aac', 'wav', 'flac']) expect(isAudioContainer(media[name]!), name).toBe(true)
    for (const name of ['mp3', 'aac', 'wav', 'opus']) expect(isVideoContainer(media[name]!), name).toBe(false)
  })

  it('does not take two bytes of frame sync followed by noise for MP3', () => {
    const fake = new Uint8Array(2000).fill(0x55)
    fake.set([0xff, 0xfb, 0x90, 0x64]) // a valid MPEG-1 layer III header, 128 kbit/s, 44.1 kHz
    expect(sniffMediaType(fake).mime).toBe('application/octet-stream')
    // The same header followed by a second frame where the first one ends (417 bytes later) is MP3.
    fake.set([0xff, 0xfb, 0x90, 0x64], 417)
    expect(sniffMediaType(fake).mime).toBe('audio/mpeg')
  })

  it('reads AMR from its magic line', () => {
    expect(sniffMediaType(new Uint8Array([...text('#!AMR\n'), 0x3c, 0x48, 0xf5]))).toEqual({ mime: 'audio/amr', kind: 'audio' })
    expect(sniffMediaType(new Uint8Array([...text('#!AMR-WB\n'), 0x2c]))).toEqual({ mime: 'audio/amr-wb', kind: 'audio' })
  })

  it('does not call documents and images audio or video', () => {
    for (const bytes of [text(MINIMAL_PDF), officeZip('word', 'document.xml'), text('plain words')]) {
      expect(isAudioContainer(bytes)).toBe(false)
      expect(isVideoContainer(bytes)).toBe(false)
      expect(isOpusOgg(bytes)).toBe(false)
    }
  })
})

describe('sanitizeFileName', () => {
  it('keeps an ordinary name as it is', () => {
    expect(sanitizeFileName('Quote 2026-12 (final).pdf', 'application/pdf')).toBe('Quote 2026-12 (final).pdf')
    expect(sanitizeFileName('Élodie — ملف.docx', DOCX)).toBe('Élodie — ملف.docx')
  })

  it('strips path components of either separator', () => {
    expect(sanitizeFileName('../../etc/passwd', 'text/plain')).toBe('passwd.txt')
    expect(sanitizeFileName('C:\\Users\\me\\Desktop\\report.pdf', 'application/pdf')).toBe('report.pdf')
    expect(sanitizeFileName('..\\..\\windows\\system32\\evil.dll', 'application/octet-stream')).toBe('evil.dll')
    expect(sanitizeFileName('folder/', 'application/pdf')).toBe('file.pdf')
  })

  it('removes control, bidirectional and zero-width characters, quotes and reserved characters', () => {
    expect(sanitizeFileName('a\u0000b\nc\u007f\u009bd.pdf', 'application/pdf')).toBe('a b c d.pdf')
    // Shown as "invoiceexe.pdf" by a bidi-aware viewer without the cleanup.
    expect(sanitizeFileName('invoice\u202Efdp.exe', 'application/pdf')).toBe('invoicefdp.exe')
    expect(sanitizeFileName('zero\u200Bwidth\uFEFF.txt', 'text/plain')).toBe('zerowidth.txt')
    // Joiners are part of words and emoji: کتاب‌ها ("books") and a family emoji keep theirs.
    expect(sanitizeFileName('\u06a9\u062a\u0627\u0628\u200c\u0647\u0627 \u{1f468}\u200d\u{1f469}\u200d\u{1f467}.pdf', 'application/pdf')).toBe(
      '\u06a9\u062a\u0627\u0628\u200c\u0647\u0627 \u{1f468}\u200d\u{1f469}\u200d\u{1f467}.pdf',
    )
    expect(sanitizeFileName('what?<are>:"these"|*.pdf', 'application/pdf')).toBe('whatarethese.pdf')
    expect(sanitizeFileName("it's `quoted`.pdf", 'application/pdf')).toBe('its quoted.pdf')
  })

  it('collapses whitespace and removes leading dots and trailing dots and spaces', () => {
    expect(sanitizeFileName('  many   spaces\t\there .pdf ', 'application/pdf')).toBe('many spaces here.pdf')
    expect(sanitizeFileName('.htaccess', 'text/plain')).toBe('htaccess.txt')
    expect(sanitizeFileName('...hidden.pdf', 'application/pdf')).toBe('hidden.pdf')
    expect(sanitizeFileName('report.', 'application/pdf')).toBe('report.pdf')
    expect(sanitizeFileName('report... .pdf', 'application/pdf')).toBe('report.pdf')
  })

  it('is never empty, and adds the MIME type\'s extension to a name without one', () => {
    expect(sanitizeFileName('', 'application/pdf')).toBe('file.pdf')
    expect(sanitizeFileName(null, DOCX)).toBe('file.docx')
    expect(sanitizeFileName(undefined, 'application/octet-stream')).toBe('file.bin')
    expect(sanitizeFileName('...', 'text/csv')).toBe('file.csv')
    expect(sanitizeFileName('"<>|', 'audio/ogg; codecs=opus')).toBe('file.ogg')
    expect(sanitizeFileName('.pdf', 'application/pdf')).toBe('pdf.pdf')
    expect(sanitizeFileName('report', DOCX)).toBe('report.docx')
    expect(sanitizeFileName('Price list 1.2', 'application/pdf')).toBe('Price list 1.2.pdf')
  })

  it('renames Windows device names', () => {
    expect(sanitizeFileName('CON.txt', 'text/plain')).toBe('CON_.txt')
    expect(sanitizeFileName('lpt1', 'application/pdf')).toBe('lpt1_.pdf')
    expect(sanitizeFileName('console.txt', 'text/plain')).toBe('console.txt')
  })

  it('limits the name to 200 UTF-8 bytes, keeping the extension and whole characters', () => {
    const bytes = (s: string) => new TextEncoder().encode(s).length
    const long = sanitizeFileName(`${'é'.repeat(300)}.pdf`, 'application/pdf')
    expect(bytes(long)).toBeLessThanOrEqual(FILE_NAME_MAX_BYTES)
    expect(long).toMatch(/^é+\.pdf$/)
    const emoji = sanitizeFileName(`${'😀'.repeat(100)}.xlsx`, XLSX)
    expect(bytes(emoji)).toBeLessThanOrEqual(FILE_NAME_MAX_BYTES)
    expect(emoji).toMatch(/^(😀)+\.xlsx$/u)
    expect(emoji).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/)
    const noExtension = sanitizeFileName('x'.repeat(500), 'application/pdf')
    expect(noExtension).toBe(`${'x'.repeat(196)}.pdf`)
  })

  it('drops lone surrogates and composes characters (NFC)', () => {
    expect(sanitizeFileName('bad\uD800name.txt', 'text/plain')).toBe('badname.txt')
    expect(sanitizeFileName('cafe\u0301.txt', 'text/plain')).toBe('caf\u00e9.txt')
  })
})

describe('fileExtension and extensionForMime', () => {
  it('reads a lower-case extension with at least one letter', () => {
    expect(fileExtension('Report.PDF')).toBe('pdf')
    expect(fileExtension('archive.tar.gz')).toBe('gz')
    expect(fileExtension('backup.7z')).toBe('7z')
    expect(fileExtension('version 1.2')).toBe('')
    expect(fileExtension('dir.d/README')).toBe('')
    expect(fileExtension(null)).toBe('')
  })

  it('maps a MIME type, parameters ignored, to its usual extension', () => {
    expect(extensionForMime('audio/ogg; codecs=opus')).toBe('ogg')
    expect(extensionForMime('VIDEO/MP4')).toBe('mp4')
    expect(extensionForMime(PPTX)).toBe('pptx')
    expect(extensionForMime('application/x-unknown')).toBe('bin')
  })
})
