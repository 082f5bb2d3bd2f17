import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { enqueueMessage, enqueueMessages } from '../../db/lifecycle/enqueue.js'
import { updateSessionSettings } from '../../db/lifecycle/settings.js'
import { getMessage } from '../../db/queries/messages.js'
import type { RunnerConfig } from '../../runner/config.js'
import { PRESENCE_JITTER, RECORDING_MS, typingBaseMs } from '../../runner/queue/presence.js'
import type { Runner } from '../../runner/runner.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import type { LoopbackServer } from '../support/wa-loopback/server.js'
import type { RecordedMessage } from '../support/wa-loopback/context.js'
import type { RecordedPresence } from '../support/wa-loopback/presence.js'
import { loopbackFactory, newKey, pairSession, startLoopbackServer, startRunner, testConfig, waitFor } from './helpers.js'
import { makeOggOpus, enqueueMedia, itWithFfmpeg } from './media-fixtures.js'

/**
 * Typing before each send (runner/README.md, Typing before each send) with the real Baileys against the loopback
 * server: "typing…" before a text for a time that follows its length, "recording…" before a voice note, "paused"
 * after; none with PRESENCE=off or a session set to "off"; and the throttle gap not lengthened by the typing.
 */

// Timers, the database round trips and the loopback's decryption between the stanzas: what a duration may be off by.
const SLACK_MS = 400

/** A throttle the typing (1–2 s here) must fit in; a lease long enough for a claim up to 6 s ahead of its slot. */
const presenceConfig = (overrides: Partial<RunnerConfig> = {}) => testConfig({
  throttleMinMs: 3000, throttleMaxMs: 4000, leaseTtlSeconds: 30, leaseRenewSeconds: 2, leaseFenceMarginSeconds: 5,
  presence: 'on', ...overrides,
})

function harness(config: RunnerConfig) {
  const h = {} as { t: TestDatabase; server: LoopbackServer; runner: Runner }
  const key = newKey()
  beforeAll(async () => {
    h.t = await createTestDatabase('pglite')
    h.server = await startLoopbackServer()
    h.runner = await startRunner(h.t.db, await loopbackFactory(h.t.db, h.server, key), config)
    await pairSession(h.t.db, h.server, 'default')
  }, 90_000)
  afterAll(async () => {
    await h.runner?.stop()
    await h.server?.stop()
    await h.t?.drop()
  })
  const received = (id: number) =>
    waitFor(async () => {
      const m = await getMessage(h.t.db, id)
      if (m?.status === 'failed') throw new Error(`message ${id} failed: ${m.error}`)
      if (m?.status !== 'sent') return null
      return h.server.messages(m.phone).find((r) => r.id === m.waMessageId)
    }, 30_000, `message ${id} at the contact`)
  return { h, received }
}

const ms = (iso: string) => new Date(iso).getTime()

/** The presence records of `phone` once "paused" came after the message (it follows the send at once). */
function presenceAround(server: LoopbackServer, got: RecordedMessage): Promise<RecordedPresence[]> {
  return waitFor(() => {
    const list = server.presence(got.to)
    return list.some((p) => p.state === 'paused') ? list : null
  }, 5_000, `paused after ${got.id}`)
}

describe('typing before each send, on PGlite with real Baileys against the loopback server', () => {
  const { h, received } = harness(presenceConfig())

  it('a text shows composing → message → paused, composing for 40 ms a character (1–5 s, ±20 %)', async () => {
    const text = 'Your order 4711 has shipped and arrives on Friday 📦'
    const r = await enqueueMessage(h.t.db, { session: 'default', phone: '96171000011', type: 'text', body: text })
    const got = await received(r.id)
    const list = await presenceAround(h.server, got)
    expect(list.map((p) => p.state)).toEqual(['composing', 'paused'])
    const [composing, paused] = list as [RecordedPresence, RecordedPresence]
    expect(composing).toMatchObject({ to: '96171000011', from: got.from })
    const typed = ms(got.at) - ms(composing.at)
    const base = typingBaseMs(text)
    expect(base).toBe(51 * 40)
    expect(typed).toBeGreaterThanOrEqual(base * (1 - PRESENCE_JITTER) - 50)
    expect(typed).toBeLessThanOrEqual(base * (1 + PRESENCE_JITTER) + SLACK_MS)
    expect(ms(paused.at)).toBeGreaterThanOrEqual(ms(got.at))
    expect(ms(paused.at) - ms(got.at)).toBeLessThan(SLACK_MS)
  })

  it('a two-character text types for the 1 s floor (the rule clamps to 1–5 s)', async () => {
    expect(typingBaseMs('ok')).toBe(1000)
    expect(typingBaseMs('x'.repeat(500))).toBe(5000)
    const r = await enqueueMessage(h.t.db, { session: 'default', phone: '96171000012', type: 'text', body: 'ok' })
    const got = await received(r.id)
    const [composing] = await presenceAround(h.server, got)
    const typed = ms(got.at) - ms(composing!.at)
    expect(typed).toBeGreaterThanOrEqual(800 - 50)
    expect(typed).toBeLessThanOrEqual(1200 + SLACK_MS)
  })

  itWithFfmpeg('a voice note shows recording → message → paused', async () => {
    const r = await enqueueMedia(h.t.db, { phone: '96171000013', type: 'audio', bytes: await makeOggOpus(), mime: 'audio/ogg', details: { ptt: true } })
    const got = await received(r.id)
    expect(got).toMatchObject({ type: 'audio', ptt: true })
    const list = await presenceAround(h.server, got)
    expect(list.map((p) => p.state)).toEqual(['recording', 'paused'])
    // The upload runs between the cue's end and the message, so only the lower bound is tight.
    expect(ms(got.at) - ms(list[0]!.at)).toBeGreaterThanOrEqual(RECORDING_MS * (1 - PRESENCE_JITTER) - 50)
  })

  it('a session set to "off" sends without presence; null returns it to the runner default', async () => {
    await updateSessionSettings(h.t.db, 'default', { presence: 'off' })
    const off = await received((await enqueueMessage(h.t.db, { session: 'default', phone: '96171000014', type: 'text', body: 'no typing' })).id)
    await updateSessionSettings(h.t.db, 'default', { presence: null })
    const on = await received((await enqueueMessage(h.t.db, { session: 'default', phone: '96171000015', type: 'text', body: 'typing again' })).id)
    await presenceAround(h.server, on)
    expect(h.server.presence(off.to)).toEqual([])
  })

  it('three texts to one number at a 3–4 s throttle: typing fits in the gap; sends ≥ 3 s apart and not lengthened by it', async () => {
    const phone = '96171000016'
    const bodies = ['First of three: a line of about forty chars', 'Second of three: another forty-ish chars', 'Third of three: and the last forty chars.']
    const ids = await enqueueMessages(h.t.db, bodies.map((body) => ({ session: 'default', phone, type: 'text' as const, body })))
    const got = [] as RecordedMessage[]
    for (const id of ids) got.push(await received(id))
    const presence = await waitFor(() => {
      const list = h.server.presence(phone)
      return list.filter((p) => p.state === 'paused').length === 3 ? list : null
    }, 5_000, 'three paused')
    expect(presence.map((p) => p.state)).toEqual(['composing', 'paused', 'composing', 'paused', 'composing', 'paused'])
    for (let i = 1; i < got.length; i++) {
      const gap = ms(got[i]!.at) - ms(got[i - 1]!.at)
      // Start to start at least the throttle minimum (the database holds it from each send)…
      expect(gap).toBeGreaterThanOrEqual(3000 - 20)
      // …and at most the maximum: the 1.3–2 s of typing came out of the gap instead of adding to it (typing after
      // the slot would make it min + typing = 4.3–5 s).
      expect(gap).toBeLessThanOrEqual(4000 + SLACK_MS)
      // The typing of each later message began before the previous gap ended: it started during the wait.
      const composing = presence[2 * i]!
      expect(ms(got[i]!.at) - ms(composing.at)).toBeGreaterThanOrEqual(typingBaseMs(bodies[i]!) * (1 - PRESENCE_JITTER) - 50)
    }
  })
})

describe('PRESENCE=off on PGlite with real Baileys against the loopback server', () => {
  const { h, received } = harness(presenceConfig({ presence: 'off' }))

  itWithFfmpeg('sends a text and a voice note without presence; a session set to "on" shows it', async () => {
    const text = await received((await enqueueMessage(h.t.db, { session: 'default', phone: '96171000021', type: 'text', body: 'plain' })).id)
    const voice = await received((await enqueueMedia(h.t.db, { phone: '96171000022', type: 'audio', bytes: await makeOggOpus(), mime: 'audio/ogg', details: { ptt: true } })).id)
    expect(h.server.presence(text.to)).toEqual([])
    expect(h.server.presence(voice.to)).toEqual([])
    await updateSessionSettings(h.t.db, 'default', { presence: 'on' })
    const on = await received((await enqueueMessage(h.t.db, { session: 'default', phone: '96171000023', type: 'text', body: 'typed' })).id)
    expect((await presenceAround(h.server, on)).map((p) => p.state)).toEqual(['composing', 'paused'])
  })
})
