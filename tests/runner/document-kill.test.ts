import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getMessage } from '../../db/queries/messages.js'
import { createTestDatabase, unavailableEngines, type TestDatabase } from '../support/db.js'
import { selectedEngines } from '../support/engines.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import { pairSession, startLoopbackServer, waitFor } from './helpers.js'
import { buildPdf, enqueueMedia, sha256 } from './media-fixtures.js'
import { authKeyHex, spawnRunner, type RunnerProcess } from './processes.js'

/**
 * A runner SIGKILLed in the middle of a 50 MB document's upload loses nothing: the row stays `sending` under the dead
 * runner's claim, the next runner takes the lease over, resends it under its stored WhatsApp id, and the contact
 * gets it once, byte for byte (runner/README.md, Sending; db/README.md, Crash windows).
 *
 * PostgreSQL: two runner processes share the database. Each runner gets its own TMPDIR, where Baileys writes the
 * encrypted file it uploads: the kill comes once that file is whole, i.e. as the upload starts.
 */
const missing = unavailableEngines().postgres
const d = missing || !selectedEngines().includes('postgres') ? describe.skip : describe

d('a runner killed mid-upload of a 50 MB document (PostgreSQL, runner processes, loopback server)', () => {
  let t: TestDatabase
  let server: LoopbackServer
  const procs: RunnerProcess[] = []
  const dirs: string[] = []
  let env: Record<string, string>
  const contact = '96171666001'

  beforeAll(async () => {
    t = await createTestDatabase('postgres')
    server = await startLoopbackServer()
    env = { ...server.info.env, DATABASE_URL: t.url!, AUTH_STATE_KEY: authKeyHex(), RUNNER_CAPACITY: '1' }
  }, 120_000)
  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL')
    await server?.stop()
    await t?.drop()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  const spawn = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runner-tmp-'))
    dirs.push(dir)
    const p = spawnRunner({ ...env, TMPDIR: dir })
    procs.push(p)
    return { p, dir }
  }

  it('sends the document exactly once after the restart, byte for byte', async () => {
    const a = await spawn()
    await pairSession(t.db, server, 'default')
    const pdf = buildPdf(['A large statement'], 50 * 1024 * 1024)
    const encryptedSize = (Math.floor(pdf.length / 16) + 1) * 16 + 10
    const uploadsBefore = server.uploads().count
    const r = await enqueueMedia(t.db, {
      phone: contact, type: 'document', bytes: pdf, mime: 'application/pdf', body: 'Statement', details: { fileName: 'statement.pdf' },
    })
    // The encrypted file is whole: Baileys hands it to the upload now.
    await waitFor(async () => {
      for (const name of await readdir(a.dir)) {
        if (name.startsWith('document') && name.endsWith('-enc') && (await stat(join(a.dir, name))).size >= encryptedSize) return true
      }
      return false
    }, 60_000, 'the encrypted upload file')
    a.p.child.kill('SIGKILL')
    await a.p.exited
    const atKill = await getMessage(t.db, r.id)
    expect(atKill!.status).toBe('sending')
    const waId = atKill!.waMessageId!

    await spawn()
    const sent = await waitFor(async () => {
      const m = await getMessage(t.db, r.id)
      if (m?.status === 'failed') throw new Error(`failed: ${m.error}`)
      return m?.status === 'sent' ? m : null
    }, 90_000, 'the document sent by the next runner')
    expect(sent.waMessageId).toBe(waId)
    const got = await waitFor(() => server.messages(contact).find((m) => m.id === waId), 20_000, 'the document at the contact')
    expect(got).toMatchObject({ type: 'document', file_name: 'statement.pdf', size: pdf.length, sha256: sha256(pdf) })
    const res = await fetch(`${server.url}/control/messages/${encodeURIComponent(waId)}/media`)
    expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true)
    // Exactly once at the contact, and at most the interrupted upload plus the one that was sent.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(server.messages(contact).filter((m) => m.type === 'document')).toHaveLength(1)
    expect(server.uploads().count - uploadsBefore).toBeLessThanOrEqual(2)
  }, 240_000)
})
