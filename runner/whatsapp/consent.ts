/**
 * Consent keywords of inbound messages (runner/README.md, STOP and YES). A message is a keyword only when,
 * after trimming whitespace and punctuation and folding case, nothing else is left: "Stop!" and " stop. "
 * are STOP; "please stop sending" is not (it still opts a `pending` contact in, as any other message does).
 */

export type ConsentKeyword = 'stop' | 'start'

const STOP_WORDS = [
  'stop', 'stopall', 'unsubscribe', 'cancel', 'end', 'quit',
  // Arabic: stop, cancel (with and without hamza), unsubscribe, stop/halt
  'توقف', 'قف', 'إلغاء', 'الغاء', 'ألغاء', 'إلغاء الاشتراك', 'الغاء الاشتراك', 'ايقاف', 'إيقاف',
]
const START_WORDS = [
  'yes', 'start', 'subscribe', 'unstop',
  // Arabic: yes, subscribe
  'نعم', 'اشتراك', 'اشترك',
]

// Arabic diacritics (tashkeel) and tatweel carry no meaning for matching.
const ARABIC_MARKS = /[\u064B-\u065F\u0670\u0640]/g
// Everything that is not a letter, a mark or a digit counts as punctuation or space at the edges.
const EDGE = /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu

/** Folds a message for keyword matching: NFKC, lower case, no Arabic marks, no edge punctuation, single spaces. */
export function normalizeKeyword(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(ARABIC_MARKS, '')
    .replace(EDGE, '')
    .replace(/\s+/g, ' ')
}

const STOP = new Set(STOP_WORDS.map(normalizeKeyword))
const START = new Set(START_WORDS.map(normalizeKeyword))

/**
 * `stop`, `start`, or null for any other text.
 * @example matchConsentKeyword('  STOP!! ') // 'stop'
 * @example matchConsentKeyword('توقف.') // 'stop'
 */
export function matchConsentKeyword(text: string | null | undefined): ConsentKeyword | null {
  if (!text) return null
  const k = normalizeKeyword(text)
  if (STOP.has(k)) return 'stop'
  if (START.has(k)) return 'start'
  return null
}
