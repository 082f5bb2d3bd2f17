import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { baileysDir, BEFORE_RECEIPT_MARKER, isBaileysPatched, PATCHED_FILES, TRUSTED_ROOT_MARKER } from '../../runner/whatsapp/baileys-patch.js'

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

type Files = Record<string, string>

/** A project holding the gateway's patches/ and a Baileys package whose patched files read `files`. */
function project(files: Files): { dir: string; read(): Files } {
  const dir = mkdtempSync(join(tmpdir(), 'baileys-patch-'))
  dirs.push(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'p', version: '1.0.0', dependencies: { [BAILEYS]: PKG.dependencies[BAILEYS] } }))
  cpSync(join(ROOT, 'patches'), join(dir, 'patches'), { recursive: true })
  const pkg = join(dir, 'node_modules', BAILEYS)
  cpSync(join(baileysDir(), 'package.json'), join(pkg, 'package.json'))
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(pkg, file, '..'), { recursive: true })
    writeFileSync(join(pkg, file), text)
  }
  return { dir, read: () => Object.fromEntries(PATCHED_FILES.map((f) => [f, readFileSync(join(pkg, f), 'utf8')])) }
}

/** patch-package as the postinstall script runs it (its arguments taken from package.json). */
function postinstall(dir: string, extra: string[] = []) {
  const [command, ...args] = PKG.scripts.postinstall!.split(' ')
  expect(command).toBe('patch-package')
  // CI=true would turn --error-on-fail on by itself; the flags must do it on a developer's machine too.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }
  return spawnSync(process.execPath, [PATCH_PACKAGE, ...args, ...extra], { cwd: dir, env, encoding: 'utf8' })
}

const installedFiles: Files = Object.fromEntries(PATCHED_FILES.map((f) => [f, readFileSync(join(baileysDir(), f), 'utf8')]))
const installed = installedFiles['lib/Socket/messages-recv.js']!
/** The published files: the patch taken back out by patch-package itself. */
function published(): Files {
  const { dir, read } = project(installedFiles)
  const res = postinstall(dir, ['--reverse'])
  expect(res.status, res.stdout + res.stderr).toBe(0)
  return read()
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

  it('the socket option trustedRootKey: the handshake checks the socket’s own root, WhatsApp’s without it', () => {
    expect(installedFiles['lib/Utils/noise-handler.js']).toContain('Curve.verify(trustedRootKey ?? WA_CERT_DETAILS.PUBLIC_KEY')
    expect(installedFiles['lib/Socket/socket.js']).toContain('trustedRootKey: config.trustedRootKey')
  })

  it('applies to the published files and is idempotent (a second install leaves them as they are)', () => {
    const original = published()
    for (const text of Object.values(original)) expect(text).not.toContain('wa-gateway')
    const { dir, read } = project(original)
    const pkg = join(dir, 'node_modules', BAILEYS)
    expect(isBaileysPatched(pkg)).toBe(false)
    expect(isBaileysPatched(pkg, ['beforeReceipt'])).toBe(false)
    expect(isBaileysPatched(pkg, ['trustedRootKey'])).toBe(false)
    const first = postinstall(dir)
    expect(first.status, first.stdout + first.stderr).toBe(0)
    expect(read()).toEqual(installedFiles)
    expect(isBaileysPatched(pkg)).toBe(true)
    const second = postinstall(dir)
    expect(second.status, second.stdout + second.stderr).toBe(0)
    expect(read()).toEqual(installedFiles)
    expect(installed.split(BEFORE_RECEIPT_MARKER).length - 1).toBe(2)
    expect(installedFiles['lib/Utils/noise-handler.js']!.split(TRUSTED_ROOT_MARKER).length - 1).toBe(1)
  })

  it('fails the install on another Baileys text and leaves every file untouched', () => {
    const original = published()
    const file = 'lib/Socket/messages-recv.js'
    const anchor = 'const isNewsletter = isJidNewsletter(msg.key.remoteJid);'
    expect(original[file]).toContain(anchor)
    const changed = { ...original, [file]: original[file]!.replace(anchor, anchor.replace('isNewsletter', 'isChannel')) }
    const { dir, read } = project(changed)
    const res = postinstall(dir)
    expect(res.status).not.toBe(0)
    expect(res.stdout + res.stderr).toMatch(/failed to apply patch/i)
    expect(read()).toEqual(changed)
  })

  it('fails the install on another Baileys version, even when the text would still apply', () => {
    const { dir } = project(published())
    const pkgJson = join(dir, 'node_modules', BAILEYS, 'package.json')
    writeFileSync(pkgJson, readFileSync(pkgJson, 'utf8').replace('"version": "7.0.0-rc14"', '"version": "7.0.0-rc15"'))
    const res = postinstall(dir)
    expect(res.status, res.stdout + res.stderr).not.toBe(0)
  })
})
