import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { WASocket } from '@whiskeysockets/baileys'
import {
  connectClient,
  endClient,
  waitForClose,
  waitForConnectionUpdate,
  waitForOpen
} from '../support/wa-loopback/baileys-client.js'
import { createMemoryAuth } from '../support/wa-loopback/memory-auth.js'
import type { LoopbackInfo } from '../support/wa-loopback/server.js'

/**
 * `npm run bench -- sessions [--levels 1,10,100] [--sends 200]`
 * (`--runner`: the real runner process instead, tests/bench/sessions-runner.ts)
 *
 * Resident memory of THIS process holding 1, 10 and 100 connected, idle Baileys sessions (in-memory auth state)
 * against the loopback WhatsApp server, which runs as a separate process so its memory is not counted. Also: time from
 * QR scan to `open`, and sends/s of one session with no throttling. Published sizing for a Baileys-based gateway
 * engine (WAHA NOWEB: ~4 GB for 50 sessions, ~30 GB for 500) is roughly 60–80 MB per session; printed alongside.
 */
const PUBLISHED_MB_PER_SESSION = '60–80'
const IDLE_SETTLE_MS = 3_000
const PAIRING_BATCH = 10

export async function run(args: string[]): Promise<void> {
  // The real runner process instead of bare sockets in this one: tests/bench/sessions-runner.ts.
  if (args.includes('--runner')) return (await import('./sessions-runner.js')).run(args)
  const levels = (option(args, '--levels') ?? '1,10,100').split(',').map(Number)
  const sends = Number(option(args, '--sends') ?? 200)
  const gc = exposeGc()
  const { child, info, controlUrl } = await startServerProcess()
  const sockets: WASocket[] = []
  const scanToOpenMs: number[] = []
  try {
    await settle(gc)
    const baseline = process.memoryUsage()
    console.log(`baseline: rss ${mb(baseline.rss)} MB, heap ${mb(baseline.heapUsed)} MB (Baileys loaded, no socket)`)
    const rows: string[][] = []
    let previous = { sessions: 0, rss: baseline.rss }
    for (const level of levels) {
      while (sockets.length < level) {
        const batch = Math.min(PAIRING_BATCH, level - sockets.length)
        const paired = await Promise.all(Array.from({ length: batch }, () => pairOne(info, controlUrl)))
        for (const { sock, ms } of paired) {
          sockets.push(sock)
          scanToOpenMs.push(ms)
        }
      }
      await settle(gc)
      const { rss, heapUsed } = process.memoryUsage()
      const marginal = (rss - previous.rss) / (level - previous.sessions)
      rows.push([
        String(level),
        mb(rss),
        mb(heapUsed),
        mb((rss - baseline.rss) / level),
        mb(marginal)
      ])
      previous = { sessions: level, rss }
    }
    console.log('\nconnected idle sessions (in-memory auth state; loopback server in another process)')
    table(['sessions', 'rss MB', 'heap MB', 'MB/session (vs baseline)', 'marginal MB/session (vs previous row)'], rows)
    console.log(`published sizing for a Baileys-based engine: ${PUBLISHED_MB_PER_SESSION} MB per session (4 GB / 50, 30 GB / 500)`)

    const sorted = [...scanToOpenMs].sort((a, b) => a - b)
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
    console.log(
      `\nscan → open over ${sorted.length} pairings (batches of ${PAIRING_BATCH}): ` +
        `median ${pct(50)} ms, p95 ${pct(95)} ms, max ${sorted.at(-1)} ms`
    )

    const rate = await measureSends(sockets[0]!, sends)
    console.log(`sends/s, one session, no throttling: ${rate.perSecond.toFixed(0)} (${sends} texts, last server ack after ${rate.ms} ms)`)
  } finally {
    await Promise.all(sockets.map(sock => endClient(sock).catch(() => undefined)))
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
}

/** The server in its own process, configured only from the `env` it prints: the path a runner process takes. */
async function startServerProcess(): Promise<{ child: ChildProcess; info: LoopbackInfo; controlUrl: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/wa-loopback/cli.ts', '--port', '0', '--log', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let out = ''
  for await (const chunk of child.stdout) {
    out += chunk
    try {
      const parsed = JSON.parse(out) as LoopbackInfo & { control_url: string }
      return { child, info: parsed, controlUrl: parsed.control_url }
    } catch {
      // the JSON is not complete yet
    }
  }
  throw new Error(`loopback server exited before printing its info: ${out}`)
}

async function pairOne(info: LoopbackInfo, controlUrl: string): Promise<{ sock: WASocket; ms: number }> {
  const auth = createMemoryAuth()
  // Baileys' default keep-alive (30 s), as an idle production session would run
  const config = { keepAliveIntervalMs: 30_000 }
  const registering = connectClient({ info, auth, config })
  const { qr } = await waitForConnectionUpdate(registering, update => !!update.qr, 60_000)
  const started = Date.now()
  const restarted = waitForClose(registering, 60_000)
  const res = await fetch(`${controlUrl}/control/scan`, { method: 'POST', body: JSON.stringify({ qr }) })
  if (!res.ok) throw new Error(`scan failed: ${res.status} ${await res.text()}`)
  if ((await restarted) !== 515) throw new Error('pairing did not end with the 515 restart')
  auth.state.creds.accountSyncCounter = 1 // see pairClient(): no phone pushes history to the loopback
  const sock = connectClient({ info, auth, config })
  await waitForOpen(sock, 60_000)
  return { sock, ms: Date.now() - started }
}

async function measureSends(sock: WASocket, count: number): Promise<{ perSecond: number; ms: number }> {
  const pending = new Set<string>()
  let allAcked: () => void = () => {}
  const done = new Promise<void>(resolve => (allAcked = resolve))
  sock.ws.on('CB:ack,class:message', (node: { attrs: { id?: string } }) => {
    pending.delete(node.attrs.id ?? '')
    if (pending.size === 0) allAcked()
  })
  const started = Date.now()
  for (let i = 0; i < count; i++) {
    const sent = await sock.sendMessage('447700900777@s.whatsapp.net', { text: `bench ${i}`, linkPreview: null })
    pending.add(sent!.key.id!)
  }
  if (pending.size) await done
  const ms = Date.now() - started
  return { perSecond: (count * 1000) / ms, ms }
}

/** Lets timers and first-login work finish, then collects garbage twice so RSS reflects live memory. */
async function settle(gc: () => void): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, IDLE_SETTLE_MS))
  gc()
  gc()
}

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(name)
  return index >= 0 ? args[index + 1] : undefined
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ')
  console.log(line(header))
  for (const row of rows) console.log(line(row))
}
