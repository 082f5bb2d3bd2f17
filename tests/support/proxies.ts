/**
 * Real proxies for the proxy-per-number tests (runner/README.md, Proxy per number), each leaving through
 * `OUTGOING_ADDRESS`, so the loopback WhatsApp server can tell a proxied connection (from 127.0.0.2) from a direct
 * one (127.0.0.1):
 * - tinyproxy, an HTTP CONNECT proxy with Basic auth, and dante (`danted`), a SOCKS5 proxy without auth, started as
 *   child processes from configuration files written to a temporary directory, on free ports, stopped by PID;
 * - `startSocks5WithPassword`, a small SOCKS5 proxy with username/password (RFC 1928 CONNECT + RFC 1929), in process:
 *   dante checks SOCKS passwords against the system's user accounts, which a test must not create.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './free-port.js'

export const OUTGOING_ADDRESS = '127.0.0.2'

export interface TestProxy {
  /** The proxy's URL, credentials included. */
  url: string
  port: number
  /** Connections the proxy accepted (the in-process one only; null for the child processes). */
  accepted: () => number | null
  stop(): Promise<void>
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`proxy exited with ${child.exitCode}: ${log()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`proxy did not listen on ${port}: ${log()}`)
}

async function startChild(cmd: string, args: (conf: string) => string[], config: (port: number) => string, url: (port: number) => string): Promise<TestProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'wa-proxy-'))
  const port = await freePort()
  const conf = join(dir, 'proxy.conf')
  await writeFile(conf, config(port))
  const child = spawn(cmd, args(conf), { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-4000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  await waitForPort(port, child, () => output)
  return {
    url: url(port),
    port,
    accepted: () => null,
    async stop() {
      if (child.exitCode === null && child.pid) {
        const exited = new Promise((r) => child.once('exit', r))
        process.kill(child.pid, 'SIGTERM')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL')
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** tinyproxy in the foreground, Basic auth `user`:`pass`, CONNECT to any port, leaving from 127.0.0.2. */
export function startTinyproxy(user: string, pass: string): Promise<TestProxy> {
  return startChild(
    'tinyproxy', (conf) => ['-d', '-c', conf],
    (port) => [`Port ${port}`, 'Listen 127.0.0.1', `Bind ${OUTGOING_ADDRESS}`, 'Timeout 60', 'MaxClients 50', 'LogLevel Info',
      'DisableViaHeader Yes', `BasicAuth ${user} ${pass}`, ''].join('\n'),
    (port) => `http://${user}:${pass}@127.0.0.1:${port}`,
  )
}

/** danted (one process), SOCKS5 without authentication, leaving from 127.0.0.2. */
export function startDante(): Promise<TestProxy> {
  return startChild(
    'danted', (conf) => ['-f', conf, '-N', '1'],
    (port) => ['logoutput: stderr', `internal: 127.0.0.1 port = ${port}`, `external: ${OUTGOING_ADDRESS}`,
      'clientmethod: none', 'socksmethod: none', 'user.unprivileged: nobody',
      'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }', 'socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }', ''].join('\n'),
    (port) => `socks5://127.0.0.1:${port}`,
  )
}

/** Reads exactly `n` bytes from a paused socket's stream. */
function reader(socket: Socket) {
  let buf = Buffer.alloc(0)
  let want: { n: number; resolve: (b: Buffer) => void } | null = null
  const pump = () => {
    if (want && buf.length >= want.n) {
      const out = buf.subarray(0, want.n)
      buf = buf.subarray(want.n)
      const w = want
      want = null
      w.resolve(out)
    }
  }
  const onData = (b: Buffer) => {
    buf = Buffer.concat([buf, b])
    pump()
  }
  socket.on('data', onData)
  return {
    read: (n: number) => new Promise<Buffer>((resolve) => {
      want = { n, resolve }
      pump()
    }),
    /** Stops reading and hands back what arrived beyond the handshake. */
    detach: () => {
      socket.off('data', onData)
      return buf
    },
  }
}

/** A SOCKS5 proxy (CONNECT only) that requires `user`:`pass` and connects out from 127.0.0.2. */
export async function startSocks5WithPassword(user: string, pass: string): Promise<TestProxy> {
  let accepted = 0
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    accepted++
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => client.destroy())
    void handshake(client).catch(() => client.destroy())
  })
  async function handshake(client: Socket): Promise<void> {
    const r = reader(client)
    const [ver, nMethods] = await r.read(2)
    const methods = await r.read(nMethods!)
    if (ver !== 5 || !methods.includes(2)) {
      client.end(Buffer.from([5, 0xff]))
      return
    }
    client.write(Buffer.from([5, 2]))
    const [, ulen] = await r.read(2)
    const u = (await r.read(ulen!)).toString()
    const [plen] = await r.read(1)
    const p = (await r.read(plen!)).toString()
    if (u !== user || p !== pass) {
      client.end(Buffer.from([1, 1]))
      return
    }
    client.write(Buffer.from([1, 0]))
    const [, cmd, , atyp] = await r.read(4)
    let host: string
    if (atyp === 1) host = [...(await r.read(4))].join('.')
    else if (atyp === 3) host = (await r.read((await r.read(1))[0]!)).toString()
    else {
      client.end(Buffer.from([5, 8, 0, 1, 0, 0, 0, 0, 0, 0]))
      return
    }
    const port = (await r.read(2)).readUInt16BE(0)
    if (cmd !== 1) {
      client.end(Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]))
      return
    }
    const upstream = connect({ host, port, localAddress: OUTGOING_ADDRESS })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.once('error', () => {
      if (!client.destroyed) client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]))
    })
    upstream.once('connect', () => {
      client.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 2, 0, 0]))
      const rest = r.detach()
      if (rest.length) upstream.write(rest)
      client.pipe(upstream)
      upstream.pipe(client)
      upstream.on('error', () => client.destroy())
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `socks5://${user}:${pass}@127.0.0.1:${port}`,
    port,
    accepted: () => accepted,
    async stop() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
