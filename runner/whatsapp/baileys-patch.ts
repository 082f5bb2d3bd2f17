import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The two changes the gateway makes to Baileys 7.0.0-rc14 (pinned exactly): patches/@whiskeysockets+baileys+7.0.0-rc14.patch,
 * applied by `npm install`/`npm ci` (postinstall: `patch-package --error-on-fail --error-on-warn`). patch-package
 * checks the whole patch before writing, so another Baileys build fails the install loudly instead of being
 * half-patched, and a second install finds the patch in place and leaves it.
 *
 * 1. `beforeReceipt`. Baileys sends an inbound message's `<receipt>` and only then hands the message to the
 * application (a buffered `messages.upsert`). The receipt ends WhatsApp's redelivery, so a runner killed between the
 * two lost the message for good: the 20,000-message PostgreSQL soak lost one STOP that way. The patch adds a socket
 * option, `beforeReceipt`, that Baileys awaits after decrypting and before receipting; the runner stores the message
 * there. A runner that dies first sent no receipt, and WhatsApp delivers the message again at the next login.
 * WhatsApp redelivers the same ciphertext, though, and Baileys saves the advanced Signal ratchet as soon as it has
 * decrypted: the copy would fail to decrypt ("Key used already"), be nacked and lost all the same. So with the option
 * set, the message is handled inside one key-store transaction (Baileys' own `keys.transaction`, which the decryption
 * joins): the ratchet is saved only after the message is stored, and a failed hook rolls it back.
 *
 * 2. `trustedRootKey`. Baileys checks the server's Noise certificate against one exported, mutable root key
 * (`WA_CERT_DETAILS.PUBLIC_KEY`); trusting a test server's root meant overwriting it for every socket of the process.
 * The patch adds a socket option, `trustedRootKey`, that the socket's own handshake checks instead: a socket pointed
 * at the loopback server trusts its root, and every other socket keeps WhatsApp's (runner/whatsapp/loopback-trust.ts).
 *
 * Without the options Baileys behaves exactly as published. This module only tells whether the patch is in, so that
 * the runner can say so loudly when Baileys was installed with --ignore-scripts.
 */
export const BEFORE_RECEIPT_MARKER = 'wa-gateway patch: beforeReceipt'
export const TRUSTED_ROOT_MARKER = 'wa-gateway patch: trustedRootKey'

/** Each socket option the patch adds, with the files (inside the Baileys package) that carry its marker. */
export const PATCHED_OPTIONS = {
  beforeReceipt: { marker: BEFORE_RECEIPT_MARKER, files: ['lib/Socket/messages-recv.js'] },
  trustedRootKey: { marker: TRUSTED_ROOT_MARKER, files: ['lib/Socket/socket.js', 'lib/Utils/noise-handler.js'] },
} as const

export type PatchedOption = keyof typeof PATCHED_OPTIONS

/** Every file the patch changes. */
export const PATCHED_FILES: readonly string[] = Object.values(PATCHED_OPTIONS).flatMap((p) => p.files)

/** The installed Baileys package folder. */
export function baileysDir(): string {
  // lib/index.js → the package root
  return dirname(dirname(fileURLToPath(import.meta.resolve('@whiskeysockets/baileys'))))
}

/** True when the patch for `options` (all of them by default) is in the Baileys package at `dir`. */
export function isBaileysPatched(dir = baileysDir(), options: readonly PatchedOption[] = ['beforeReceipt', 'trustedRootKey']): boolean {
  return options.every((option) => {
    const { marker, files } = PATCHED_OPTIONS[option]
    return files.every((file) => readFileSync(join(dir, file), 'utf8').includes(marker))
  })
}
