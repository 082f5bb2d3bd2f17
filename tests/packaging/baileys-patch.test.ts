import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { applyBaileysPatches, BAILEYS_PATCHES, BaileysPatchError, baileysDir, isBaileysPatched, patchesFor } from '../../runner/whatsapp/baileys-patch.js'

/** The install-time Baileys patch (runner/whatsapp/baileys-patch.ts), applied to copies of the installed files. */
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A package folder holding `text` as the patched file. */
function fakePackage(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'baileys-patch-'))
  dirs.push(dir)
  const [patch] = BAILEYS_PATCHES
  mkdirSync(join(dir, patch!.file, '..'), { recursive: true })
  writeFileSync(join(dir, patch!.file), text)
  return dir
}

const beforeReceipt = patchesFor('beforeReceipt')
const [patch] = beforeReceipt
const installed = readFileSync(join(baileysDir(), patch!.file), 'utf8')
/** The published file: every edit undone. */
const original = patch!.edits.reduce((text, { find, replace }) => text.replace(replace, find), installed)

describe('the Baileys patch', () => {
  it('is in the installed package (npm install applied it)', () => {
    expect(isBaileysPatched()).toBe(true)
    for (const { replace } of patch!.edits) expect(installed).toContain(replace)
    expect(original).not.toContain('wa-gateway')
  })

  it('inserts the hook once, before the receipt, and is idempotent', () => {
    const dir = fakePackage(original)
    expect(isBaileysPatched(dir, beforeReceipt)).toBe(false)
    expect(applyBaileysPatches(dir, beforeReceipt)).toEqual([{ file: patch!.file, outcome: 'applied' }])
    const once = readFileSync(join(dir, patch!.file), 'utf8')
    expect(once).toBe(installed)
    // decrypt → store → receipt, all inside one key transaction (the ratchet is saved after the store)
    const at = (text: string) => once.indexOf(text)
    expect(at('inKeyTransaction(async () => {')).toBeLessThan(at('await decrypt();'))
    expect(at('await decrypt();')).toBeLessThan(at('config.beforeReceipt(msg'))
    expect(at('config.beforeReceipt(msg')).toBeLessThan(at('await sendReceipt(msg.key.remoteJid'))
    expect(applyBaileysPatches(dir, beforeReceipt)).toEqual([{ file: patch!.file, outcome: 'already-applied' }])
    expect(readFileSync(join(dir, patch!.file), 'utf8')).toBe(once)
  })

  it('refuses another Baileys build and leaves it untouched', () => {
    const anchor = patch!.edits[1]!.find
    const changed = original.replace(anchor, anchor.replace('isNewsletter', 'isChannel'))
    const dir = fakePackage(changed)
    expect(() => applyBaileysPatches(dir, beforeReceipt)).toThrow(BaileysPatchError)
    expect(() => applyBaileysPatches(dir, beforeReceipt)).toThrow(/7\.0\.0-rc14/)
    expect(readFileSync(join(dir, patch!.file), 'utf8')).toBe(changed)
    const twice = fakePackage(original + anchor)
    expect(() => applyBaileysPatches(twice, beforeReceipt)).toThrow(/exactly once/)
  })
})

describe('the trustedRootKey patch', () => {
  const trust = patchesFor('trustedRootKey')
  const files = trust.map((p) => {
    const text = readFileSync(join(baileysDir(), p.file), 'utf8')
    return { patch: p, installed: text, original: p.edits.reduce((t, { find, replace }) => t.replace(replace, find), text) }
  })

  it('is in the installed package, in the socket and in its Noise handshake', () => {
    expect(trust.map((p) => p.file).sort()).toEqual(['lib/Socket/socket.js', 'lib/Utils/noise-handler.js'])
    expect(isBaileysPatched(undefined, trust)).toBe(true)
    for (const f of files) {
      for (const { replace } of f.patch.edits) expect(f.installed).toContain(replace)
      expect(f.original).not.toContain('wa-gateway')
    }
    const noise = files.find((f) => f.patch.file.endsWith('noise-handler.js'))!.installed
    // The intermediate certificate is checked against the socket's root, WhatsApp's only when none was given.
    expect(noise).toContain('Curve.verify(trustedRootKey ?? WA_CERT_DETAILS.PUBLIC_KEY, certIntermediate.details')
    expect(noise).not.toMatch(/WA_CERT_DETAILS\.PUBLIC_KEY\s*=/)
  })

  it('applies to the published files, once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baileys-patch-'))
    dirs.push(dir)
    for (const f of files) {
      mkdirSync(join(dir, f.patch.file, '..'), { recursive: true })
      writeFileSync(join(dir, f.patch.file), f.original)
    }
    expect(isBaileysPatched(dir, trust)).toBe(false)
    expect(applyBaileysPatches(dir, trust).map((r) => r.outcome)).toEqual(['applied', 'applied'])
    for (const f of files) expect(readFileSync(join(dir, f.patch.file), 'utf8')).toBe(f.installed)
    expect(applyBaileysPatches(dir, trust).map((r) => r.outcome)).toEqual(['already-applied', 'already-applied'])
  })
})
