import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { taskName } from '../../db/maintenance/jobs.js'
import { describeEachEngine } from '../support/db.js'
import { dbNow, ph } from '../support/queue-fixtures.js'

const ROOT = join(import.meta.dirname, '..', '..')
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs')
const PROCESSES = 10

function child(url: string, runnerId: string): { proc: ChildProcessWithoutNullStreams; ready: Promise<void>; result: Promise<{ outcome: string; error?: string }> } {
  const proc = spawn(process.execPath, [TSX, join(ROOT, 'tests/maintenance/fire-slot.ts'), 'sweep', runnerId], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: url },
  })
  let out = ''
  let err = ''
  let onReady!: () => void
  const ready = new Promise<void>((r) => (onReady = r))
  proc.stdout.on('data', (d) => {
    out += d
    if (out.includes('ready\n')) onReady()
  })
  proc.stderr.on('data', (d) => (err += d))
  const result = new Promise<{ outcome: string; error?: string }>((resolve, reject) => {
    proc.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (code !== 0 || !line) reject(new Error(`child ${runnerId} exited ${code}: ${out}\n${err}`))
      else resolve(JSON.parse(line))
    })
  })
  return { proc, ready, result }
}

describeEachEngine(
  'maintenance slot across processes',
  (ctx) => {
    it(`${PROCESSES} processes fire the same slot at once: exactly one runs it`, async () => {
      const children = Array.from({ length: PROCESSES }, (_, i) => child(ctx.t.url!, `race-runner-${i}`))
      try {
        await Promise.all(children.map((c) => c.ready))
        // Stay clear of a minute boundary (the slot is the database's now floored to 60 s).
        const now = await dbNow(ctx.db)
        const intoMinute = now.getTime() % 60_000
        if (intoMinute > 55_000) await new Promise((r) => setTimeout(r, 61_000 - intoMinute))
        for (const c of children) c.proc.stdin.write('go\n')
        const results = await Promise.all(children.map((c) => c.result))
        expect(results.filter((r) => r.outcome === 'failed')).toEqual([])
        expect(results.filter((r) => r.outcome === 'ran')).toHaveLength(1)
        expect(results.filter((r) => r.outcome === 'skipped')).toHaveLength(PROCESSES - 1)
        const rows = await ctx.db.query<{ runner: string }>(`SELECT runner FROM cron_runs WHERE task = ${ph(ctx.db, 1)}`, [taskName('sweep')])
        expect(rows).toHaveLength(1)
        const winner = results.findIndex((r) => r.outcome === 'ran')
        expect(rows[0]!.runner).toBe(`race-runner-${winner}`)
      } finally {
        for (const c of children) if (c.proc.exitCode === null) c.proc.kill()
      }
    }, 90_000)
  },
  { engines: ['mysql', 'postgres'] },
)
