/**
 * `API_WORKERS`: `npm run api` as a cluster of processes on one port (api/node.ts). Checks that the workers share
 * the port, that `/metrics` answers the whole cluster's totals whichever worker it reaches, that a killed worker is
 * replaced while the others keep answering, that every accepted message is one row, that SIGTERM drains and stops
 * them all, and that settings the cluster cannot honour fail at startup.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { request } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../../db/driver.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import { collectJsonLines } from '../runner/processes.js'

const KEY = 'cluster-test-key-123'

function pickEngine(): Engine | null {
  const missing = unavailableEngines()
  return (['mysql', 'postgres'] as Engine[]).find((e) => selectedEngines().includes(e) && !missing[e]) ?? null
}

interface ApiChild {
  child: ChildProcess
  lines: Record<string, unknown>[]
  stderr: () => string
  exited: Promise<number | null>
}

function startApi(env: Record<string, string>): ApiChild {
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/node.ts'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', API_SECRET: KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines = collectJsonLines(child)
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, lines, stderr: () => stderr, exited }
}

async function until<T>(fn: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const listening = (api: ApiChild) => api.lines.filter((l) => l.msg === 'API listening')

/** One `POST /api/send` on a connection of its own: the primary hands each new connection to the next worker. */
function send(base: string, i: number): Promise<number> {
  const body = JSON.stringify({ phone: '9611234567', message: `cluster ${i}` })
  return new Promise((resolve, reject) => {
    const req = request(`${base}/api/send`, {
      method: 'POST',
      agent: false,
      timeout: 10_000,
      headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(text) as { message_id: number }).message_id) : reject(new Error(`${res.statusCode} ${text}`))))
    })
    req.on('timeout', () => req.destroy(new Error(`request ${i} got no answer in 10 s`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** `GET /metrics` on a connection of its own (so successive scrapes reach different workers). */
function scrape(base: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/metrics`, { agent: false, timeout: 10_000, headers: { Authorization: `Bearer ${KEY}` } }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode} ${text}`))))
    })
    req.on('timeout', () => req.destroy(new Error('/metrics got no answer in 10 s')))
    req.on('error', reject)
    req.end()
  })
}

const sendsCounted = (text: string) =>
  Number(/^wa_gateway_http_requests_total\{method="POST",route="\/api\/send",status="200"\} (\d+)$/m.exec(text)?.[1] ?? NaN)
const processesSummed = (text: string) => Number(/^wa_gateway_api_processes (\d+)$/m.exec(text)?.[1] ?? NaN)

const engine = pickEngine()
const d = engine ? describe : describe.skip

d(`API_WORKERS=2 on ${engine}`, () => {
  let t: TestDatabase
  let api: ApiChild
  beforeAll(async () => {
    t = await createTestDatabase(engine!, { migrate: false })
    api = startApi({ API_WORKERS: '2', DATABASE_URL: t.url! })
  }, 60_000)
  afterAll(async () => {
    api?.child.kill('SIGKILL')
    await t?.drop()
  })

  it('serves from two workers on one port, replaces a killed one, and drains on SIGTERM', async () => {
    const workers = await until(() => listening(api).length >= 2 && listening(api), 60_000, 'two workers listening')
    const pids = new Set(workers.map((l) => l.pid))
    expect(pids.size).toBe(2)
    expect(new Set(workers.map((l) => l.url)).size).toBe(1)
    expect(api.lines.filter((l) => /applied migration/.test(String(l.msg))).length).toBeGreaterThan(0)
    const base = String(workers[0]!.url)

    const ids: number[] = []
    for (let i = 0; i < 20; i++) ids.push(await send(base, i))

    // Each worker answered some of the 20; every scrape, whichever worker takes it, reports all 20.
    for (let i = 0; i < 4; i++) {
      const text = await scrape(base)
      expect(sendsCounted(text)).toBe(20)
      expect(processesSummed(text)).toBe(2)
    }

    // One worker dies: the other keeps answering and the primary starts a replacement.
    // (A connection the primary is handing to a worker as it dies is lost with it, unanswered, as with any crash;
    // hence no requests during the kill.)
    const victim = Number(workers[0]!.pid)
    process.kill(victim, 'SIGKILL')
    await until(() => api.lines.some((l) => l.msg === 'API worker exited; starting another' && l.pid === victim && l.signal === 'SIGKILL'), 10_000, 'the primary to see the death')
    for (let i = 20; i < 40; i++) ids.push(await send(base, i))
    const replaced = await until(() => listening(api).find((l) => !pids.has(l.pid)), 30_000, 'a replacement worker')
    expect(replaced.pid).not.toBe(victim)
    await Promise.all(Array.from({ length: 40 }, (_, i) => send(base, 40 + i).then((id) => ids.push(id))))

    expect(new Set(ids).size).toBe(80)
    // The killed worker's counts left with it (Prometheus reads that as a reset); the 60 sends since are all there.
    for (let i = 0; i < 2; i++) {
      const text = await scrape(base)
      expect(processesSummed(text)).toBe(2)
      expect(sendsCounted(text)).toBeGreaterThanOrEqual(60)
      expect(sendsCounted(text)).toBeLessThan(80)
    }
    const rows = await t.db.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM messages WHERE body LIKE 'cluster %'")
    expect(Number(rows[0]!.n)).toBe(80)

    api.child.kill('SIGTERM')
    expect(await api.exited).toBe(0)
    expect(api.lines.filter((l) => l.msg === 'shutting down' && l.reason === 'asked by the primary')).toHaveLength(2)
  }, 120_000)
})

describe('API_WORKERS settings the cluster cannot honour', () => {
  it.each([
    ['two', {}, /API_WORKERS must be a whole number from 1 to 64/],
    ['0', {}, /API_WORKERS must be a whole number from 1 to 64/],
    ['2', { DATABASE_URL: 'pglite:PLACEHOLDER' }, /needs MySQL\/MariaDB or PostgreSQL/],
  ])('API_WORKERS=%s exits 1 with a message', async (workers, extra, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'wa-cluster-'))
    try {
      const env = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v.replace('PLACEHOLDER', join(dir, 'db'))]))
      const api = startApi({ API_WORKERS: workers, DATA_DIR: dir, ...env })
      expect(await api.exited).toBe(1)
      expect(api.stderr()).toMatch(message)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
