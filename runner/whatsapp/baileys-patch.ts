import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The one change the gateway makes to Baileys 7.0.0-rc14 (pinned exactly): patches/@whiskeysockets+baileys+7.0.0-rc14.patch,
 * applied by `npm install`/`npm ci` (postinstall: `patch-package --error-on-fail --error-on-warn`). patch-package
 * checks the whole patch before writing, so another Baileys build fails the install loudly instead of being
 * half-patched, and a second install finds the patch in place and leaves it.
 *
 * Baileys sends an inbound message's `<receipt>` and only then hands the message to the application (a buffered
 * `messages.upsert`). The receipt ends WhatsApp's redelivery, so a runner killed between the two lost the message for
 * good: the 20,000-message PostgreSQL soak lost one STOP that way. The patch adds a socket option, `beforeReceipt`,
 * that Baileys awaits after decrypting and before receipting; the runner stores the message there. A runner that dies
 * first sent no receipt, and WhatsApp delivers the message again at the next login.
 *
 * WhatsApp redelivers the same ciphertext, though, and Baileys saves the advanced Signal ratchet as soon as it has
 * decrypted: the copy would fail to decrypt ("Key used already"), be nacked and lost all the same. So with the option
 * set, the message is handled inside one key-store transaction (Baileys' own `keys.transaction`, which the decryption
 * joins): the ratchet is saved only after the message is stored, and a failed hook rolls it back.
 *
 * Without the option Baileys behaves exactly as published. This module only tells whether the patch is in, so that
 * the runner can say so loudly when Baileys was installed with --ignore-scripts.
 */
export const BEFORE_RECEIPT_MARKER = 'wa-gateway patch: beforeReceipt'

/** The patched file, inside the Baileys package. */
export const PATCHED_FILE = 'lib/Socket/messages-recv.js'

/** The installed Baileys package folder. */
export function baileysDir(): string {
  // lib/index.js → the package root
  return dirname(dirname(fileURLToPath(import.meta.resolve('@whiskeysockets/baileys'))))
}

/** True when the patch is in the Baileys package at `dir`. */
export function isBaileysPatched(dir = baileysDir()): boolean {
  return readFileSync(join(dir, PATCHED_FILE), 'utf8').includes(BEFORE_RECEIPT_MARKER)
}
