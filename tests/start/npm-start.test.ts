import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
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
 * `npm start` is run through npm, and SIGTERM goes to npm's PID, as a supervisor or a container runtime sends it.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

interface Started {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
  /** Every process below npm right now (sh, node, …). */
  tree: () => number[]
}

/** Processes whose parent chain leads to `pid`, from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = []
  const queue = [pid]
  while (queue.length) {
    const parent = queue.shift()!
    for (const [child, ppid] of parents) {
      if (ppid !== parent) continue
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const portAnswers = (port: number) => fetch(`http://127.0.0.1:${port}/healthz`).then(() => true, () => false)

function npmStart(env: Record<string, string>): Started {
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => out, exited, tree: () => descendants(child.pid!) }
}

/** SIGTERM to npm's PID; then nothing of the tree may be left, and the port must be free. */
async function stopLikeASupervisor(gw: Started, port: number): Promise<number | null> {
  const tree = gw.tree()
  expect(tree.length).toBeGreaterThan(0)
  gw.child.kill('SIGTERM')
  const code = await gw.exited
  await waitFor(() => tree.every((pid) => !isAlive(pid)), 15_000, `no process left of npm start's tree (${tree.join(', ')})`)
  expect(await portAnswers(port)).toBe(false)
  return code
}

/** After a failed assertion: nothing of the tree may outlive the test. */
function killTree(gw: Started): void {
  for (const pid of [...gw.tree(), gw.child.pid!]) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** A TCP forwarder to `target` that can be opened and closed: WhatsApp unreachable, then reachable. */
function gate(target: URL): { open(port: number): Promise<void>; close(): Promise<void> } {
  let server: Server | null = null
  const sockets = new Set<Socket>()
  return {
    open: (port) =>
      new Promise((resolve) => {
        server = createServer((inbound) => {
          const outbound = connect(Number(target.port), target.hostname)
          for (const s of [inbound, outbound]) {
            sockets.add(s)
            s.on('close', () => sockets.delete(s)).on('error', () => {})
          }
          inbound.pipe(outbound).pipe(inbound)
        })
        server.listen(port, '127.0.0.1', () => resolve())
      }),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        if (server) server.close(() => resolve())
        else resolve()
      }),
  }
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
      PRESENCE: 'off',
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
    } catch (err) {
      killTree(gw)
      throw err
    }
    const t0 = Date.now()
    expect(await stopLikeASupervisor(gw, port)).toBe(0)
    expect(Date.now() - t0).toBeLessThan(12_000)
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
    } catch (err) {
      killTree(gw)
      throw err
    }
    expect(await stopLikeASupervisor(gw, port)).toBe(0)
  }, 120_000)

  it('stops cleanly on a SIGTERM that comes as soon as the API answers, before the runner has started', async () => {
    const gw = npmStart(env)
    try {
      // The runner's modules load after the API listens: the signal lands in the middle of the start.
      await waitFor(async () => (await fetch(`${base()}/readyz`).catch(() => null))?.status === 200, 60_000, `/readyz; output so far:\n${gw.output()}`)
    } catch (err) {
      killTree(gw)
      throw err
    }
    expect(await stopLikeASupervisor(gw, port)).toBe(0)
    // The embedded database was closed, not killed with the process: its lock is gone.
    expect(existsSync(join(dataDir, 'gateway.lock'))).toBe(false)
  }, 120_000)

  it('says once, in plain words, that WhatsApp cannot be reached, and once that it can again (no PRINT_QR, no TTY)', async () => {
    const target = new URL(loopback.info.env.WA_WEBSOCKET_URL!)
    const gatePort = await freePort()
    const whatsapp = gate(target)
    const unreachableDir = mkdtempSync(join(tmpdir(), 'wa-npm-start-unreachable-'))
    const ownPort = await freePort()
    const url = new URL(target)
    url.port = String(gatePort)
    const { PRINT_QR: _qr, ...quiet } = env
    const gw = npmStart({ ...quiet, DATA_DIR: unreachableDir, PORT: String(ownPort), WA_WEBSOCKET_URL: url.toString(), RECONNECT_MAX_MS: '1000' })
    const said = (text: string) => gw.output().split(text).length - 1
    try {
      await waitFor(() => said('WhatsApp cannot be reached from this machine') === 1, 120_000, `the unreachable notice; output so far:\n${gw.output()}`)
      expect(gw.output()).toMatch(/ECONNREFUSED/)
      expect(gw.output()).toMatch(/DNS, a firewall, or a proxy/)
      // It keeps retrying (the status says so each time) without saying it again.
      const key = /API key:\s+([0-9a-f]{32,})/.exec(gw.output())![1]!
      const status = async () => (await (await fetch(`http://127.0.0.1:${ownPort}/api/status`, { headers: { 'X-API-Key': key } })).json()) as Record<string, unknown>
      expect(String((await status()).detail)).toMatch(/ECONNREFUSED/)
      await new Promise((r) => setTimeout(r, 5000))
      expect(said('WhatsApp cannot be reached from this machine')).toBe(1)

      await whatsapp.open(gatePort)
      await waitFor(() => said('WhatsApp can be reached again') === 1, 60_000, `the reachable notice; output so far:\n${gw.output()}`)
      await waitFor(async () => String((await status()).qr_code).startsWith('data:image/png'), 30_000, 'a QR from the reached server')
      expect(said('WhatsApp cannot be reached from this machine')).toBe(1)
      // The QR's secret stays off a terminal that is not one.
      expect(gw.output()).not.toContain('Scan this QR code')
    } catch (err) {
      killTree(gw)
      throw err
    } finally {
      await whatsapp.close()
    }
    expect(await stopLikeASupervisor(gw, ownPort)).toBe(0)
    rmSync(unreachableDir, { recursive: true, force: true })
  }, 240_000)
})
