import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPglite } from '../../db/drivers/pglite.js'
import { waitFor } from '../runner/helpers.js'
import { freePort } from '../support/free-port.js'
import { keyMaterialOf, printedForms } from '../support/key-material.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

/**
 * The `npm start` half of the libsignal key leak (tests/runner/console-keys.test.ts has the runner process): a contact
 * re-installs, the embedded runner's libsignal closes the old Signal session and reports it through console; the
 * process's stdout must hold no byte of any key in the auth state and not the words privKey/rootKey, and the report
 * is a JSON log line with the record omitted. The keys are read from the data directory after the gateway stopped.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

describe('npm start: a contact\'s Signal session replaced prints no key material', () => {
  let loopback: LoopbackServer
  let dataDir: string
  beforeAll(async () => {
    loopback = await startLoopbackServer()
    dataDir = mkdtempSync(join(tmpdir(), 'wa-start-keys-'))
  })
  afterAll(async () => {
    await loopback?.stop()
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  it('keeps the session records out of stdout', async () => {
    const port = await freePort()
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'start.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...(loopback.info.env),
        DATA_DIR: dataDir, PORT: String(port), PRINT_QR: '0', WA_TEST_TIMERS: '1', LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      const apiKey = (await waitFor(() => /API key:\s+([0-9a-f]{32,})/.exec(stdout), 60_000, `the banner; output so far:\n${stdout}${stderr}`))[1]!
      const api = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'X-API-Key': apiKey } })).json() as Promise<Record<string, unknown>>
      const status = await waitFor(async () => {
        const s = await api('/api/status')
        return s.qr ? s : null
      }, 30_000, 'a QR')
      const { phone: own } = await loopback.scan(String(status.qr), '9611234599')
      await waitFor(async () => (await api('/api/status')).status === 'online', 30_000, 'online')
      const contact = '96170500500'
      await loopback.inbound({ from: contact, to: own, text: 'hello' })
      await waitFor(() => (stdout.match(/"msg":"inbound message"/g) ?? []).length >= 1, 30_000, 'the first message stored')
      await loopback.inbound({ from: contact, to: own, text: 'hello from a new phone', freshSession: true })
      await waitFor(() => (stdout.match(/"msg":"inbound message"/g) ?? []).length >= 2, 30_000, 'the message in the new session stored')
      await waitFor(() => /Closing session/.test(stdout), 10_000, 'libsignal to report the closed session')
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)

    const db = await openPglite({ dataDir })
    let keys: Buffer[]
    try {
      keys = await keyMaterialOf(db, 'default', readFileSync(join(dataDir, 'auth-state.key'), 'utf8').trim())
    } finally {
      await db.close()
    }
    expect(keys.length).toBeGreaterThan(20)
    expect(stdout).not.toMatch(/privKey|rootKey|chainKey|<Buffer/)
    for (const key of keys) {
      for (const form of printedForms(key)) {
        if (stdout.includes(form)) throw new Error(`npm start printed key bytes (${form.slice(0, 12)}…) on stdout`)
      }
    }
    const closing = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { source?: string; msg?: string })
      .find((l) => l.source === 'console' && /^Closing session/.test(l.msg ?? ''))
    expect(closing?.msg).toBe('Closing session: [SessionEntry omitted]')
  }, 180_000)
})
