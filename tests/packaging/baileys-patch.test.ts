import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { baileysDir, BEFORE_RECEIPT_MARKER, isBaileysPatched, PATCHED_FILE } from '../../runner/whatsapp/baileys-patch.js'

/**
 * The install-time Baileys patch (patches/, applied by patch-package at postinstall), applied to copies of the
 * installed package in throwaway projects, with the exact command line `npm install` runs.
 */
const ROOT = join(import.meta.dirname, '..', '..')
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; dependencies: Record<string, string> }
const PATCH_PACKAGE = join(ROOT, 'node_modules', 'patch-package', 'index.js')
const BAILEYS = '@whiskeysockets/baileys'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A project holding the gateway's patches/ and a Baileys package whose patched file reads `text`. */
function project(text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'baileys-patch-'))
  dirs.push(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'p', version: '1.0.0', dependencies: { [BAILEYS]: PKG.dependencies[BAILEYS] } }))
  cpSync(join(ROOT, 'patches'), join(dir, 'patches'), { recursive: true })
  const pkg = join(dir, 'node_modules', BAILEYS)
  mkdirSync(join(pkg, PATCHED_FILE, '..'), { recursive: true })
  cpSync(join(baileysDir(), 'package.json'), join(pkg, 'package.json'))
  writeFileSync(join(pkg, PATCHED_FILE), text)
  return { dir, file: join(pkg, PATCHED_FILE) }
}

/** patch-package as the postinstall script runs it (its arguments taken from package.json). */
function postinstall(dir: string, extra: string[] = []) {
  const [command, ...args] = PKG.scripts.postinstall!.split(' ')
  expect(command).toBe('patch-package')
  // CI=true would turn --error-on-fail on by itself; the flags must do it on a developer's machine too.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }
  return spawnSync(process.execPath, [PATCH_PACKAGE, ...args, ...extra], { cwd: dir, env, encoding: 'utf8' })
}

const installed = readFileSync(join(baileysDir(), PATCHED_FILE), 'utf8')
/** The published file: the patch taken back out by patch-package itself. */
function published(): string {
  const { dir, file } = project(installed)
  const res = postinstall(dir, ['--reverse'])
  expect(res.status, res.stdout + res.stderr).toBe(0)
  return readFileSync(file, 'utf8')
}

describe('the Baileys patch (patch-package)', () => {
  it('is in the installed package (npm install applied it), decrypt → store → receipt inside one key transaction', () => {
    expect(isBaileysPatched()).toBe(true)
    const at = (text: string) => installed.indexOf(text)
    expect(at('inKeyTransaction(async () => {')).toBeGreaterThan(0)
    expect(at('inKeyTransaction(async () => {')).toBeLessThan(at('await decrypt();'))
    expect(at('await decrypt();')).toBeLessThan(at('config.beforeReceipt(msg'))
    expect(at('config.beforeReceipt(msg')).toBeLessThan(at('await sendReceipt(msg.key.remoteJid'))
  })

  it('applies to the published file and is idempotent (a second install leaves it as it is)', () => {
    const original = published()
    expect(original).not.toContain('wa-gateway')
    const { dir, file } = project(original)
    expect(isBaileysPatched(join(dir, 'node_modules', BAILEYS))).toBe(false)
    const first = postinstall(dir)
    expect(first.status, first.stdout + first.stderr).toBe(0)
    expect(readFileSync(file, 'utf8')).toBe(installed)
    expect(isBaileysPatched(join(dir, 'node_modules', BAILEYS))).toBe(true)
    const second = postinstall(dir)
    expect(second.status, second.stdout + second.stderr).toBe(0)
    expect(readFileSync(file, 'utf8')).toBe(installed)
    expect(installed.split(BEFORE_RECEIPT_MARKER).length - 1).toBe(2)
  })

  it('fails the install on another Baileys text and leaves the file untouched', () => {
    const original = published()
    const anchor = 'const isNewsletter = isJidNewsletter(msg.key.remoteJid);'
    expect(original).toContain(anchor)
    const changed = original.replace(anchor, anchor.replace('isNewsletter', 'isChannel'))
    const { dir, file } = project(changed)
    const res = postinstall(dir)
    expect(res.status).not.toBe(0)
    expect(res.stdout + res.stderr).toMatch(/failed to apply patch/i)
    expect(readFileSync(file, 'utf8')).toBe(changed)
  })

  it('fails the install on another Baileys version, even when the text would still apply', () => {
    const { dir } = project(published())
    const pkgJson = join(dir, 'node_modules', BAILEYS, 'package.json')
    writeFileSync(pkgJson, readFileSync(pkgJson, 'utf8').replace('"version": "7.0.0-rc14"', '"version": "7.0.0-rc15"'))
    const res = postinstall(dir)
    expect(res.status, res.stdout + res.stderr).not.toBe(0)
  })
})
