import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { describeEachEngine } from '../support/db.js'

const ROOT = join(import.meta.dirname, '..', '..')
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs')

function maintenance(args: string[], env: Record<string, string>) {
  const res = spawnSync(process.execPath, [TSX, join(ROOT, 'runner/maintenance/cli.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  })
  const logs = res.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  return { code: res.status, logs, stderr: res.stderr }
}

describeEachEngine(
  'npm run maintenance',
  (ctx) => {
    it('runs every job by hand, logs one JSON line per job', async () => {
      const url = new URL(ctx.t.url!)
      const { code, logs, stderr } = maintenance(['all'], { DATABASE_URL: url.toString(), LOG_LEVEL: 'info' })
      expect(stderr).toBe('')
      expect(code).toBe(0)
      expect(logs.map((l) => l.msg)).toEqual([
        'maintenance by hand', 'maintenance sweep done', 'maintenance stuck done', 'maintenance unpause done', 'maintenance prune done',
      ])
      expect(logs.every((l) => typeof l.level === 'number' && typeof l.time === 'number')).toBe(true)
    })

    it('with --slot behaves like a scheduled tick: the second run in the same slot skips', async () => {
      const env = { DATABASE_URL: ctx.t.url! }
      expect(maintenance(['prune', '--slot'], env).logs.map((l) => l.msg)).toContain('maintenance prune done')
      const again = maintenance(['prune', '--slot'], env)
      expect(again.code).toBe(0)
      expect(again.logs.map((l) => l.msg)).toContain('maintenance prune skipped: another process already ran this slot')
    })

    it('rejects an unknown job with the usage line and exit code 2', () => {
      const res = maintenance(['vacuum'], { DATABASE_URL: ctx.t.url! })
      expect(res.code).toBe(2)
      expect(res.stderr).toMatch(/unknown job "vacuum"[\s\S]*usage: npm run maintenance -- <sweep\|stuck\|unpause\|prune\|all>/)
    })
  },
  { engines: ['mysql'] },
)
