import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLoopbackServer } from '../support/wa-loopback/server.js'
import { waitFor } from '../runner/helpers.js'
import { freePort } from '../support/free-port.js'

/**
 * The README's first promise, as a newcomer meets it: `npm start` on an empty data directory serves the API and
 * the dashboard on the embedded database, prints the dashboard URL, the API key and a terminal QR, pairs, sends,
 * stops cleanly on SIGTERM, and starts again with the same key (named by its file, not printed) and without a new QR.
 * (The WhatsApp side is the loopback server, exported to the process exactly as its `info.env` says.)
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))


interface Started {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

function npmStart(env: Record<string, string>): Started {
  // The `start` script runs `tsx start.ts`; spawn node directly so SIGTERM reaches the gateway itself.
  const child = spawn(process.execPath, ['--import', 'tsx', 'start.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => out, exited }
}

describe('npm start (embedded database, API + dashboard + runner in one process)', () => {
  let loopback: Awaited<ReturnType<typeof startLoopbackServer>>
  let dataDir: string
  let port: number
  let env: Record<string, string>
  let apiKey = ''
  const base = () => `http://127.0.0.1:${port}`
  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${base()}${path}`, { ...init, headers: { 'X-API-Key': apiKey, 'Content-Type': 'application/json', ...init.headers } })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  beforeAll(async () => {
    loopback = await startLoopbackServer()
    dataDir = mkdtempSync(join(tmpdir(), 'wa-npm-start-'))
    port = await freePort()
    env = {
      ...(loopback.info.env),
      DATA_DIR: dataDir,
      PORT: String(port),
      PRINT_QR: '1',
      THROTTLE_MIN_MS: '200',
      THROTTLE_MAX_MS: '400',
    }
  })

  afterAll(async () => {
    await loopback?.stop()
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  it('prints the dashboard URL, a generated API key and a terminal QR, pairs, sends and stops on SIGTERM', async () => {
    const gw = npmStart(env)
    try {
      const banner = await waitFor(() => /API key:\s+([0-9a-f]{32,})/.exec(gw.output()), 60_000, `the banner; output so far:\n${gw.output()}`)
      apiKey = banner[1]!
      expect(gw.output()).toContain(`Dashboard:      http://localhost:${port}/dashboard`)
      expect(gw.output()).toMatch(/generated and saved in .*api-key/)
      await waitFor(() => gw.output().includes('Scan this QR code'), 30_000, 'the terminal QR')
      expect(gw.output()).toMatch(/[█▀▄]{20,}/)
      // A quiet terminal: no JSON info lines between the banner and the QR.
      expect(gw.output()).not.toMatch(/"level":30/)

      const status = await api('/api/status')
      expect(status.status).toBe(200)
      expect(status.body).toMatchObject({ name: 'default', status: 'connecting', phone: null })
      expect(String(status.body.qr_code)).toMatch(/^data:image\/png;base64,/)
      const dash = await fetch(`${base()}/dashboard`, { redirect: 'manual' })
      expect([302, 303]).toContain(dash.status)

      await loopback.scan(String(status.body.qr), '9611234567')
      await waitFor(() => gw.output().includes('Session "default" is online as +9611234567'), 30_000, 'the online line')
      const online = await api('/api/status')
      expect(online.body).toMatchObject({ status: 'online', phone: '9611234567', qr_code: null })

      const sent = await api('/api/send', { method: 'POST', body: JSON.stringify({ phone: '9617000001', message: 'مرحبا 👋 from npm start' }) })
      expect(sent.body).toMatchObject({ success: true })
      const id = sent.body.message_id as number
      await waitFor(async () => (await api(`/api/messages/${id}`)).body.status === 'sent', 30_000, 'the message to be sent')
      const received = await waitFor(() => {
        const got = loopback.messages('9617000001')
        return got.length ? got : null
      }, 20_000, 'the contact to receive it')
      expect(received[0]!.text).toBe('مرحبا 👋 from npm start')
    } finally {
      gw.child.kill('SIGTERM')
    }
    const t0 = Date.now()
    expect(await gw.exited).toBe(0)
    expect(Date.now() - t0).toBeLessThan(10_000)
  }, 180_000)

  it('starts again with the same key, says where it is kept without printing it, and logs in without a new QR', async () => {
    const gw = npmStart(env)
    try {
      const banner = await waitFor(() => /API key:\s+kept in (\S*api-key)/.exec(gw.output()), 60_000, `the banner; output so far:\n${gw.output()}`)
      expect(readFileSync(banner[1]!, 'utf8').trim()).toBe(apiKey)
      await waitFor(() => gw.output().includes('Session "default" is online as +9611234567'), 30_000, 'the online line')
      expect(gw.output()).not.toContain('Scan this QR code')
      // Under a process manager this output is a log file: the key must not be in it.
      expect(gw.output()).not.toContain(apiKey)
      expect((await api('/api/status')).status).toBe(200)
    } finally {
      gw.child.kill('SIGTERM')
    }
    expect(await gw.exited).toBe(0)
  }, 120_000)
})
