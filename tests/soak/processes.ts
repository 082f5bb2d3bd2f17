/**
 * Child processes of a soak run: the loopback WhatsApp server (`tests/support/wa-loopback/cli.ts`) and the Node API
 * (`api/node.ts`), each a real process talking HTTP, plus a few helpers (RSS from /proc, a JSON HTTP client).
 * Runner processes come from `tests/runner/processes.ts` (`spawnRunner`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface LoopbackProcess {
  child: ChildProcess
  /** Control API base URL. */
  url: string
  /** `WA_WEBSOCKET_URL`, `WA_LOOPBACK_ROOT_KEY`, `WA_LOOPBACK_CA_PEM` for the runners. */
  env: Record<string, string>
  stop(): Promise<void>
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((r) => child.once('exit', () => r()))
}

async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await waitForExit(child)
  clearTimeout(t)
}

/** Starts the loopback server as its own process (its libsignal decryption then does not compete with the harness). */
export async function startLoopbackProcess(): Promise<LoopbackProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/wa-loopback/cli.ts', '--port', '0', '--log', 'error'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)))
  const info = await new Promise<{ env: Record<string, string>; control_url: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`loopback server did not start:\n${out}\n${err}`)), 60_000)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const start = out.indexOf('{')
      if (start < 0) return
      try {
        const parsed = JSON.parse(out.slice(start)) as { env: Record<string, string>; control_url: string }
        clearTimeout(timer)
        resolve(parsed)
      } catch {
        // not complete yet
      }
    })
    child.once('exit', (code) => reject(new Error(`loopback server exited with ${code}:\n${err}`)))
  })
  return { child, url: info.control_url, env: info.env, stop: () => stopChild(child) }
}

export interface ApiProcess {
  child: ChildProcess
  url: string
  /** Error-level log lines (unhandled errors). */
  errorLines: string[]
  /** Resolves once `count` processes have logged "API listening" (every worker of an API_WORKERS cluster). */
  waitForListening(count: number, timeoutMs: number): Promise<void>
  stop(): Promise<void>
}

export async function startApiProcess(env: Record<string, string>): Promise<ApiProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/node.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const errorLines: string[] = []
  let listening = 0
  let recent = ''
  let stderr = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`API did not start:\n${recent}\n${stderr}`)), 90_000)
    createInterface({ input: child.stdout }).on('line', (line) => {
      recent = (recent + line + '\n').slice(-3000)
      if (/"level":(50|60)/.test(line)) errorLines.push(line.slice(0, 2000))
      const m = /"url":"(http:\/\/[^"]+)"/.exec(line)
      if (m && /API listening/.test(line)) {
        listening++
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)))
    child.once('exit', (code) => reject(new Error(`API exited with ${code}:\n${recent}\n${stderr}`)))
  })
  const waitForListening = async (count: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    while (listening < count) {
      if (Date.now() > deadline) throw new Error(`API: ${listening} of ${count} processes listening after ${timeoutMs} ms:\n${recent}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  return { child, url, errorLines, waitForListening, stop: () => stopChild(child) }
}

/** Resident set size of a process in bytes (Linux /proc), or null once it is gone. */
export function rssOf(pid: number | undefined): number | null {
  if (!pid) return null
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}

export async function getJson<T>(url: string, init: RequestInit = {}, timeoutMs = 30_000): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
  const text = await res.text()
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${text.slice(0, 300)}`)
  return JSON.parse(text) as T
}

export const postJson = <T>(url: string, body: unknown, headers: Record<string, string> = {}) =>
  getJson<T>(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) })

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
