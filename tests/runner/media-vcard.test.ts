import { describe, expect, it } from 'vitest'
import { buildVcard } from '../../runner/media/vcard.js'

/** The logical lines of a vCard: folds undone (CRLF + one space), split at CRLF, the final empty piece dropped. */
function unfold(vcard: string): string[] {
  const lines = vcard.replace(/\r\n /g, '').split('\r\n')
  expect(lines.pop()).toBe('')
  return lines
}

/** The property names of the logical lines, in order. */
const properties = (vcard: string) => unfold(vcard).map((line) => line.split(/[;:]/)[0])

describe('buildVcard', () => {
  it('writes a vCard 3.0 with one WhatsApp number per phone, CRLF line endings', () => {
    const card = buildVcard({
      name: 'Rana Haddad',
      phones: ['96170123456', '33612345678'],
      email: 'rana@example.com',
      organization: 'Haddad & Sons',
    })
    expect(card).toBe(
      [
        'BEGIN:VCARD',
        'VERSION:3.0',
        'FN:Rana Haddad',
        'N:;Rana Haddad;;;',
        'TEL;type=CELL;type=VOICE;waid=96170123456:+96170123456',
        'TEL;type=CELL;type=VOICE;waid=33612345678:+33612345678',
        'EMAIL;type=INTERNET:rana@example.com',
        'ORG:Haddad & Sons',
        'END:VCARD',
        '',
      ].join('\r\n'),
    )
    expect(card.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/)
  })

  it('leaves out an email and an organization that are absent or blank', () => {
    const card = buildVcard({ name: 'Rana', phones: ['96170123456'], email: '  ', organization: '' })
    expect(properties(card)).toEqual(['BEGIN', 'VERSION', 'FN', 'N', 'TEL', 'END'])
  })

  it('keeps only the digits of a phone, and refuses one without any', () => {
    const card = buildVcard({ name: 'Rana', phones: ['+961 70-123 456'] })
    expect(unfold(card)).toContain('TEL;type=CELL;type=VOICE;waid=96170123456:+96170123456')
    expect(() => buildVcard({ name: 'Rana', phones: ['+ -'] })).toThrow(/no digits/)
  })

  it('names a card without a name after its first number', () => {
    const card = buildVcard({ name: ' \n ', phones: ['96170123456'] })
    expect(unfold(card)).toContain('FN:+96170123456')
    expect(unfold(card)).toContain('N:;+96170123456;;;')
  })

  it('escapes backslashes, commas, semicolons and line breaks', () => {
    const card = buildVcard({ name: 'Doe, John; Jr. \\ III', phones: ['1'], organization: 'A;B,C\nD' })
    expect(unfold(card)).toContain('FN:Doe\\, John\\; Jr. \\\\ III')
    expect(unfold(card)).toContain('N:;Doe\\, John\\; Jr. \\\\ III;;;')
    expect(unfold(card)).toContain('ORG:A\\;B\\,C\\nD')
  })

  it('gives hostile values no way to add or end properties', () => {
    const hostile = 'Eve\r\nTEL;type=CELL;waid=1:+1\rEND:VCARD\nBEGIN:VCARD\u2028ORG:Evil\u0000'
    const card = buildVcard({ name: hostile, phones: ['96170123456'], email: 'e@x.com\r\nORG:x', organization: hostile })
    expect(properties(card)).toEqual(['BEGIN', 'VERSION', 'FN', 'N', 'TEL', 'EMAIL', 'ORG', 'END'])
    expect(unfold(card)).toContain('FN:Eve\\nTEL\\;type=CELL\\;waid=1:+1\\nEND:VCARD\\nBEGIN:VCARD\\nORG:Evil')
    expect(unfold(card)).toContain('EMAIL;type=INTERNET:e@x.com\\nORG:x')
    expect(card).not.toContain('\u0000')
    // Every line break left is a CRLF that ends a line or starts a fold.
    expect(card.replace(/\r\n/g, '')).not.toMatch(/[\r\n\u2028\u2029]/)
  })

  it('folds lines at 75 octets without splitting a character or an escape', () => {
    const names = [
      'x'.repeat(200),
      'رنا حداد '.repeat(20),
      '👩🏽‍💻 Ada, Grace; & Co. '.repeat(10),
      ...Array.from({ length: 8 }, (_, i) => `${'a'.repeat(70 + i)}${',;\\\n'.repeat(10)}`),
    ]
    for (const name of names) {
      const card = buildVcard({ name, phones: ['96170123456'], organization: name })
      const physical = card.split('\r\n').slice(0, -1)
      expect(physical.some((line) => line.startsWith(' ')), 'a long line is folded').toBe(true)
      for (const line of physical) {
        expect(Buffer.byteLength(line, 'utf8'), line).toBeLessThanOrEqual(75)
        // A split surrogate pair would not survive UTF-8.
        expect(Buffer.from(line, 'utf8').toString('utf8')).toBe(line)
        // An escape's backslash never ends a line without the character it escapes.
        expect((/\\*$/.exec(line)?.[0].length ?? 0) % 2, line).toBe(0)
      }
      const escaped = name.trim().replace(/[\\,;\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))
      expect(unfold(card)).toContain(`FN:${escaped}`)
      expect(unfold(card)).toContain(`ORG:${escaped}`)
    }
  })
})
