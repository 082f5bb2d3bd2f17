/**
 * The page count WhatsApp shows under a PDF document, read without a PDF library: the bytes are scanned as latin1
 * text (one character per byte, so offsets and binary streams survive) for the page tree.
 *
 * - The root of the page tree is a `/Type /Pages` object whose `/Count` is the number of pages below it; the
 *   largest `/Count` of such objects is the root's. (A file changed by incremental updates keeps its older
 *   versions too; the largest may then be a page count from before pages were deleted, which is harmless here.)
 * - Without any, each `/Type /Page` object (a leaf; `/Pages` is not one) is one page.
 * - Only objects written out in the file are seen. A PDF that keeps its objects in compressed object streams
 *   (`/ObjStm`, common since PDF 1.5) shows neither, and the answer is null: WhatsApp then shows no page count.
 */

/** `%PDF-` may follow some junk, which readers accept within the first kilobyte. */
const HEADER_WINDOW = 1024
/** An object's header, `12 0 obj`; `\b` keeps a long run of digits from being retried at each of its digits. */
const OBJECT_HEADER = /\b\d+\s+\d+\s+obj\b/
/** A PDF name ends at whitespace or a delimiter. */
const NAME_END = String.raw`(?=[\s/<>\[\]()%{}]|$)`
const TYPE_PAGES = new RegExp(String.raw`/Type\s*/Pages${NAME_END}`)
const TYPE_PAGE = new RegExp(String.raw`/Type\s*/Page${NAME_END}`)
/** A direct count: `/Count 3`, not the reference `/Count 3 0 R` (whose number is an object's, not a count). */
const COUNT = /\/Count\s+(\d+)(?!\d|\s+\d+\s+R\b)/

/**
 * The number of pages of a PDF, or null when the bytes are not a PDF or its page tree cannot be seen. Never throws.
 * @example const pageCount = pdfPageCount(media.bytes) ?? undefined
 */
export function pdfPageCount(bytes: Uint8Array): number | null {
  try {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
    if (!text.slice(0, HEADER_WINDOW).includes('%PDF-')) return null
    let largestCount = 0
    let pageObjects = 0
    // Every piece before an `endobj` ends one object; the piece after the last one is the trailer, or an object
    // cut off by truncation, and is not looked at. Splitting keeps the scan linear whatever the bytes hold.
    const pieces = text.split('endobj')
    for (const piece of pieces.slice(0, -1)) {
      const dictionary = objectDictionary(piece)
      if (dictionary === null) continue
      if (TYPE_PAGES.test(dictionary)) {
        const count = Number(COUNT.exec(dictionary)?.[1])
        if (Number.isSafeInteger(count) && count > largestCount) largestCount = count
      } else if (TYPE_PAGE.test(dictionary)) {
        pageObjects++
      }
    }
    if (largestCount > 0) return largestCount
    return pageObjects > 0 ? pageObjects : null
  } catch {
    // A file too large for one string, say: no count rather than a failed send.
    return null
  }
}

/** The part of an object that holds its dictionary: from its header to its stream data, if it has any. */
function objectDictionary(piece: string): string | null {
  const header = OBJECT_HEADER.exec(piece)
  if (!header) return null
  const body = piece.slice(header.index + header[0].length)
  const stream = /\bstream\b/.exec(body)
  return stream ? body.slice(0, stream.index) : body
}
