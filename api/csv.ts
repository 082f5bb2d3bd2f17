/**
 * Reads the CSV of `POST /api/contacts/import` (RFC 4180: commas, double-quoted fields with "" for a quote, CRLF or LF
 * line ends, a header row). Hand-written because it is about thirty lines and a CSV library would add more to the
 * Workers bundle than the rest of the contacts API together.
 */
import { invalid } from './validation.js'

/** The rows after the header, each as an object keyed by the header's (trimmed, lower-cased) names. */
export function parseCsv(text: string, maxRows: number): { rows: Record<string, string>[]; header: string[] } {
  const records: string[][] = []
  let field = ''
  let record: string[] = []
  let quoted = false
  let i = 0
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text
  const endRecord = () => {
    record.push(field)
    field = ''
    if (record.length > 1 || record[0] !== '') records.push(record)
    record = []
    if (records.length > maxRows + 1) {
      throw invalid('', 'too_many_contacts', `holds more than ${maxRows} rows; split it into several imports`, 413)
    }
  }
  while (i < body.length) {
    const ch = body[i]!
    const next = body[i + 1]
    i++
    if (quoted) {
      if (ch !== '"') field += ch
      else if (next === '"') {
        field += '"'
        i++
      } else quoted = false
    } else if (ch === '"' && field === '') {
      quoted = true
    } else if (ch === ',') {
      record.push(field)
      field = ''
    } else if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && next === '\n') i++
      endRecord()
    } else {
      field += ch
    }
  }
  if (quoted) throw invalid('', 'invalid_csv', `has a quoted field that never ends (line ${records.length + 1})`)
  if (field !== '' || record.length > 0) endRecord()
  const [head, ...rest] = records
  if (!head) throw invalid('', 'invalid_csv', 'is empty; send a header line "phone,name,opt_in" and one line per contact')
  const header = head.map((h) => h.trim().toLowerCase())
  if (!header.includes('phone')) throw invalid('', 'invalid_csv', `has no "phone" column in its header (got ${JSON.stringify(head.join(',').slice(0, 80))})`)
  return { header, rows: rest.map((r) => Object.fromEntries(header.map((h, k) => [h, r[k] ?? '']))) }
}
