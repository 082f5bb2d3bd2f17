import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeDataDirPrivate, privateTree } from '../../db/data-dir.js'
import { waitFor } from '../runner/helpers.js'
import { freePort } from '../support/free-port.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

/**
 * The embedded data directory was created 0755 and PGlite's files 0666: any local user (`nobody`) could read the WAL,
 * with message bodies and webhook secrets in it. After a start, nothing under DATA_DIR may be open to group or others,
 * the files PGlite creates while running included, and a loose directory from an older install is tightened with a
 * warning in the log. Checked on real processes: `npm start` (start.ts) and `npm run runner` (runner/main.ts).
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

function spawnEntry(entry: string, env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PRINT_QR: '0', WA_TEST_TIMERS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  return { child, output: () => out, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) }
}

/** Every path under `dir` (itself included) whose mode gives group or others any access, as "mode path". */
function openToOthers(dir: string): string[] {
  const found: string[] = []
  const visit = (path: string) => {
    const st = lstatSync(path)
    if (st.isSymbolicLink()) return
    if (st.mode & 0o077) found.push(`${(st.mode & 0o777).toString(8)} ${path.slice(dir.length) || '/'}`)
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
  }
  visit(dir)
  return found
}

const modeOf = (path: string) => statSync(path).mode & 0o777

describe('DATA_DIR is private to the gateway user', () => {
  let loopback: LoopbackServer
  let base: string
  beforeAll(async () => {
    loopback = await startLoopbackServer()
    base = mkdtempSync(join(tmpdir(), 'wa-perm-'))
  })
  afterAll(async () => {
    await loopback?.stop()
    if (base) rmSync(base, { recursive: true, force: true })
  })

  it('npm start creates it 0700 and leaves nothing under it readable by others, after PGlite has written', async () => {
    const dataDir = join(base, 'fresh', 'data')
    const gw = spawnEntry('start.ts', { ...(loopback.info.env), DATA_DIR: dataDir, PORT: String(await freePort()) })
    try {
      await waitFor(() => /API key:/.test(gw.output()), 60_000, `the banner; output so far:\n${gw.output()}`)
      // Migrations have created every table by now: files PGlite made while running count, not only the initial ones.
      expect(modeOf(dataDir).toString(8)).toBe('700')
      expect(openToOthers(dataDir)).toEqual([])
      expect(readdirSync(dataDir).sort()).toEqual(expect.arrayContaining(['api-key', 'auth-state.key', 'pgdata']))
    } finally {
      gw.child.kill('SIGTERM')
    }
    expect(await gw.exited).toBe(0)
    // After a clean stop (checkpoint, WAL written), still nothing open.
    expect(openToOthers(dataDir)).toEqual([])
  }, 120_000)

  it('npm run runner on the embedded database tightens a loose directory from an older install and says so', async () => {
    const dataDir = join(base, 'old')
    mkdirSync(join(dataDir, 'pgdata'), { recursive: true })
    // What an older version left: the directories 0755 and a file 0644.
    chmodSync(dataDir, 0o755)
    chmodSync(join(dataDir, 'pgdata'), 0o755)
    writeFileSync(join(dataDir, 'notes.txt'), 'left by hand\n', { mode: 0o644 })
    chmodSync(join(dataDir, 'notes.txt'), 0o644)
    const runner = spawnEntry('runner/main.ts', { ...(loopback.info.env), DATA_DIR: dataDir, LOG_LEVEL: 'info' })
    try {
      await waitFor(() => /"msg":"runner started"/.test(runner.output()), 60_000, `the runner to start; output so far:\n${runner.output()}`)
      const warning = runner.output().split('\n').find((l) => l.includes('readable by other users'))
      expect(warning, runner.output()).toBeDefined()
      expect(JSON.parse(warning!)).toMatchObject({ level: 40, dir: dataDir, was: '755', now: '700' })
      expect(modeOf(dataDir).toString(8)).toBe('700')
      expect(openToOthers(dataDir)).toEqual([])
    } finally {
      runner.child.kill('SIGTERM')
    }
    expect(await runner.exited).toBe(0)
  }, 120_000)

  it('makeDataDirPrivate and privateTree: what each changes', () => {
    const dir = join(base, 'unit')
    expect(makeDataDirPrivate(dir)).toBeNull()
    expect(modeOf(dir).toString(8)).toBe('700')
    chmodSync(dir, 0o750)
    expect(makeDataDirPrivate(dir)).toEqual({ dir, was: '750' })
    mkdirSync(join(dir, 'a'), { mode: 0o755 })
    chmodSync(join(dir, 'a'), 0o755)
    writeFileSync(join(dir, 'a', 'f'), 'x')
    chmodSync(join(dir, 'a', 'f'), 0o666)
    expect(privateTree(dir)).toBe(2)
    expect(modeOf(join(dir, 'a', 'f')).toString(8)).toBe('600')
    expect(privateTree(dir)).toBe(0)
  })
})
