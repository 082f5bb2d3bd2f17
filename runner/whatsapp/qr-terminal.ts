import { createRequire } from 'node:module'

/**
 * Prints a pairing QR in the terminal (stdout is a TTY, or PRINT_QR=1). The QR string embeds the account's
 * ADV secret, so it goes to the operator's screen only, never into a log line.
 */
const require = createRequire(import.meta.url)
const qrcodeTerminal = require('qrcode-terminal') as { generate(text: string, opts: { small: boolean }, cb: (s: string) => void): void }

export function printQrToTerminal(session: string, qr: string): void {
  qrcodeTerminal.generate(qr, { small: true }, (art) => {
    process.stdout.write(`\nScan this QR code with WhatsApp (Linked devices) for session "${session}":\n${art}\n`)
  })
}
