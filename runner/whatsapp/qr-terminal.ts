import { createRequire } from 'node:module'
import { createReachabilityNotice } from './reachability.js'

/**
 * Prints a pairing QR in the terminal (stdout is a TTY, or PRINT_QR=1). The QR string embeds the account's
 * ADV secret, so it goes to the operator's screen only, never into a log line.
 */
const require = createRequire(import.meta.url)
const qrcodeTerminal = require('qrcode-terminal') as { generate(text: string, opts: { small: boolean }, cb: (s: string) => void): void }

/**
 * What a person watching the terminal is told: the QR to scan, when the number is linked, and when WhatsApp cannot
 * be reached (then when it can again).
 */
export interface TerminalOutput {
  qr(session: string, qr: string): void
  online(session: string, phone: string | null): void
  unreachable?(session: string, cause: string): void
  reachable?(session: string): void
}

const reachability = createReachabilityNotice((text) => process.stdout.write(text))

export const terminalOutput: TerminalOutput = {
  unreachable: (_session, cause) => reachability.unreachable(cause),
  reachable: () => reachability.reachable(),
  qr(session, qr) {
    qrcodeTerminal.generate(qr, { small: true }, (art) => {
      process.stdout.write(`\nScan this QR code with WhatsApp → Linked devices, for session "${session}":\n${art}\n`)
    })
  },
  online(session, phone) {
    process.stdout.write(`\n✓ Session "${session}" is online${phone ? ` as +${phone}` : ''}: queued messages are being sent.\n\n`)
  },
}

/** The same without the QR (stdout is not a terminal and PRINT_QR is off): the QR embeds a secret, the rest does not. */
export const terminalNotices: TerminalOutput = { ...terminalOutput, qr: () => {} }
