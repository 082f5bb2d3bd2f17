import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { applyBaileysPatches, BAILEYS_PATCHES, BaileysPatchError, baileysDir, isBaileysPatched } from '../../runner/whatsapp/baileys-patch.js'

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

const [patch] = BAILEYS_PATCHES
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
    expect(isBaileysPatched(dir)).toBe(false)
    expect(applyBaileysPatches(dir)).toEqual([{ file: patch!.file, outcome: 'applied' }])
    const once = readFileSync(join(dir, patch!.file), 'utf8')
    expect(once).toBe(installed)
    // decrypt → store → receipt, all inside one key transaction (the ratchet is saved after the store)
    const at = (text: string) => once.indexOf(text)
    expect(at('inKeyTransaction(async () => {')).toBeLessThan(at('await decrypt();'))
    expect(at('await decrypt();')).toBeLessThan(at('config.beforeReceipt(msg'))
    expect(at('config.beforeReceipt(msg')).toBeLessThan(at('await sendReceipt(msg.key.remoteJid'))
    expect(applyBaileysPatches(dir)).toEqual([{ file: patch!.file, outcome: 'already-applied' }])
    expect(readFileSync(join(dir, patch!.file), 'utf8')).toBe(once)
  })

  it('refuses another Baileys build and leaves it untouched', () => {
    const anchor = patch!.edits[1]!.find
    const changed = original.replace(anchor, anchor.replace('isNewsletter', 'isChannel'))
    const dir = fakePackage(changed)
    expect(() => applyBaileysPatches(dir)).toThrow(BaileysPatchError)
    expect(() => applyBaileysPatches(dir)).toThrow(/7\.0\.0-rc14/)
    expect(readFileSync(join(dir, patch!.file), 'utf8')).toBe(changed)
    const twice = fakePackage(original + anchor)
    expect(() => applyBaileysPatches(twice)).toThrow(/exactly once/)
  })
})
