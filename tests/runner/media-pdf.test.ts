import { deflateSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { pdfPageCount } from '../../runner/media/pdf.js'

/**
 * A small valid PDF: the objects numbered from 1 in the order given, a cross-reference table with their real byte
 * offsets, and a trailer whose root is object 1. Each object is its body without `N 0 obj`/`endobj`; null is an
 * object not written out at the top level (it lives in an object stream).
 */
function buildPdf(objects: (string | null)[]): Buffer {
  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n'
  const offsets: (number | null)[] = []
  objects.forEach((body, i) => {
    if (body === null) {
      offsets.push(null)
    } else {
      offsets.push(Buffer.byteLength(out, 'latin1'))
      out += `${i + 1} 0 obj\n${body}\nendobj\n`
    }
  })
  const xref = Buffer.byteLength(out, 'latin1')
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  // An object in an object stream belongs in a cross-reference stream, which this table cannot express; the scan
  // under test never reads cross-references, so it is listed as free.
  for (const offset of offsets) out += offset === null ? '0000000000 00001 f \n' : `${String(offset).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(out, 'latin1')
}

/** A content stream that writes one line of text. */
const stream = (text: string) => {
  const content = `BT /F1 24 Tf 72 720 Td (${text}) Tj ET`
  return `<< /Length ${content.length} >>\nstream\n${content}\nendstream`
}

/** Catalog, page tree, n pages each with its content stream, and a font: object numbers as a reader expects. */
function pagesPdf(n: number, options: { count?: boolean } = {}): Buffer {
  const pageIds = Array.from({ length: n }, (_, i) => 3 + i * 2)
  const font = 3 + n * 2
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}]${options.count === false ? '' : ` /Count ${n}`} >>`,
  ]
  for (const [i, id] of pageIds.entries()) {
    objects.push(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${id + 1} 0 R /Resources << /Font << /F1 ${font} 0 R >> >> >>`,
      stream(`Page ${i + 1}`),
    )
  }
  objects.push('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>')
  return buildPdf(objects)
}

describe('pdfPageCount', () => {
  it('reads the page tree of a 3-page PDF', () => {
    const pdf = pagesPdf(3)
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-')
    expect(pdfPageCount(pdf)).toBe(3)
    // A view into a larger buffer is read from its own offset.
    const inside = Buffer.concat([Buffer.from('not part of it'), pdf, Buffer.from('%PDF-')])
    expect(pdfPageCount(inside.subarray(14, 14 + pdf.length))).toBe(3)
  })

  it('takes the root of a nested page tree, the largest /Count', () => {
    const pdf = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type/Pages /Kids [3 0 R 4 0 R] /Count 5 >>',
      '<< /Type /Pages /Parent 2 0 R /Kids [5 0 R 6 0 R] /Count 2 >>',
      '<< /Type /Pages /Parent 2 0 R /Kids [7 0 R 8 0 R 9 0 R] /Count 3 >>',
      ...Array.from({ length: 5 }, (_, i) => `<< /Type /Page /Parent ${i < 2 ? 3 : 4} 0 R /MediaBox [0 0 612 792] >>`),
    ])
    expect(pdfPageCount(pdf)).toBe(5)
  })

  it('counts /Type /Page objects, not /Pages, when no page tree has a count', () => {
    expect(pdfPageCount(pagesPdf(3, { count: false }))).toBe(3)
    expect(pdfPageCount(pagesPdf(1, { count: false }))).toBe(1)
  })

  it('ignores a count given as a reference, and names that only start like /Page or /Pages', () => {
    const pdf = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 30 0 R >>',
      '<< /Type /Page /Parent 2 0 R >>',
      '<< /Type /Page/Parent 2 0 R >>',
      '<< /Type /PageLabels /Count 9 >>',
      '<< /Type /Pagesque /Count 9 >>',
    ])
    expect(pdfPageCount(pdf)).toBe(2)
  })

  it('sees nothing inside compressed object streams: null, so WhatsApp shows no count', () => {
    // Objects 2 (the page tree) and 3 (the page) live in object stream 4, deflated.
    const inner = '<< /Type /Pages /Kids [3 0 R] /Count 1 >> << /Type /Page /Parent 2 0 R >>'
    const index = '2 0 3 42 '
    const data = deflateSync(Buffer.from(index + inner, 'latin1')).toString('latin1')
    const pdf = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      null,
      null,
      `<< /Type /ObjStm /N 2 /First ${index.length} /Filter /FlateDecode /Length ${data.length} >>\nstream\n${data}\nendstream`,
    ])
    expect(pdfPageCount(pdf)).toBeNull()
  })

  it('does not mistake text inside a content stream for the page tree', () => {
    const pdf = buildPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>',
      stream('/Type /Pages /Count 99 and /Type /Page'),
    ])
    expect(pdfPageCount(pdf)).toBe(1)
  })

  it('answers null for bytes that are not a PDF', () => {
    expect(pdfPageCount(new Uint8Array(0))).toBeNull()
    expect(pdfPageCount(Buffer.from('<< /Type /Pages /Count 3 >> endobj 1 0 obj << /Type /Page >> endobj'))).toBeNull()
    expect(pdfPageCount(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]))).toBeNull()
    // The header is looked for in the first kilobyte only.
    expect(pdfPageCount(Buffer.concat([Buffer.alloc(2048, 0x20), pagesPdf(3)]))).toBeNull()
    expect(pdfPageCount(Buffer.concat([Buffer.from('junk\n'), pagesPdf(3)]))).toBe(3)
  })

  it('reads what a truncated PDF still holds, and never throws on any cut', () => {
    const pdf = pagesPdf(3, { count: false })
    const pageTreeEnds = pdf.indexOf('endobj', pdf.indexOf('/Type /Pages')) + 'endobj'.length
    // Cut inside the page tree: nothing is known yet.
    expect(pdfPageCount(pdf.subarray(0, pageTreeEnds - 10))).toBeNull()
    // Cut inside the second page: the first page was written out whole, the second was not.
    const secondPage = pdf.indexOf('/Type /Page ', pdf.indexOf('/Type /Page ') + 1)
    expect(pdfPageCount(pdf.subarray(0, secondPage + 20))).toBe(1)

    const counted = pagesPdf(3)
    const results = new Set<number | null>()
    for (let end = 0; end <= counted.length; end++) results.add(pdfPageCount(counted.subarray(0, end)))
    // Null until the page tree is complete, then 3: no cut makes up another number.
    expect(results).toEqual(new Set([null, 3]))
  })
})
