import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The two changes the gateway makes to Baileys 7.0.0-rc14 (pinned exactly), applied by `npm install` (postinstall).
 *
 * 1. `beforeReceipt`. Baileys sends an inbound message's `<receipt>` and only then hands the message to the application (a buffered
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
 * 2. `trustedRootKey`. Baileys checks the server's Noise certificate against one exported, mutable root key
 * (`WA_CERT_DETAILS.PUBLIC_KEY`); trusting a test server's root meant overwriting it for every socket of the process.
 * The patch adds a socket option, `trustedRootKey`, that the socket's own handshake checks instead: a socket pointed at
 * the loopback server trusts its root, and every other socket keeps WhatsApp's (runner/whatsapp/loopback-trust.ts).
 *
 * Without the options Baileys behaves exactly as published. Each edit replaces text that must occur exactly once:
 * another Baileys build fails the install loudly instead of being half-patched.
 */
export interface BaileysPatch {
  /** The socket option the patch adds. */
  option: 'beforeReceipt' | 'trustedRootKey'
  /** Path inside the Baileys package. */
  file: string
  /** Present once the patch is in; makes applying idempotent. */
  marker: string
  /** Text replacements, each `find` occurring exactly once in the unpatched file. */
  edits: { find: string; replace: string }[]
}

export const BEFORE_RECEIPT_MARKER = 'wa-gateway patch: beforeReceipt'
export const TRUSTED_ROOT_MARKER = 'wa-gateway patch: trustedRootKey'

const INDENT_MUTEX = '            '
const INDENT_BODY = '                    '

export const BAILEYS_PATCHES: readonly BaileysPatch[] = [
  {
    option: 'beforeReceipt',
    file: 'lib/Socket/messages-recv.js',
    marker: BEFORE_RECEIPT_MARKER,
    edits: [
      {
        find: `${INDENT_MUTEX}await messageMutex.mutex(async () => {\n                await decrypt();\n`,
        replace:
          `${INDENT_MUTEX}// ${BEFORE_RECEIPT_MARKER} (runner/whatsapp/baileys-patch.ts): with the option, the ratchet the decryption\n` +
          `${INDENT_MUTEX}// advances is saved when this transaction ends, after the application has stored the message.\n` +
          `${INDENT_MUTEX}const inKeyTransaction = (work) => (config.beforeReceipt ? authState.keys.transaction(work, msg.key.remoteJid || 'inbound') : work());\n` +
          `${INDENT_MUTEX}await messageMutex.mutex(async () => inKeyTransaction(async () => {\n                await decrypt();\n`,
      },
      {
        find: `${INDENT_BODY}const isNewsletter = isJidNewsletter(msg.key.remoteJid);\n`,
        replace:
          `${INDENT_BODY}// ${BEFORE_RECEIPT_MARKER}: the application keeps the message before WhatsApp is told it arrived;\n` +
          `${INDENT_BODY}// a process that dies here sent no receipt and gets it again.\n` +
          `${INDENT_BODY}if (config.beforeReceipt) {\n` +
          `${INDENT_BODY}    await config.beforeReceipt(msg, { offline: !!node.attrs.offline });\n` +
          `${INDENT_BODY}}\n` +
          `${INDENT_BODY}const isNewsletter = isJidNewsletter(msg.key.remoteJid);\n`,
      },
      {
        find: "                await upsertMessage(msg, node.attrs.offline ? 'append' : 'notify');\n            });\n",
        replace: "                await upsertMessage(msg, node.attrs.offline ? 'append' : 'notify');\n            }));\n",
      },
    ],
  },
  {
    option: 'trustedRootKey',
    file: 'lib/Socket/socket.js',
    marker: TRUSTED_ROOT_MARKER,
    edits: [
      {
        find: '        routingInfo: authState?.creds?.routingInfo\n    });\n',
        replace:
          '        routingInfo: authState?.creds?.routingInfo,\n' +
          `        // ${TRUSTED_ROOT_MARKER} (runner/whatsapp/baileys-patch.ts): the certificate root this socket trusts\n` +
          '        trustedRootKey: config.trustedRootKey\n    });\n',
      },
    ],
  },
  {
    option: 'trustedRootKey',
    file: 'lib/Utils/noise-handler.js',
    marker: TRUSTED_ROOT_MARKER,
    edits: [
      {
        find: 'export const makeNoiseHandler = ({ keyPair: { private: privateKey, public: publicKey }, NOISE_HEADER, logger, routingInfo }) => {\n',
        replace:
          `// ${TRUSTED_ROOT_MARKER} (runner/whatsapp/baileys-patch.ts): a socket may name the root its certificate chain\n` +
          '// must lead to; without it, WhatsApp\'s.\n' +
          'export const makeNoiseHandler = ({ keyPair: { private: privateKey, public: publicKey }, NOISE_HEADER, logger, routingInfo, trustedRootKey }) => {\n',
      },
      {
        find: 'Curve.verify(WA_CERT_DETAILS.PUBLIC_KEY, certIntermediate.details, certIntermediate.signature)',
        replace: 'Curve.verify(trustedRootKey ?? WA_CERT_DETAILS.PUBLIC_KEY, certIntermediate.details, certIntermediate.signature)',
      },
    ],
  },
]

/** The patches that add one socket option. */
export const patchesFor = (option: BaileysPatch['option']): BaileysPatch[] => BAILEYS_PATCHES.filter((p) => p.option === option)

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

export function applyBaileysPatches(dir = baileysDir(), patches: readonly BaileysPatch[] = BAILEYS_PATCHES): PatchResult[] {
  // Every file is checked before any is written, so a mismatch leaves the package untouched.
  const planned = patches.map((patch) => {
    const path = join(dir, patch.file)
    const text = readFileSync(path, 'utf8')
    if (text.includes(patch.marker)) return { patch, path, next: null }
    let next = text
    for (const { find, replace } of patch.edits) {
      const at = next.indexOf(find)
      if (at < 0 || next.indexOf(find, at + 1) >= 0) {
        throw new BaileysPatchError(
          `${patch.file}: a text the gateway's patch replaces was not found exactly once; ` +
            'this is not the Baileys build the gateway pins (7.0.0-rc14): reinstall with npm ci',
        )
      }
      next = next.slice(0, at) + replace + next.slice(at + find.length)
    }
    return { patch, path, next }
  })
  return planned.map(({ patch, path, next }) => {
    if (next === null) return { file: patch.file, outcome: 'already-applied' as const }
    writeFileSync(path, next)
    return { file: patch.file, outcome: 'applied' as const }
  })
}

/** True when every patch is in the installed Baileys (`patches`: only those, e.g. one option's). */
export function isBaileysPatched(dir = baileysDir(), patches: readonly BaileysPatch[] = BAILEYS_PATCHES): boolean {
  return patches.every((patch) => readFileSync(join(dir, patch.file), 'utf8').includes(patch.marker))
}
