import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * The Node entries refuse a weak or unreadable security setting at start-up, with one line that names it and no
 * stack trace, before opening any database or port.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

function run(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', HOST: '127.0.0.1', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    child.on('exit', (code) => resolve({ code, output }))
  })
}

describe('start-up refusals of the Node entries', () => {
  it('api/node.ts refuses API_SECRET=rt-secret (too short) without printing it', async () => {
    const { code, output } = await run('api/node.ts', { API_SECRET: 'rt-secret' })
    expect(code).toBe(1)
    expect(output).toMatch(/wa-gateway api: API_SECRET keys must be at least 16 characters/)
    expect(output).not.toContain('rt-secret')
    expect(output).not.toMatch(/\n\s+at /)
  }, 60_000)

  it('api/node.ts refuses a TRUST_PROXY it cannot read', async () => {
    const { code, output } = await run('api/node.ts', { API_SECRET: 'long-enough-key-0123456789', TRUST_PROXY: '10.0.0.0/8,my-proxy' })
    expect(code).toBe(1)
    expect(output).toMatch(/wa-gateway api: TRUST_PROXY must be .*\(got "my-proxy"\)/)
    expect(output).not.toMatch(/\n\s+at /)
  }, 60_000)

  it('npm start (api/embedded.ts) refuses a short API_SECRET too', async () => {
    const { code, output } = await run('api/embedded.ts', { API_SECRET: 'short-key' })
    expect(code).toBe(1)
    expect(output).toMatch(/wa-gateway: API_SECRET keys must be at least 16 characters/)
  }, 60_000)
})
