import { spawn } from 'node:child_process'
import { inspect } from 'node:util'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ConfigError, describeDbConfig, maskDatabaseUrl, parseDbConfig } from '../../db/config.js'
import { openMysql } from '../../db/drivers/mysql.js'
import { openPostgres } from '../../db/drivers/postgres.js'

/**
 * A database password must never reach a log line or an error message, whatever characters it holds. The old mask
 * (a regular expression stopping at `/` and `@`) logged `mysql://root:Pa55/word@…` whole, and the drivers' "Invalid
 * URL" error printed it again, with the password, in the crash report.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

// [url as an operator might write it, the password text that must not appear]
const HOSTILE_URLS: Array<[string, string]> = [
  ['mysql://root:Pa55/word@127.0.0.1:3306/wa', 'Pa55/word'],
  ['mysql://root:Pa55@word@127.0.0.1:3306/wa', 'Pa55@word'],
  ['mysql://root:Pa55:wo:rd@127.0.0.1:3306/wa', 'Pa55:wo:rd'],
  ['mysql://root:Pa55%40word@127.0.0.1:3306/wa', 'Pa55%40word'],
  ['postgres://app:s3cr/et@w0rd@db.example:5432/wa', 's3cr/et@w0rd'],
  ['postgresql://app:a?b#c@db.example/wa', 'a?b#c'],
  ['postgres://app:%2F%40%3A%25@db.example/wa', '%2F%40%3A%25'],
  ['mysql://root:p@ss/wo?rd#x@127.0.0.1/wa?ssl=true', 'p@ss/wo?rd#x'],
  ['mysql://:onlypass/x@127.0.0.1/wa', 'onlypass/x'],
]

describe('database URLs with hostile passwords', () => {
  it.each(HOSTILE_URLS)('masks %s', (url, password) => {
    const masked = maskDatabaseUrl(url)
    expect(masked).not.toContain(password)
    // Not even a telling fragment of it (the part before or after the special character).
    for (const piece of password.split(/[/@:?#]|%[0-9A-F]{2}/).filter((p) => p.length >= 3)) expect(masked).not.toContain(piece)
    expect(masked).toContain('***')
    expect(masked).toMatch(/^(mysql|postgres(ql)?):\/\//)
  })

  it('keeps what an operator needs to recognise the database', () => {
    expect(maskDatabaseUrl('mysql://root:Pa55%40word@127.0.0.1:3306/wa')).toBe('mysql://root:***@127.0.0.1:3306/wa')
    expect(maskDatabaseUrl('postgres://app@db.example/wa')).toBe('postgres://app@db.example/wa')
    expect(maskDatabaseUrl('mysql://root:Pa55/word@127.0.0.1:3306/wa')).toBe('mysql://***@127.0.0.1:3306/wa')
    expect(describeDbConfig({ engine: 'mysql', url: 'mysql://root:Pa55@word@127.0.0.1/wa' })).toBe('mysql://root:***@127.0.0.1/wa')
  })

  it('refuses an unparseable URL with a message that says how to fix it, without the password', () => {
    for (const [url, password] of HOSTILE_URLS) {
      let err: unknown
      try {
        parseDbConfig({ DATABASE_URL: url })
      } catch (e) {
        err = e
      }
      if (URL.canParse(url)) continue
      expect(err, url).toBeInstanceOf(ConfigError)
      expect((err as Error).message).toMatch(/percent-encode/)
      expect(inspect(err)).not.toContain(password)
    }
    expect(() => parseDbConfig({ DATABASE_URL: 'mongodb://u:Pa55/word@h/db' })).toThrow(/got "mongodb:\/\/\*\*\*@h\/db"/)
  })

  it('the drivers never put the URL in an error, even when handed one that does not parse', async () => {
    for (const [url, password] of [
      ['mysql://root:Pa55/word@127.0.0.1:3306/wa', 'Pa55/word'],
      ['mysql://root:Pa55:wo#rd@127.0.0.1:3306/wa', 'Pa55:wo#rd'],
    ] as const) {
      const err = await openMysql({ url }).then(() => null, (e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigError)
      expect(inspect(err, { depth: 5 })).not.toContain(password)
    }
    const err = await openPostgres({ url: 'postgres://app:Pa55/word@127.0.0.1:5432/wa' }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(inspect(err, { depth: 5 })).not.toContain('Pa55/word')
  })

  /** Everything an entry process printed before exiting. */
  const runEntry = (entry: string, env: Record<string, string>) =>
    new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', entry], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'debug', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let output = ''
      child.stdout.on('data', (d: Buffer) => (output += d.toString()))
      child.stderr.on('data', (d: Buffer) => (output += d.toString()))
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000)
      child.on('exit', (code) => {
        clearTimeout(timer)
        resolve({ code, output })
      })
    })

  it.each([
    ['runner/main.ts', 'mysql://root:Pa55/word@127.0.0.1:3306/wa', ['Pa55', '/word']],
    // Parses with "w" as the host and "?ord@…" as the query: the part after the first @ must not show either.
    ['runner/main.ts', 'postgres://postgres:Pa55@w?ord@127.0.0.1:5432/wa', ['Pa55', 'w?ord']],
    ['start.ts', 'mysql://root:Pa55/word@127.0.0.1:3306/wa', ['Pa55', '/word']],
    // Parses, but is refused by the server: the log line "starting" and the access-denied error stay masked.
    ['runner/main.ts', 'mysql://root:Wr0ng%40Pass@127.0.0.1:3306/wa', ['Wr0ng', 'Pass']],
  ])('%s with DATABASE_URL=%s prints no part of the password', async (entry, url, pieces) => {
    const { code, output } = await runEntry(entry, { DATABASE_URL: url, AUTH_STATE_KEY: 'a'.repeat(64), API_SECRET: 'k'.repeat(32) })
    expect(code).toBe(1)
    for (const piece of pieces) expect(output).not.toContain(piece)
    expect(output.length).toBeGreaterThan(0)
  }, 60_000)
})
