import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startEmbedded } from '../../api/embedded.js'
import { silentLogger } from '../../api/env.js'

/**
 * The `npm start` banner (api/embedded.ts), in-process: the generated API key is printed the run that generates it,
 * and afterwards only the file that keeps it, so a process manager's log files never collect the key.
 */
describe('npm start banner', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wa-banner-'))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  const start = async () => {
    const lines: string[] = []
    const gw = await startEmbedded({ env: { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' }, log: silentLogger, print: (l) => lines.push(l) })
    await gw.stop()
    return { key: gw.apiKey, text: lines.join('\n') }
  }

  it('prints a generated key the first time only, then says where it is kept', async () => {
    const first = await start()
    const path = join(dataDir, 'api-key')
    expect(first.key).toMatch(/^[0-9a-f]{48}$/)
    expect(readFileSync(path, 'utf8').trim()).toBe(first.key)
    expect(first.text).toMatch(new RegExp(`API key:\\s+${first.key}\\s+generated and saved in .*api-key`))
    expect(first.text).toContain('/dashboard')

    const second = await start()
    expect(second.key).toBe(first.key)
    expect(second.text).not.toContain(first.key)
    expect(second.text).toContain(`API key:        kept in ${path}`)
    expect(second.text).toContain(`X-API-Key: $(cat ${path})`)
  }, 120_000)

  it('names API_SECRET without printing it when the key comes from the environment', async () => {
    const lines: string[] = []
    const secret = 'env-provided-key-0123456789'
    const gw = await startEmbedded({
      env: { DATA_DIR: join(dataDir, 'other'), PORT: '0', HOST: '127.0.0.1', API_SECRET: secret }, log: silentLogger, print: (l) => lines.push(l),
    })
    await gw.stop()
    expect(lines.join('\n')).not.toContain(secret)
    expect(lines.join('\n')).toContain('(the first key in API_SECRET)')
  }, 120_000)
})
