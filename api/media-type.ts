/**
 * A file's media type from its own bytes, for the document, video and audio sends: the bytes decide wherever they
 * say something (a file named `report.pdf` that is really a ZIP is a ZIP), the name's extension only where they say
 * nothing, and `application/octet-stream` when neither does. Web-standard (Node and Workers), no decoder: a few
 * header fields are read, never a whole file parsed.
 *
 * Media extensions (`.mp4`, `.mp3`, `.jpg` …) are never believed on their own: `kind` says image, video or audio only
 * when the bytes do, so a route cannot be talked into sending a renamed file as a voice note or a video. Those
 * files fall back to `application/octet-stream` and are still sendable as documents.
 */
import { sniffImageType } from './image.js'

/** What a route may do with the file: show it inline (image, video), play it (audio), or attach it (document). */
export type MediaKind = 'image' | 'video' | 'audio' | 'document'

export interface SniffedMedia {
  /** The MIME type, with parameters where they matter (`audio/ogg; codecs=opus`). */
  mime: string
  kind: MediaKind
}

export const OCTET_STREAM = 'application/octet-stream'

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
const PPTX = 'application/vnd.openxmlformats-officedocument.presentationml.presentation'
const OPUS_OGG = 'audio/ogg; codecs=opus'

/** How far into a file text detection looks. */
const TEXT_PROBE_BYTES = 4096

function ascii(b: Uint8Array, start: number, length: number): string {
  let s = ''
  for (let i = start; i < start + length && i < b.length; i++) s += String.fromCharCode(b[i]!)
  return s
}

const u16le = (b: Uint8Array, i: number) => b[i]! | (b[i + 1]! << 8)
const u32le = (b: Uint8Array, i: number) => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0
const u32be = (b: Uint8Array, i: number) => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0

function startsWith(b: Uint8Array, bytes: readonly number[], at = 0): boolean {
  if (b.length < at + bytes.length) return false
  return bytes.every((x, i) => b[at + i] === x)
}

// ---------------------------------------------------------------------------------------------------------------
// ZIP: Office Open XML, OpenDocument, EPUB, or a plain archive

/**
 * The entry names of a ZIP archive: from the central directory at its end when it is there (it lists every entry),
 * else by walking the local file headers from the start (a truncated or streamed archive).
 */
function zipEntryNames(b: Uint8Array): string[] {
  return centralDirectoryNames(b) ?? localHeaderNames(b)
}

const utf8Lenient = new TextDecoder('utf-8')

function centralDirectoryNames(b: Uint8Array): string[] | null {
  // The end-of-central-directory record is 22 bytes plus a comment of at most 65,535.
  const floor = Math.max(0, b.length - 22 - 0xffff)
  for (let eocd = b.length - 22; eocd >= floor; eocd--) {
    if (u32le(b, eocd) !== 0x06054b50) continue
    const count = u16le(b, eocd + 10)
    let at = u32le(b, eocd + 16)
    const names: string[] = []
    for (let i = 0; i < count; i++) {
      if (at + 46 > b.length || u32le(b, at) !== 0x02014b50) return null
      const nameLength = u16le(b, at + 28)
      names.push(utf8Lenient.decode(b.subarray(at + 46, at + 46 + nameLength)))
      at += 46 + nameLength + u16le(b, at + 30) + u16le(b, at + 32)
    }
    return names
  }
  return null
}

function localHeaderNames(b: Uint8Array): string[] {
  const names: string[] = []
  let at = 0
  while (at + 30 <= b.length && u32le(b, at) === 0x04034b50 && names.length < 1000) {
    const nameLength = u16le(b, at + 26)
    names.push(utf8Lenient.decode(b.subarray(at + 30, at + 30 + nameLength)))
    // With a data descriptor (flag bit 3) the sizes follow the data, so the next header cannot be found from here.
    if (u16le(b, at + 6) & 0x08) break
    at += 30 + nameLength + u16le(b, at + 28) + u32le(b, at + 18)
  }
  return names
}

/**
 * OpenDocument and EPUB put an uncompressed `mimetype` entry first, its content the type: the format's own way of
 * being recognised from the first bytes.
 */
function zipDeclaredType(b: Uint8Array): string | null {
  if (b.length < 38 || u16le(b, 8) !== 0 || u16le(b, 26) !== 8 || ascii(b, 30, 8) !== 'mimetype') return null
  const start = 30 + 8 + u16le(b, 28)
  const declared = ascii(b, start, Math.min(u32le(b, 18), 100))
  if (declared.startsWith('application/vnd.oasis.opendocument.') && /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(declared)) return declared
  if (declared === 'application/epub+zip') return declared
  return null
}

function zipType(b: Uint8Array): string {
  const declared = zipDeclaredType(b)
  if (declared) return declared
  const names = zipEntryNames(b)
  if (names.includes('[Content_Types].xml')) {
    if (names.some((n) => n.startsWith('word/'))) return DOCX
    if (names.some((n) => n.startsWith('xl/'))) return XLSX
    if (names.some((n) => n.startsWith('ppt/'))) return PPTX
  }
  return 'application/zip'
}

// ---------------------------------------------------------------------------------------------------------------
// ISO base media (MP4, M4A, 3GP, QuickTime, HEIF/AVIF)

/** The `ftyp` box's major and compatible brands, or null when the file does not start with one. */
function ftypBrands(b: Uint8Array): string[] | null {
  if (b.length < 16 || ascii(b, 4, 4) !== 'ftyp') return null
  const size = Math.min(u32be(b, 0), b.length)
  if (size < 16) return null
  const brands = [ascii(b, 8, 4)]
  for (let at = 16; at + 4 <= size; at += 4) brands.push(ascii(b, at, 4))
  return brands
}

/**
 * The handler types of the file's tracks (`vide`, `soun` …), read from moov → trak → mdia → hdlr; empty when the
 * movie box is missing or damaged. The same layout serves MP4 (`hdlr`) and QuickTime (`mhlr` component).
 */
function trackHandlers(b: Uint8Array): string[] {
  const handlers: string[] = []
  const walk = (start: number, end: number, path: readonly string[], depth: number): void => {
    let at = start
    while (at + 8 <= end && depth < 8) {
      let size = u32be(b, at)
      const type = ascii(b, at + 4, 4)
      let header = 8
      if (size === 1) {
        // A 64-bit size; anything past 4 GiB is past the bytes this module ever sees.
        if (at + 16 > end || u32be(b, at + 8) !== 0) return
        size = u32be(b, at + 12)
        header = 16
      } else if (size === 0) {
        size = end - at
      }
      if (size < header || at + size > end) size = end - at
      const want = path[0]
      if (type === want) {
        if (path.length === 1) {
          // version/flags (4), pre_defined or component type (4), then the handler type.
          if (at + header + 12 <= end) handlers.push(ascii(b, at + header + 8, 4))
        } else {
          walk(at + header, at + size, path.slice(1), depth + 1)
        }
      }
      at += size
    }
  }
  walk(0, b.length, ['moov', 'trak', 'mdia', 'hdlr'], 0)
  return handlers
}

const M4A_BRANDS = new Set(['M4A ', 'M4B ', 'M4P ', 'F4A ', 'F4B '])
const MP4_BRANDS = new Set([
  'isom', 'iso2', 'iso3', 'iso4', 'iso5', 'iso6', 'iso7', 'iso8', 'iso9', 'mp41', 'mp42', 'mp71', 'avc1', 'dash',
  'M4V ', 'M4VH', 'M4VP', 'mmp4', 'msnv', 'F4V ', 'f4v ', 'MSNV', 'NDAS', 'XAVC', 'CAEP',
])
const HEIF_BRANDS: Record<string, string> = { heic: 'image/heic', heix: 'image/heic', heim: 'image/heic', heis: 'image/heic', avif: 'image/avif', avis: 'image/avif', mif1: 'image/heif', msf1: 'image/heif' }

type IsoFamily = 'mp4' | '3gpp' | '3gpp2' | 'quicktime'

function isoFamily(brand: string): IsoFamily | null {
  if (brand.startsWith('3g2')) return '3gpp2'
  if (/^3g[pegrs]/.test(brand)) return '3gpp'
  if (brand === 'qt  ') return 'quicktime'
  if (MP4_BRANDS.has(brand) || M4A_BRANDS.has(brand)) return 'mp4'
  return null
}

function isoType(b: Uint8Array): SniffedMedia | null {
  const brands = ftypBrands(b)
  if (!brands) return null
  const major = brands[0]!
  const image = HEIF_BRANDS[major]
  if (image) return { mime: image, kind: 'image' }
  const family = isoFamily(major) ?? brands.slice(1).map(isoFamily).find((f) => f !== null) ?? null
  if (!family) return null
  const handlers = trackHandlers(b)
  // An audio brand (iTunes' M4A), or tracks that are all sound: an audio file, whatever the brand.
  const audioOnly = M4A_BRANDS.has(major) || (handlers.includes('soun') && !handlers.includes('vide'))
  if (audioOnly) {
    return { mime: family === '3gpp' ? 'audio/3gpp' : family === '3gpp2' ? 'audio/3gpp2' : 'audio/mp4', kind: 'audio' }
  }
  const mime = family === 'mp4' ? 'video/mp4' : family === 'quicktime' ? 'video/quicktime' : `video/${family}`
  return { mime, kind: 'video' }
}

// ---------------------------------------------------------------------------------------------------------------
// Ogg, MPEG audio, ADTS

/** The first packet's start of an Ogg stream (its codec's identification header), or null when not Ogg. */
function oggFirstPacket(b: Uint8Array): Uint8Array | null {
  if (b.length < 28 || ascii(b, 0, 4) !== 'OggS') return null
  const segments = b[26]!
  const start = 27 + segments
  return start < b.length ? b.subarray(start) : null
}

function oggType(b: Uint8Array): SniffedMedia | null {
  const packet = oggFirstPacket(b)
  if (!packet) return null
  if (ascii(packet, 0, 8) === 'OpusHead') return { mime: OPUS_OGG, kind: 'audio' }
  if (packet[0] === 0x80 && ascii(packet, 1, 6) === 'theora') return { mime: 'video/ogg', kind: 'video' }
  // Vorbis ("\x01vorbis"), FLAC ("\x7fFLAC"), Speex: all plain audio/ogg.
  return { mime: 'audio/ogg', kind: 'audio' }
}

/** An ADTS frame header (AAC): sync 0xFFF, layer 00, a valid sampling index, a frame length past the header. */
function isAdtsAt(b: Uint8Array, at: number): boolean {
  if (at + 7 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xf6) !== 0xf0) return false
  if (((b[at + 2]! >> 2) & 0x0f) > 12) return false
  const frameLength = ((b[at + 3]! & 0x03) << 11) | (b[at + 4]! << 3) | (b[at + 5]! >> 5)
  return frameLength >= 7
}

const MP3_BITRATES_V1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
const MP3_BITRATES_V2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
const MP3_RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] }

/**
 * The length of the MPEG audio frame starting at `at`, 0 when its header is valid but the length cannot be worked
 * out (layer I/II, free bit rate), or null when there is no valid frame header there.
 */
function mpegFrameAt(b: Uint8Array, at: number): number | null {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xe0) !== 0xe0) return null
  const version = (b[at + 1]! >> 3) & 0x03
  const layer = (b[at + 1]! >> 1) & 0x03
  const bitrateIndex = b[at + 2]! >> 4
  const rateIndex = (b[at + 2]! >> 2) & 0x03
  if (version === 1 || layer === 0 || bitrateIndex === 15 || rateIndex === 3) return null
  if (layer !== 1 || bitrateIndex === 0) return 0
  const bitrate = (version === 3 ? MP3_BITRATES_V1 : MP3_BITRATES_V2)[bitrateIndex]! * 1000
  const rate = MP3_RATES[version]![rateIndex]!
  const padding = (b[at + 2]! >> 1) & 0x01
  return Math.floor(((version === 3 ? 144 : 72) * bitrate) / rate) + padding
}

/** An ID3v2 tag's total length (header included), or 0 when the file does not start with one. */
function id3Length(b: Uint8Array): number {
  if (b.length < 10 || ascii(b, 0, 3) !== 'ID3') return 0
  const size = ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f)
  const footer = b[5]! & 0x10 ? 10 : 0
  return 10 + size + footer
}

function mpegAudioType(b: Uint8Array): SniffedMedia | null {
  const tag = id3Length(b)
  if (tag > 0) {
    // What follows the tag decides between AAC and MP3; a tag alone (or an unreadable frame after it) is MP3's.
    return isAdtsAt(b, tag) ? { mime: 'audio/aac', kind: 'audio' } : { mime: 'audio/mpeg', kind: 'audio' }
  }
  if (isAdtsAt(b, 0)) return { mime: 'audio/aac', kind: 'audio' }
  const length = mpegFrameAt(b, 0)
  if (length === null) return null
  // Two bytes of sync are easy to meet by chance: when the first frame's length is known and the file goes on past
  // it, the next frame must start there too.
  if (length > 0 && b.length >= length + 4 && mpegFrameAt(b, length) === null) return null
  return { mime: 'audio/mpeg', kind: 'audio' }
}

// ---------------------------------------------------------------------------------------------------------------
// Text

const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/**
 * Valid UTF-8 in the first 4 KB (a character cut at the probe's end is allowed), without NULs or the control
 * characters text never holds (tab, line feed, form feed, carriage return and escape are fine).
 */
function looksLikeText(b: Uint8Array): boolean {
  if (b.length === 0) return false
  let probe = b.subarray(0, TEXT_PROBE_BYTES)
  if (b.length > TEXT_PROBE_BYTES) {
    // Back off to the start of the last character when the probe ends inside it.
    let end = probe.length
    for (let back = 1; back <= 3 && end - back >= 0; back++) {
      const byte = probe[end - back]!
      if ((byte & 0xc0) === 0x80) continue
      if (byte >= 0xc0) end -= back
      break
    }
    probe = probe.subarray(0, end)
  }
  for (const byte of probe) {
    if (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0c && byte !== 0x0d && byte !== 0x1b) return false
    if (byte === 0x7f) return false
  }
  try {
    utf8Strict.decode(probe)
    return true
  } catch {
    return false
  }
}

/** Text whose extension names a textual format; anything else that is text is text/plain. */
const TEXT_BY_EXTENSION: Record<string, string> = {
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  vcf: 'text/vcard',
  ics: 'text/calendar',
  json: 'application/json',
  xml: 'application/xml',
  md: 'text/markdown',
}

// ---------------------------------------------------------------------------------------------------------------
// Names

/** Legacy Office files are all OLE compound files; when their streams cannot be read, their extension picks which. */
const OLE_BY_EXTENSION: Record<string, string> = {
  doc: 'application/msword',
  dot: 'application/msword',
  xls: 'application/vnd.ms-excel',
  xlt: 'application/vnd.ms-excel',
  ppt: 'application/vnd.ms-powerpoint',
  pps: 'application/vnd.ms-powerpoint',
  pot: 'application/vnd.ms-powerpoint',
  msg: 'application/vnd.ms-outlook',
}

/**
 * Types a name's extension may give a file whose bytes said nothing: formats this module does not read, never
 * images, video or audio (see the module comment).
 */
const DOCUMENT_BY_EXTENSION: Record<string, string> = {
  ...OLE_BY_EXTENSION,
  docx: DOCX,
  xlsx: XLSX,
  pptx: PPTX,
  odt: 'application/vnd.oasis.opendocument.text',
  ods: 'application/vnd.oasis.opendocument.spreadsheet',
  odp: 'application/vnd.oasis.opendocument.presentation',
  pdf: 'application/pdf',
  rtf: 'application/rtf',
  epub: 'application/epub+zip',
  zip: 'application/zip',
  rar: 'application/vnd.rar',
  '7z': 'application/x-7z-compressed',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  apk: 'application/vnd.android.package-archive',
  ...TEXT_BY_EXTENSION,
  txt: 'text/plain',
}


/** The stream each application writes its main content to ([MS-DOC], [MS-XLS], [MS-PPT], [MS-OXMSG]). */
function oleTypeOfStream(name: string): string | null {
  if (name === 'WordDocument') return 'application/msword'
  if (name === 'Workbook' || name === 'Book') return 'application/vnd.ms-excel'
  if (name === 'PowerPoint Document') return 'application/vnd.ms-powerpoint'
  if (name.startsWith('__substg1.0_')) return 'application/vnd.ms-outlook'
  return null
}

const utf16 = new TextDecoder('utf-16le')

/**
 * What an OLE compound file ([MS-CFB]) holds, from the names in its directory: the directory's sector chain is
 * followed through the FAT sectors the header lists (at most 64 sectors, so a looping chain ends). Null when the
 * directory cannot be read or names no known stream.
 */
function oleType(b: Uint8Array): string | null {
  const shift = u16le(b, 0x1e)
  if (shift !== 9 && shift !== 12) return null
  const sectorSize = 1 << shift
  const perFatSector = sectorSize / 4
  const sectorAt = (n: number) => (n + 1) * sectorSize
  const next = (n: number): number => {
    const fatIndex = Math.floor(n / perFatSector)
    if (fatIndex >= 109) return 0xfffffffe // beyond the header's FAT list: stop at what was read
    const fatSector = u32le(b, 0x4c + fatIndex * 4)
    const at = sectorAt(fatSector) + (n % perFatSector) * 4
    return at + 4 <= b.length ? u32le(b, at) : 0xfffffffe
  }
  let sector = u32le(b, 0x30)
  for (let visited = 0; sector < 0xfffffffa && visited < 64; visited++, sector = next(sector)) {
    const start = sectorAt(sector)
    for (let entry = start; entry + 128 <= Math.min(start + sectorSize, b.length); entry += 128) {
      const nameBytes = u16le(b, entry + 0x40)
      if (b[entry + 0x42] !== 2 || nameBytes < 2 || nameBytes > 64) continue
      const type = oleTypeOfStream(utf16.decode(b.subarray(entry, entry + nameBytes - 2)))
      if (type) return type
    }
  }
  return null
}

/** The lower-case extension of a file name (`report.PDF` → `pdf`), '' when it has none. */
export function fileExtension(name: string | null | undefined): string {
  const m = /\.([a-z0-9]{1,10})$/i.exec(lastSegment(name ?? '').trim())
  // All digits is a version or a number ("Price list 1.2"), not an extension.
  return m && /[a-z]/i.test(m[1]!) ? m[1]!.toLowerCase() : ''
}

function lastSegment(name: string): string {
  const parts = name.split(/[/\\]/)
  return parts[parts.length - 1] ?? ''
}

// ---------------------------------------------------------------------------------------------------------------
// The sniffer

function kindOf(mime: string): MediaKind {
  if (mime.startsWith('image/')) return 'image'
  if (mime.startsWith('video/')) return 'video'
  if (mime.startsWith('audio/')) return 'audio'
  return 'document'
}

/** What the bytes alone say, or null. */
function sniffBytes(b: Uint8Array, extension: string): SniffedMedia | null {
  const doc = (mime: string): SniffedMedia => ({ mime, kind: 'document' })
  // PDF readers accept the header anywhere in the first kilobyte (some generators put junk first).
  if (indexOfAscii(b, '%PDF-', 1024) !== -1) return doc('application/pdf')
  if (startsWith(b, [0x50, 0x4b, 0x03, 0x04]) || startsWith(b, [0x50, 0x4b, 0x05, 0x06])) return doc(zipType(b))
  if (startsWith(b, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) return doc(oleType(b) ?? OLE_BY_EXTENSION[extension] ?? 'application/x-ole-storage')
  const image = sniffImageType(b)
  if (image) return { mime: image, kind: 'image' }
  const iso = isoType(b)
  if (iso) return iso
  if (startsWith(b, [0x1a, 0x45, 0xdf, 0xa3])) {
    // EBML: the DocType says WebM or Matroska.
    return indexOfAscii(b, 'webm', 64) !== -1 ? { mime: 'video/webm', kind: 'video' } : { mime: 'video/x-matroska', kind: 'video' }
  }
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF') {
    const form = ascii(b, 8, 4)
    if (form === 'WAVE') return { mime: 'audio/wav', kind: 'audio' }
    if (form === 'AVI ') return { mime: 'video/x-msvideo', kind: 'video' }
  }
  const ogg = oggType(b)
  if (ogg) return ogg
  if (ascii(b, 0, 4) === 'fLaC') return { mime: 'audio/flac', kind: 'audio' }
  if (ascii(b, 0, 9) === '#!AMR-WB\n') return { mime: 'audio/amr-wb', kind: 'audio' }
  if (ascii(b, 0, 6) === '#!AMR\n') return { mime: 'audio/amr', kind: 'audio' }
  const mpeg = mpegAudioType(b)
  if (mpeg) return mpeg
  if (ascii(b, 0, 5) === '{\\rtf') return doc('application/rtf')
  if (startsWith(b, [0x1f, 0x8b, 0x08])) return doc('application/gzip')
  if (ascii(b, 0, 6) === 'Rar!\x1a\x07') return doc('application/vnd.rar')
  if (startsWith(b, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return doc('application/x-7z-compressed')
  if (looksLikeText(b)) return doc(TEXT_BY_EXTENSION[extension] ?? 'text/plain')
  return null
}

function indexOfAscii(b: Uint8Array, text: string, within: number): number {
  const end = Math.min(b.length, within) - text.length
  outer: for (let i = 0; i <= end; i++) {
    for (let j = 0; j < text.length; j++) if (b[i + j] !== text.charCodeAt(j)) continue outer
    return i
  }
  return -1
}

/**
 * The file's MIME type and what kind of media it is: from its bytes where they say, else from `fileName`'s
 * extension (document types only), else `application/octet-stream`.
 * @example sniffMediaType(bytes, 'Quote.docx') // { mime: 'application/vnd.openxmlformats-…document', kind: 'document' }
 */
export function sniffMediaType(bytes: Uint8Array, fileName?: string | null): SniffedMedia {
  const extension = fileExtension(fileName)
  const sniffed = sniffBytes(bytes, extension)
  if (sniffed) return sniffed
  const byName = DOCUMENT_BY_EXTENSION[extension]
  return { mime: byName ?? OCTET_STREAM, kind: kindOf(byName ?? OCTET_STREAM) }
}

/** An Ogg file whose first stream is Opus: what WhatsApp plays as a voice note. */
export function isOpusOgg(bytes: Uint8Array): boolean {
  const packet = oggFirstPacket(bytes)
  return packet !== null && ascii(packet, 0, 8) === 'OpusHead'
}

/**
 * An MP4 or 3GP (3GPP, 3GPP2) file with a video track (or whose tracks cannot be read), recognised by its bytes: the
 * containers WhatsApp plays as a video. QuickTime, WebM, Matroska and AVI are videos too (`sniffMediaType` says so)
 * but not among these.
 */
export function isVideoContainer(bytes: Uint8Array): boolean {
  const iso = isoType(bytes)
  return iso !== null && (iso.mime === 'video/mp4' || iso.mime === 'video/3gpp' || iso.mime === 'video/3gpp2')
}

/**
 * Any audio file this module recognises by its bytes: MP4 audio (M4A, or MP4/3GP with sound tracks only), Ogg
 * (Opus, Vorbis, FLAC), MP3, AAC (ADTS), WAV, FLAC, AMR.
 */
export function isAudioContainer(bytes: Uint8Array): boolean {
  return sniffBytes(bytes, '')?.kind === 'audio'
}

// ---------------------------------------------------------------------------------------------------------------
// File names

/** The usual extension of a MIME type (parameters ignored), `bin` when there is none. */
export function extensionForMime(mime: string): string {
  const type = mime.split(';')[0]!.trim().toLowerCase()
  return EXTENSION_BY_MIME[type] ?? 'bin'
}

const EXTENSION_BY_MIME: Record<string, string> = {
  'application/pdf': 'pdf',
  'application/msword': 'doc',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.ms-powerpoint': 'ppt',
  'application/vnd.ms-outlook': 'msg',
  [DOCX]: 'docx',
  [XLSX]: 'xlsx',
  [PPTX]: 'pptx',
  'application/vnd.oasis.opendocument.text': 'odt',
  'application/vnd.oasis.opendocument.spreadsheet': 'ods',
  'application/vnd.oasis.opendocument.presentation': 'odp',
  'application/vnd.oasis.opendocument.graphics': 'odg',
  'application/epub+zip': 'epub',
  'application/zip': 'zip',
  'application/gzip': 'gz',
  'application/vnd.rar': 'rar',
  'application/x-7z-compressed': '7z',
  'application/x-tar': 'tar',
  'application/vnd.android.package-archive': 'apk',
  'application/rtf': 'rtf',
  'application/json': 'json',
  'application/xml': 'xml',
  'text/plain': 'txt',
  'text/csv': 'csv',
  'text/tab-separated-values': 'tsv',
  'text/vcard': 'vcf',
  'text/calendar': 'ics',
  'text/markdown': 'md',
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/heic': 'heic',
  'image/heif': 'heif',
  'image/avif': 'avif',
  'video/mp4': 'mp4',
  'video/3gpp': '3gp',
  'video/3gpp2': '3g2',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'video/x-matroska': 'mkv',
  'video/x-msvideo': 'avi',
  'video/ogg': 'ogv',
  'audio/mp4': 'm4a',
  'audio/3gpp': '3gp',
  'audio/3gpp2': '3g2',
  'audio/ogg': 'ogg',
  'audio/mpeg': 'mp3',
  'audio/aac': 'aac',
  'audio/wav': 'wav',
  'audio/flac': 'flac',
  'audio/amr': 'amr',
  'audio/amr-wb': 'awb',
}

/** Most UTF-8 bytes a sanitised name may take: well inside every file system's 255-byte name limit. */
export const FILE_NAME_MAX_BYTES = 200

const utf8Encoder = new TextEncoder()
const utf8Length = (s: string) => utf8Encoder.encode(s).length

/** Names Windows reserves for devices, whatever their extension (`CON.txt` cannot be saved). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i

/**
 * A file name that is safe to store and to show to the recipient, and still readable: path components (`/` and `\`),
 * control and bidirectional-override characters, quotes and the characters Windows reserves (`<>:"/\|?*`) are
 * removed, whitespace runs become one space, leading dots and trailing dots and spaces go, and the result is at most
 * 200 UTF-8 bytes with its extension kept. A name without an extension gets the MIME type's; an empty one becomes
 * `file.<extension>`.
 * @example sanitizeFileName('../../etc/passwd', 'text/plain') // 'passwd.txt'
 */
export function sanitizeFileName(name: string | null | undefined, mime: string): string {
  let s = lastSegment((name ?? '').normalize('NFC'))
  s = s
    // Lone surrogates (from a broken encoding) cannot be written as UTF-8.
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ')
    // Bidirectional controls can show "invoice\u202efdp.exe" as "invoiceexe.pdf"; invisible spaces hide in names.
    // The zero-width joiners (U+200C, U+200D) stay: Persian and Indic words and emoji sequences need them.
    .replace(/[\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g, '')
    .replace(/["'`<>:|?*]/g, '')
    .replace(/\s+/gu, ' ')
    .trim()
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '')
  let extension = fileExtension(s)
  let base = extension ? s.slice(0, s.length - extension.length - 1).replace(/[.\s]+$/, '') : s
  if (!extension) extension = extensionForMime(mime)
  if (!base) base = 'file'
  if (WINDOWS_DEVICE.test(base)) base = `${base}_`
  const suffix = `.${extension}`
  const room = FILE_NAME_MAX_BYTES - utf8Length(suffix)
  if (utf8Length(base) > room) {
    // Cut by whole code points so a character is never split.
    const chars = Array.from(base)
    let bytes = 0
    let keep = 0
    for (const c of chars) {
      const n = utf8Length(c)
      if (bytes + n > room) break
      bytes += n
      keep++
    }
    base = chars.slice(0, keep).join('').replace(/[.\s]+$/, '') || 'file'
  }
  return `${base}${suffix}`
}
