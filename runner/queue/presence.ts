import type { ClaimedMessage } from '../../db/lifecycle/index.js'
import type { ChatPresence } from '../whatsapp/client.js'

/**
 * What the recipient sees before a message (runner/README.md, Typing before each send): "typing…" before a text for
 * about 40 ms a character, clamped to 1–5 s; "recording…" before a voice note for about 3 s; both randomised ±20 %
 * so no two sends look machine-timed. Other kinds go without.
 */

export const TYPING_MS_PER_CHAR = 40
export const TYPING_MIN_MS = 1_000
export const TYPING_MAX_MS = 5_000
export const RECORDING_MS = 3_000
/** ± this share of the time, drawn per message. */
export const PRESENCE_JITTER = 0.2
/**
 * The longest cue there is: the claim may come this long before the throttle slot, so the cue fills the end of the
 * gap instead of lengthening it (db/lifecycle/claim.ts, `presence.leadMs`).
 */
export const PRESENCE_LEAD_MS = Math.ceil(Math.max(TYPING_MAX_MS, RECORDING_MS) * (1 + PRESENCE_JITTER))

export interface PresenceCue {
  state: Exclude<ChatPresence, 'paused'>
  ms: number
}

const jitter = (ms: number, random: () => number) => Math.round(ms * (1 - PRESENCE_JITTER + 2 * PRESENCE_JITTER * random()))

/** Typing time of a text before its ±20 %: 40 ms a character (code points, so an emoji is one), within 1–5 s. */
export function typingBaseMs(text: string): number {
  return Math.min(TYPING_MAX_MS, Math.max(TYPING_MIN_MS, [...text].length * TYPING_MS_PER_CHAR))
}

/** The cue shown before `message`, or null for a kind that gets none. */
export function presenceCueFor(message: Pick<ClaimedMessage, 'type' | 'body' | 'details'>, random: () => number): PresenceCue | null {
  if (message.type === 'text' && message.body) return { state: 'composing', ms: jitter(typingBaseMs(message.body), random) }
  if (message.type === 'audio' && message.details?.ptt === true) return { state: 'recording', ms: jitter(RECORDING_MS, random) }
  return null
}
