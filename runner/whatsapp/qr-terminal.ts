import { createRequire } from 'node:module'

/**
 * Prints a pairing QR in the terminal (stdout is a TTY, or PRINT_QR=1). The QR string embeds the account's
 * ADV secret, so it goes to the operator's screen only, never into a log line.
 */
const require = createRequire(import.meta.url)
const qrcodeTerminal = require('qrcode-terminal') as { generate(text: string, opts: { small: boolean }, cb: (s: string) => void): void }

/** What a person watching the terminal is told: the QR to scan, and when the number is linked. */
export interface TerminalOutput {
  qr(session: string, qr: string): void
  online(session: string, phone: string | null): void
}

export const terminalOutput: TerminalOutput = {
  qr(session, qr) {
    qrcodeTerminal.generate(qr, { small: true }, (art) => {
      process.stdout.write(`\nScan this QR code with WhatsApp → Linked devices, for session "${session}":\n${art}\n`)
    })
  },
  online(session, phone) {
    process.stdout.write(`\n✓ Session "${session}" is online${phone ? ` as +${phone}` : ''}: queued messages are being sent.\n\n`)
  },
}
