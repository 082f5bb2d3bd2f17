import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Engine } from '../../db/driver.js'
import { getContact } from '../../db/queries/contacts.js'
import { describeConsoleCall, redactKeyLikeText, routeConsoleToLog } from '../../runner/console-to-log.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import { keyMaterialOf, printedForms } from '../support/key-material.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { pairSession, startLoopbackServer, waitFor } from './helpers.js'
import { authKeyHex, spawnRunner, type RunnerProcess } from './processes.js'

/**
 * libsignal (under Baileys) printed whole Signal session records with `console.info("Closing session:", session)`
 * when a contact's session was replaced: private ratchet keys, root keys and chain keys in plain text on the runner's
 * stdout, i.e. in pm2/systemd log files. Here a contact re-installs (the loopback starts a new Signal session), the
 * runner child closes the old session, and its stdout must hold no byte of any key in its auth state, in base64, hex
 * or `<Buffer …>` form, and not the words privKey/rootKey; the event itself is a JSON log line with contents omitted.
 */

const engine = (['postgres', 'mysql'] as Engine[]).find((e) => selectedEngines().includes(e) && !unavailableEngines()[e])
const d = engine ? describe : describe.skip

d(`a contact's Signal session replaced: no key material on the runner's stdout (${engine ?? 'no server engine'}, runner process, loopback)`, () => {
  let t: TestDatabase
  let server: LoopbackServer
  let runner: RunnerProcess | undefined
  let stdout = ''
  const authKey = authKeyHex()

  beforeAll(async () => {
    t = await createTestDatabase(engine!)
    server = await startLoopbackServer()
  }, 120_000)
  afterAll(async () => {
    runner?.child.kill('SIGKILL')
    await server?.stop()
    await t?.drop()
  })

  it('logs the session change as JSON with the record omitted, and prints no key bytes', async () => {
    runner = spawnRunner({ ...server.info.env, DATABASE_URL: t.url!, AUTH_STATE_KEY: authKey, RUNNER_CAPACITY: '1', LOG_LEVEL: 'info' })
    runner.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    const own = await pairSession(t.db, server, 'default').catch((err: Error) => {
      throw new Error(`${err.message}; runner output:\n${stdout.slice(-3000)}`)
    })
    const contact = '96170400400'
    await server.inbound({ from: contact, to: own, text: 'hello' })
    await waitFor(async () => (await getContact(t.db, contact))?.optIn === 'yes', 30_000, 'the first message stored')
    // The contact re-installs WhatsApp: a pkmsg with a new base key, and the runner's libsignal closes the old session.
    await server.inbound({ from: contact, to: own, text: 'hello again from a new phone', freshSession: true })
    await waitFor(async () => {
      const rows = await t.db.query<{ n: number }>(
        t.db.dialect === 'mysql' ? 'SELECT COUNT(*) AS n FROM inbound_messages WHERE phone = ?' : 'SELECT COUNT(*)::int AS n FROM inbound_messages WHERE phone = $1',
        [contact],
      )
      return Number(rows[0]!.n) === 2
    }, 30_000, 'the message in the new session stored')
    await waitFor(() => /Closing session/.test(stdout), 10_000, 'libsignal to report the closed session')

    const keys = await keyMaterialOf(t.db, 'default', authKey)
    expect(keys.length).toBeGreaterThan(20)
    expect(stdout).not.toMatch(/privKey|rootKey|chainKey|<Buffer/)
    for (const key of keys) {
      for (const form of printedForms(key)) {
        if (stdout.includes(form)) throw new Error(`the runner printed key bytes (${form.slice(0, 12)}…) on stdout`)
      }
    }
    // Every stdout line is JSON, and the session change is one of them, its record named but not shown.
    const lines = stdout.split('\n').filter(Boolean)
    for (const line of lines) expect(() => JSON.parse(line), line.slice(0, 200)).not.toThrow()
    const closing = lines.map((l) => JSON.parse(l) as { source?: string; msg?: string }).find((l) => l.source === 'console' && /^Closing session/.test(l.msg ?? ''))
    expect(closing?.msg).toBe('Closing session: [SessionEntry omitted]')
  }, 180_000)
})

describe('what a console call becomes', () => {
  it('names objects without their contents, keeps text and errors, omits key-like runs', () => {
    const session = { currentRatchet: { rootKey: Buffer.alloc(32, 7), ephemeralKeyPair: { privKey: Buffer.alloc(32, 9) } } }
    class SessionEntry {
      privKey = Buffer.alloc(32, 1)
    }
    expect(describeConsoleCall(['Closing session:', new SessionEntry()])).toBe('Closing session: [SessionEntry omitted]')
    expect(describeConsoleCall(['Session already closed', session])).toBe('Session already closed [object omitted]')
    expect(describeConsoleCall(['bucket', 3, null, undefined, true])).toBe('bucket 3 null undefined true')
    expect(describeConsoleCall([Buffer.alloc(32, 5)])).toBe('[Buffer omitted]')
    expect(describeConsoleCall([new Error('Bad MAC')])).toMatch(/^Error: Bad MAC\n\s+at /)
    const key = Buffer.from('c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc', 'hex')
    expect(redactKeyLikeText(`key ${key.toString('base64')} end`)).toBe('key [base64 omitted] end')
    expect(redactKeyLikeText(`key ${key.toString('hex')} end`)).toBe('key [hex omitted] end')
    expect(redactKeyLikeText(`<Buffer ${[...key].map((b) => b.toString(16).padStart(2, '0')).join(' ')}>`)).toBe('<Buffer [bytes omitted]>')
    // Ordinary text, paths and ids stay readable.
    const plain = 'Failed to decrypt message with any known session... at /srv/wa/node_modules/libsignal/src/session_cipher.js:157 3EB0C431D2A1F5'
    expect(redactKeyLikeText(plain)).toBe(plain)
  })

  it('routes every console method to the logger at its level and restores them', () => {
    const got: Array<[string, object, string]> = []
    const sink = {
      debug: (f: object, m: string) => got.push(['debug', f, m]),
      info: (f: object, m: string) => got.push(['info', f, m]),
      warn: (f: object, m: string) => got.push(['warn', f, m]),
      error: (f: object, m: string) => got.push(['error', f, m]),
    }
    const before = console.info
    const restore = routeConsoleToLog(sink)
    try {
      console.log('a')
      console.info('b', { privKey: Buffer.alloc(32) })
      console.warn('c')
      console.error('d')
      console.debug('e')
    } finally {
      restore()
    }
    expect(console.info).toBe(before)
    expect(got).toEqual([
      ['info', { source: 'console' }, 'a'],
      ['info', { source: 'console' }, 'b [object omitted]'],
      ['warn', { source: 'console' }, 'c'],
      ['error', { source: 'console' }, 'd'],
      ['debug', { source: 'console' }, 'e'],
    ])
  })
})
