/**
 * The vCard of a contact-card message. WhatsApp hands the text to the phone's contacts app as it is, so it is a
 * plain vCard 3.0 (the version WhatsApp's own cards use and every phone imports), with WhatsApp's `waid` parameter
 * on each number so the app offers "Message" for it:
 *
 *   BEGIN:VCARD
 *   VERSION:3.0
 *   FN:Rana Haddad
 *   N:;Rana Haddad;;;
 *   TEL;type=CELL;type=VOICE;waid=96170123456:+96170123456
 *   EMAIL;type=INTERNET:rana@example.com
 *   ORG:Haddad & Sons
 *   END:VCARD
 *
 * Every value is escaped (backslash, comma, semicolon, line breaks), so a name or company cannot end its line and
 * add a property of its own; lines end with CRLF and are folded at 75 octets without splitting a character or an
 * escape (RFC 6350, section 3.2, which vCard 3.0 readers share).
 */

export interface ContactCard {
  name: string
  /** International numbers as digits (`96170123456`); anything but digits is dropped. */
  phones: string[]
  email?: string
  organization?: string
}

/** The longest line in octets, line break excluded; continuation lines count their leading space. */
const LINE_OCTETS = 75

/**
 * The vCard text for a contact card. Throws when a phone has no digits at all (the API accepts none such).
 * @example buildVcard({ name: 'Rana Haddad', phones: ['96170123456'] })
 */
export function buildVcard(card: ContactCard): string {
  const phones = card.phones.map((phone) => {
    const digits = phone.replace(/\D/g, '')
    if (!digits) throw new Error(`contact phone ${JSON.stringify(phone)} has no digits`)
    return digits
  })
  // FN is required; a card without a name shows its first number rather than an empty line.
  const name = escapeText(card.name.trim()) || (phones[0] ? `+${phones[0]}` : '')
  const lines = ['BEGIN:VCARD', 'VERSION:3.0', `FN:${name}`]
  // The structured name is given the whole name: splitting it into family and given names guesses wrong for many
  // of the world's names, and phones show FN anyway.
  lines.push(`N:;${name};;;`)
  for (const digits of phones) lines.push(`TEL;type=CELL;type=VOICE;waid=${digits}:+${digits}`)
  const email = card.email?.trim()
  if (email) lines.push(`EMAIL;type=INTERNET:${escapeText(email)}`)
  const organization = card.organization?.trim()
  if (organization) lines.push(`ORG:${escapeText(organization)}`)
  lines.push('END:VCARD')
  return lines.map(fold).join('\r\n') + '\r\n'
}

/**
 * A text value as vCard writes it: `\\`, `\,`, `\;`, and `\n` for any line break. Other control characters have no
 * escape and no use in a name or an address, so they are dropped (a NUL cuts some readers' strings short).
 */
function escapeText(value: string): string {
  const oneKindOfBreak = value.replace(/\r\n|[\r\n\u2028\u2029]/g, '\n')
  const printable = Array.from(oneKindOfBreak).filter((c) => c === '\t' || c === '\n' || (c >= ' ' && c !== '\u007f'))
  return printable.join('').replace(/[\\,;\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))
}

/** One logical line as physical lines of at most 75 octets, continuation lines starting with a space. */
function fold(line: string): string {
  const physical: string[] = []
  let current = ''
  let octets = 0
  // Whole code points, and an escape with the character it escapes, so no fold splits either.
  for (const unit of line.match(/\\.|[\s\S]/gu) ?? []) {
    const size = Buffer.byteLength(unit, 'utf8')
    const room = physical.length === 0 ? LINE_OCTETS : LINE_OCTETS - 1
    if (octets + size > room) {
      physical.push(current)
      current = ''
      octets = 0
    }
    current += unit
    octets += size
  }
  physical.push(current)
  return physical.join('\r\n ')
}
