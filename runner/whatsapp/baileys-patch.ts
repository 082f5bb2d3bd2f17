import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The one change the gateway makes to Baileys 7.0.0-rc14 (pinned exactly), applied by `npm install` (postinstall).
 *
 * Baileys sends an inbound message's `<receipt>` and only then hands the message to the application (a buffered
 * `messages.upsert`). The receipt ends WhatsApp's redelivery, so a runner killed between the two lost the message for
 * good: the 20,000-message PostgreSQL soak lost one STOP that way. The patch adds a socket option, `beforeReceipt`,
 * that Baileys awaits after decrypting and before receipting; the runner stores the message there. A runner that dies
 * first sent no receipt, and WhatsApp delivers the message again at the next login.
 *
 * Without the option Baileys behaves exactly as published. The patch is a string replacement on one anchor that
 * must occur exactly once: another Baileys build fails the install loudly instead of being half-patched.
 */
export interface BaileysPatch {
  /** Path inside the Baileys package. */
  file: string
  /** Present once the patch is in; makes applying idempotent. */
  marker: string
  /** The unpatched text the insertion goes before; must occur exactly once. */
  anchor: string
  insert: string
}

export const BEFORE_RECEIPT_MARKER = 'wa-gateway patch: beforeReceipt'

export const BAILEYS_PATCHES: readonly BaileysPatch[] = [
  {
    file: 'lib/Socket/messages-recv.js',
    marker: BEFORE_RECEIPT_MARKER,
    anchor: '                    const isNewsletter = isJidNewsletter(msg.key.remoteJid);\n',
    insert:
      `                    // ${BEFORE_RECEIPT_MARKER} (runner/whatsapp/baileys-patch.ts): the application keeps the message\n` +
      '                    // before WhatsApp is told it arrived; a process that dies here sent no receipt and gets it again.\n' +
      '                    if (config.beforeReceipt) {\n' +
      '                        await config.beforeReceipt(msg, { offline: !!node.attrs.offline });\n' +
      '                    }\n',
  },
]

/** The installed Baileys package folder. */
export function baileysDir(): string {
  // lib/index.js → the package root
  return dirname(dirname(fileURLToPath(import.meta.resolve('@whiskeysockets/baileys'))))
}

export type PatchResult = { file: string; outcome: 'applied' | 'already-applied' }

export class BaileysPatchError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BaileysPatchError'
  }
}

export function applyBaileysPatches(dir = baileysDir(), patches = BAILEYS_PATCHES): PatchResult[] {
  // Every file is checked before any is written, so a mismatch leaves the package untouched.
  const planned = patches.map((patch) => {
    const path = join(dir, patch.file)
    const text = readFileSync(path, 'utf8')
    if (text.includes(patch.marker)) return { patch, path, next: null }
    const at = text.indexOf(patch.anchor)
    if (at < 0 || text.indexOf(patch.anchor, at + 1) >= 0) {
      throw new BaileysPatchError(
        `${patch.file}: the text the gateway's patch goes before was not found exactly once; ` +
          'this is not the Baileys build the gateway pins (7.0.0-rc14): reinstall with npm ci',
      )
    }
    return { patch, path, next: text.slice(0, at) + patch.insert + text.slice(at) }
  })
  return planned.map(({ patch, path, next }) => {
    if (next === null) return { file: patch.file, outcome: 'already-applied' as const }
    writeFileSync(path, next)
    return { file: patch.file, outcome: 'applied' as const }
  })
}

/** True when every patch is in the installed Baileys. */
export function isBaileysPatched(dir = baileysDir(), patches = BAILEYS_PATCHES): boolean {
  return patches.every((patch) => readFileSync(join(dir, patch.file), 'utf8').includes(patch.marker))
}
