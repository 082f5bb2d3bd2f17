import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../db/shared/settings.js'
import { parseAuthStateKey, resolveAuthStateKey } from '../../runner/auth-key.js'
import { parseRunnerConfig } from '../../runner/config.js'
import { compressImage, ImageDecodeError } from '../../runner/media/image.js'
import { outcomeOf, PermanentSendError } from '../../runner/queue/outcomes.js'
import { PRESENCE_LEAD_MS, presenceCueFor, typingBaseMs } from '../../runner/queue/presence.js'
import { createAuthCipher } from '../../runner/whatsapp/auth-state.js'
import { classifyClose, NotConnectedError } from '../../runner/whatsapp/client.js'
import { matchConsentKeyword } from '../../runner/whatsapp/consent.js'

describe('runner configuration', () => {
  it('has the documented defaults', () => {
    const c = parseRunnerConfig({})
    expect([c.throttleMinMs, c.throttleMaxMs, c.capacity, c.maxAttempts]).toEqual([8000, 22000, 200, 5])
    expect([c.leaseTtlSeconds, c.leaseRenewSeconds, c.leaseFenceMarginSeconds, c.pauseOn463Hours]).toEqual([30, 10, 5, 24])
    expect(c.optInMode).toBe('open')
    expect(c.presence).toBe('on')
    expect(parseRunnerConfig({ PRESENCE: ' OFF ' }).presence).toBe('off')
    expect(() => parseRunnerConfig({ PRESENCE: 'yes' })).toThrow(/PRESENCE/)
  })
  it('rejects bad values at startup with the variable name', () => {
    expect(() => parseRunnerConfig({ THROTTLE_MIN_MS: 'abc' })).toThrow(/THROTTLE_MIN_MS/)
    expect(() => parseRunnerConfig({ THROTTLE_MIN_MS: '5000', THROTTLE_MAX_MS: '1000' })).toThrow(ConfigError)
    expect(() => parseRunnerConfig({ OPT_IN_MODE: 'maybe' })).toThrow(/OPT_IN_MODE/)
    expect(() => parseRunnerConfig({ LEASE_TTL_SECONDS: '10', LEASE_RENEW_SECONDS: '8' })).toThrow(/LEASE_TTL_SECONDS/)
    expect(() => parseRunnerConfig({ RUNNER_CAPACITY: '0' })).toThrow(/RUNNER_CAPACITY/)
  })
})

it('reads no test hook: crash points are tests/support/runner-entry.ts settings, not the runner\'s', () => {
  expect(parseRunnerConfig({ QUEUE_CRASH_AT: 'after-send', QUEUE_CRASH_ON: '2' })).toEqual(parseRunnerConfig({}))
  expect(parseRunnerConfig({ QUEUE_CRASH_AT: 'sometime' })).toEqual(parseRunnerConfig({}))
})

describe('AUTH_STATE_KEY', () => {
  it('accepts 64 hex characters and refuses anything else without echoing it', () => {
    expect(parseAuthStateKey('ab'.repeat(32))).toHaveLength(32)
    const secretish = 'zz'.repeat(32)
    expect(() => parseAuthStateKey(secretish)).toThrow(ConfigError)
    try {
      parseAuthStateKey(secretish)
    } catch (err) {
      expect((err as Error).message).not.toContain(secretish)
    }
    expect(() => parseAuthStateKey('ab'.repeat(31))).toThrow(/64 hexadecimal/)
  })
  it('is required with MySQL/PostgreSQL and generated once under DATA_DIR in embedded mode', () => {
    expect(() => resolveAuthStateKey({ engine: 'mysql', dataDir: '/nonexistent' })).toThrow(/required/)
    const dir = mkdtempSync(join(tmpdir(), 'wa-key-'))
    const first = resolveAuthStateKey({ engine: 'pglite', dataDir: dir })
    const second = resolveAuthStateKey({ engine: 'pglite', dataDir: dir })
    expect(first.source).toBe('generated')
    expect(second.source).toBe('file')
    expect(Buffer.from(second.key).equals(Buffer.from(first.key))).toBe(true)
    expect(readFileSync(join(dir, 'auth-state.key'), 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/)
    expect(statSync(join(dir, 'auth-state.key')).mode & 0o077).toBe(0)
  })
})

describe('auth value encryption (AES-256-GCM bound to its row)', () => {
  const key = new Uint8Array(32).fill(7)
  it('round-trips and never stores plaintext', () => {
    const c = createAuthCipher(key)
    const sealed = c.encrypt(Buffer.from('{"noiseKey":1}'), 'default\x00creds\x00creds')
    expect(Buffer.from(sealed).toString('latin1')).not.toContain('noiseKey')
    expect(Buffer.from(c.decrypt(sealed, 'default\x00creds\x00creds')!).toString()).toBe('{"noiseKey":1}')
  })
  it('refuses another row, another key, or a flipped bit', () => {
    const c = createAuthCipher(key)
    const sealed = c.encrypt(Buffer.from('x'), 'a\x00session\x00123.0')
    expect(c.decrypt(sealed, 'b\x00session\x00123.0')).toBeNull()
    expect(createAuthCipher(new Uint8Array(32).fill(8)).decrypt(sealed, 'a\x00session\x00123.0')).toBeNull()
    const flipped = Buffer.from(sealed)
    flipped[20]! ^= 1
    expect(c.decrypt(flipped, 'a\x00session\x00123.0')).toBeNull()
  })
})

describe('consent keywords', () => {
  it.each([
    ['STOP', 'stop'], [' stop. ', 'stop'], ['Stop!!', 'stop'], ['unsubscribe', 'stop'], ['CANCEL', 'stop'], ['end', 'stop'],
    ['Quit', 'stop'], ['توقف', 'stop'], ['إلغاء', 'stop'], ['الغاء!', 'stop'], ['  تَوَقَّف  ', 'stop'],
    ['YES', 'start'], ['yes!', 'start'], ['Start', 'start'], ['SUBSCRIBE', 'start'], ['نعم', 'start'],
  ])('%j is %s', (text, kw) => {
    expect(matchConsentKeyword(text)).toBe(kw)
  })
  it.each(['please stop sending', 'stopping', 'yes please', 'hello', '', 'STOP STOP'])('%j is no keyword', (text) => {
    expect(matchConsentKeyword(text)).toBeNull()
  })
})

describe('image compression', () => {
  it('applies EXIF rotation, fits inside 1280 px, writes JPEG without metadata', async () => {
    // 3000×1000 stored with orientation 6 (rotate 90° clockwise to display): displayed 1000×3000.
    const input = await sharp({ create: { width: 3000, height: 1000, channels: 3, background: '#884422' } })
      .jpeg()
      .withMetadata({ orientation: 6, exif: { IFD0: { Copyright: 'secret-camera' } } })
      .toBuffer()
    const out = await compressImage(input)
    const meta = await sharp(out.jpeg).metadata()
    expect(meta.format).toBe('jpeg')
    expect([meta.width, meta.height]).toEqual([427, 1280])
    expect(meta.orientation).toBeUndefined()
    expect(meta.exif).toBeUndefined()
    expect(out.jpeg.toString('latin1')).not.toContain('secret-camera')
  })
  it('never enlarges a small image', async () => {
    const png = await sharp({ create: { width: 200, height: 100, channels: 4, background: '#00000000' } }).png().toBuffer()
    const out = await compressImage(png)
    expect([out.width, out.height]).toEqual([200, 100])
  })
  it('fails clearly on bytes that are not an image, and on a decompression bomb', async () => {
    await expect(compressImage(Buffer.from('not an image at all'))).rejects.toThrow(ImageDecodeError)
    const big = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#fff' } }).png().toBuffer()
    await expect(compressImage(big, { maxInputPixels: 1_000_000 })).rejects.toThrow(/pixels/)
  })
})

describe('send outcomes and close codes', () => {
  it('fails permanent errors at once, requeues transient ones until MAX_ATTEMPTS, never fails an offline send', () => {
    expect(outcomeOf(new PermanentSendError('phone number is not on WhatsApp'), 1, 5)).toEqual({ kind: 'fail', error: 'phone number is not on WhatsApp' })
    expect(outcomeOf(new Error('Media upload failed on all hosts'), 2, 5).kind).toBe('retry')
    expect(outcomeOf(new Error('timeout'), 5, 5).kind).toBe('fail')
    expect(outcomeOf(new NotConnectedError(), 9, 5)).toMatchObject({ kind: 'retry', offline: true })
  })
  it('sorts Baileys close codes per the reconnect policy (runner/README.md)', () => {
    expect(classifyClose(515, '', true, false).kind).toBe('restart')
    expect(classifyClose(401, '', true, false).kind).toBe('logged-out')
    expect(classifyClose(411, '', true, false).kind).toBe('logged-out')
    expect(classifyClose(403, '', true, false).kind).toBe('forbidden')
    expect(classifyClose(405, '', true, false).kind).toBe('outdated')
    expect(classifyClose(440, '', true, false).kind).toBe('replaced')
    expect(classifyClose(408, 'QR refs attempts ended', false, false).kind).toBe('qr-expired')
    expect(classifyClose(408, 'Connection was lost', true, false).kind).toBe('transient')
    expect(classifyClose(428, '', true, false).kind).toBe('transient')
    expect(classifyClose(440, '', true, true).kind).toBe('closed')
  })
})

describe('typing before each send (runner/queue/presence.ts)', () => {
  const text = (body: string) => ({ type: 'text' as const, body, details: null })
  it('types 40 ms a character, clamped to 1–5 s, counting an emoji as one', () => {
    expect(typingBaseMs('a'.repeat(10))).toBe(1000)
    expect(typingBaseMs('a'.repeat(50))).toBe(2000)
    expect(typingBaseMs('📦'.repeat(50))).toBe(2000)
    expect(typingBaseMs('a'.repeat(126))).toBe(5000)
  })
  it('randomises ±20 %: the lowest and highest draws, and the lead covers the longest', () => {
    expect(presenceCueFor(text('a'.repeat(50)), () => 0)).toEqual({ state: 'composing', ms: 1600 })
    expect(presenceCueFor(text('a'.repeat(50)), () => 1)).toEqual({ state: 'composing', ms: 2400 })
    expect(presenceCueFor(text('a'.repeat(500)), () => 1)!.ms).toBe(PRESENCE_LEAD_MS)
  })
  it('records before a voice note only; other kinds get no cue', () => {
    expect(presenceCueFor({ type: 'audio', body: null, details: { ptt: true } }, () => 0.5)).toEqual({ state: 'recording', ms: 3000 })
    expect(presenceCueFor({ type: 'audio', body: null, details: {} }, () => 0.5)).toBeNull()
    expect(presenceCueFor({ type: 'image', body: 'caption', details: null }, () => 0.5)).toBeNull()
    expect(presenceCueFor({ type: 'location', body: null, details: null }, () => 0.5)).toBeNull()
  })
})
