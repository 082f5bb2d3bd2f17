import { writeFile, mkdtemp, rm } from 'node:fs/promises'
import { createServer, Agent, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MediaGoneError } from '../../db/queries/media.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { FfmpegMissingError } from '../../runner/media/ffmpeg.js'
import { contentOf, isOggOpus } from '../../runner/queue/content.js'
import { outcomeOf } from '../../runner/queue/outcomes.js'
import { SendLoop } from '../../runner/queue/send-loop.js'
import type { OutboundContent, SendOptions } from '../../runner/whatsapp/client.js'
import { createUploader, MediaRefusedError, MediaUploadError } from '../../runner/whatsapp/upload.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import { testTls } from '../support/wa-loopback/tls-certs.js'
import { testConfig, testLog } from './helpers.js'
import { enqueueMedia, makeMp4, makeOggOpus, makeMp3, itWithFfmpeg } from './media-fixtures.js'

/** The uploader's verdicts per HTTP answer, the outcomes they map to, guard times, and what a video upload carries. */

describe('media upload: what each answer of the media host means', () => {
  let server: Server
  let agent: Agent
  let dir: string
  let file: string
  const answers: Array<{ status: number; body: unknown }> = []
  let posts = 0

  beforeAll(async () => {
    const tls = await testTls()
    server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      req.resume()
      req.on('end', () => {
        posts++
        const a = answers.shift() ?? { status: 500, body: { error: 'no answer armed' } }
        if (a.status === 0) return // a stalled host: never answers
        res.writeHead(a.status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(a.body))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    agent = new Agent({ ca: tls.caPem, keepAlive: false })
    dir = await mkdtemp(join(tmpdir(), 'uploader-'))
    file = join(dir, 'enc')
    await writeFile(file, Buffer.alloc(1000, 7))
  })
  afterAll(async () => {
    await new Promise((r) => server.close(r))
    await rm(dir, { recursive: true, force: true })
  })

  const host = () => `127.0.0.1:${(server.address() as AddressInfo).port}`
  let refreshes: boolean[] = []
  const uploader = (hosts = 2, max = 0) =>
    createUploader({
      refreshMediaConn: (force) => {
        refreshes.push(Boolean(force))
        return Promise.resolve({ auth: 'tok', ttl: 300, fetchDate: new Date(), hosts: Array.from({ length: hosts }, () => ({ hostname: host(), maxContentLengthBytes: max })) })
      },
      agent,
      log: testLog,
    })
  const upload = (u = uploader()) => u(file, { mediaType: 'document', fileEncSha256B64: 'abc+/=' })

  it('2xx with a URL: uploaded', async () => {
    answers.push({ status: 200, body: { url: 'https://x/y', direct_path: '/y' } })
    await expect(upload()).resolves.toEqual({ mediaUrl: 'https://x/y', directPath: '/y' })
  })

  it('a 4xx refusal fails at once with the reason, without trying the other host', async () => {
    posts = 0
    answers.push({ status: 413, body: { error: 'too large' } })
    const err = await upload().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MediaRefusedError)
    expect((err as Error).message).toBe('media refused by WhatsApp (HTTP 413: too large)')
    expect(posts).toBe(1)
    expect(outcomeOf(err, 1, 5)).toEqual({ kind: 'fail', error: 'media refused by WhatsApp (HTTP 413: too large)' })
  })

  it('5xx on every host: a transient MediaUploadError, retried like a send', async () => {
    answers.push({ status: 503, body: {} }, { status: 502, body: {} })
    const err = await upload().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MediaUploadError)
    expect(outcomeOf(err, 1, 5)).toMatchObject({ kind: 'retry', offline: false })
  })

  it('5xx then 2xx on the next host: uploaded', async () => {
    answers.push({ status: 500, body: {} }, { status: 200, body: { url: 'https://x/z', direct_path: '/z' } })
    await expect(upload()).resolves.toEqual({ mediaUrl: 'https://x/z', directPath: '/z' })
  })

  it('401 (expired token) refreshes the media connection and tries the next host', async () => {
    refreshes = []
    answers.push({ status: 401, body: {} }, { status: 200, body: { url: 'https://x/w', direct_path: '/w' } })
    await expect(upload()).resolves.toMatchObject({ directPath: '/w' })
    expect(refreshes).toEqual([false, true])
  })

  it('a file above the host limit is refused before any byte is sent', async () => {
    posts = 0
    await expect(upload(uploader(1, 500))).rejects.toBeInstanceOf(MediaRefusedError)
    expect(posts).toBe(0)
  })

  it('a host that stalls is abandoned after the idle timeout: transient', async () => {
    answers.push({ status: 0, body: null }, { status: 0, body: null })
    const started = Date.now()
    const err = await uploader()(file, { mediaType: 'document', fileEncSha256B64: 'abc', timeoutMs: 300 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MediaUploadError)
    expect((err as Error).message).toMatch(/stalled/)
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('a network error is transient', async () => {
    const u = createUploader({
      refreshMediaConn: () => Promise.resolve({ auth: 't', ttl: 1, fetchDate: new Date(), hosts: [{ hostname: '127.0.0.1:1', maxContentLengthBytes: 0 }] }),
      agent,
      log: testLog,
    })
    const err = await upload(u).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MediaUploadError)
  })
})

describe('outcomes of media errors', () => {
  it('pruned media and a missing ffmpeg fail permanently', () => {
    expect(outcomeOf(new MediaGoneError(7), 1, 5)).toMatchObject({ kind: 'fail', error: expect.stringMatching(/media 7 is gone/) })
    expect(outcomeOf(new FfmpegMissingError('ffmpeg not found'), 1, 5)).toMatchObject({ kind: 'fail', error: expect.stringMatching(/install ffmpeg/) })
  })
})

describe('guard time before the fence', () => {
  const loop = (ttl: number) =>
    new SendLoop({
      db: {} as never, client: {} as never, log: testLog, session: 's', onFenced: () => {},
      fence: () => ({ owner: 'o', epoch: 1, fenceAt: 0 }),
      config: testConfig({ leaseTtlSeconds: ttl, leaseRenewSeconds: 10, leaseFenceMarginSeconds: 5 }),
    })
  it('5 s for text, 20 s + 1 s per MB for media, capped by the lease window', () => {
    const l = loop(300)
    expect(l.guardMs(0)).toBe(5_000)
    expect(l.guardMs(1_000_000)).toBe(21_000)
    expect(l.guardMs(64_000_000)).toBe(84_000)
    // A 30 s lease (25 s window): at most 20 s for any media, 5 s for text.
    expect(loop(30).guardMs(64_000_000)).toBe(20_000)
    expect(loop(30).guardMs(0)).toBe(5_000)
  })
})

describe('what a claimed media message prepares', () => {
  let t: TestDatabase
  beforeAll(async () => {
    t = await createTestDatabase('pglite')
  })
  afterAll(async () => {
    await t?.drop()
  })

  const claimed = async (id: number) => {
    const [row] = await t.db.query<Record<string, unknown>>('SELECT * FROM messages WHERE id = $1', [id])
    const { toClaimedMessage } = await import('../../db/lifecycle/claim.js')
    return toClaimedMessage({ ...row, attempts: 1, wa_message_id: 'X', claim_epoch: 1 })
  }

  itWithFfmpeg('a video gets its length, size and a JPEG thumbnail from ffmpeg', async () => {
    const mp4 = await makeMp4()
    const r = await enqueueMedia(t.db, { phone: '96172000001', type: 'video', bytes: mp4, mime: 'video/mp4', body: 'v' })
    const prepared = await contentOf(t.db, await claimed(r.id), testLog)
    expect(prepared.uploadBytes).toBe(mp4.length)
    if (prepared.content.kind !== 'media') throw new Error('not media')
    const up = await prepared.content.media.prepare()
    expect(up).toMatchObject({ mimetype: 'video/mp4', width: 320, height: 240 })
    expect(up.seconds).toBeCloseTo(2, 0)
    expect(up.jpegThumbnail!.subarray(0, 2).equals(Buffer.from([0xff, 0xd8]))).toBe(true)
    expect(prepared.content.media.reuseKey).toBe(`${r.mediaId}:raw`)
  })

  itWithFfmpeg('voice notes and plain audio of one file are different uploads; OGG/Opus is recognised by its bytes', async () => {
    const mp3 = await makeMp3()
    const ogg = await makeOggOpus()
    expect(isOggOpus(ogg)).toBe(true)
    expect(isOggOpus(mp3)).toBe(false)
    const voice = await enqueueMedia(t.db, { phone: '96172000002', type: 'audio', bytes: mp3, mime: 'audio/mpeg', details: { ptt: true } })
    const plain = await enqueueMessage(t.db, { session: 'default', phone: '96172000002', type: 'audio', body: null, mediaId: voice.mediaId })
    const a = await contentOf(t.db, await claimed(voice.id), testLog)
    const b = await contentOf(t.db, await claimed(plain.id), testLog)
    if (a.content.kind !== 'media' || b.content.kind !== 'media') throw new Error('not media')
    expect(a.content.media.reuseKey).toBe(`${voice.mediaId}:voice`)
    expect(b.content.media.reuseKey).toBe(`${voice.mediaId}:raw`)
    expect(a.content.ptt).toBe(true)
    expect(b.content.ptt).toBe(false)
  })
})

describe('an upload that outlives the lease is not relayed', () => {
  let t: TestDatabase
  beforeAll(async () => {
    t = await createTestDatabase('pglite')
  })
  afterAll(async () => {
    await t?.drop()
  })

  /** A loop whose client "uploads", lets `during` move the fence, then asks `beforeRelay` as the real client does. */
  async function deliverWith(during: (fence: { epoch: number; fenceAt: number }) => void) {
    const pdf = Buffer.from('%PDF-1.4 tiny')
    const r = await enqueueMedia(t.db, { phone: '96173000001', type: 'document', bytes: pdf, mime: 'application/pdf' })
    const [row] = await t.db.query<Record<string, unknown>>('SELECT * FROM messages WHERE id = $1', [r.id])
    const { toClaimedMessage } = await import('../../db/lifecycle/claim.js')
    const message = toClaimedMessage({ ...row, attempts: 1, wa_message_id: 'W1', claim_epoch: 1 })
    const fence = { owner: 'o', epoch: 1, fenceAt: performance.now() + 60_000 }
    let relayed = false
    const fenced: string[] = []
    const client = {
      isOnWhatsApp: () => Promise.resolve(true),
      send: async (_to: string, _id: string, content: OutboundContent, options?: SendOptions) => {
        if (content.kind === 'media') await content.media.prepare()
        during(fence)
        await options?.beforeRelay?.()
        relayed = true
      },
    }
    const loop = new SendLoop({
      db: t.db, client: client as never, log: testLog, session: 'default', onFenced: (why) => fenced.push(why),
      fence: () => fence, config: testConfig(),
    })
    await loop.deliver(message)
    return { relayed, fenced }
  }

  it('the lease moved to another epoch during the upload: nothing relayed, no outcome recorded', async () => {
    const r = await deliverWith((fence) => (fence.epoch = 2))
    expect(r).toEqual({ relayed: false, fenced: [] })
  })

  it('the fence passed during the upload (renewals stopped): nothing relayed', async () => {
    const r = await deliverWith((fence) => (fence.fenceAt = performance.now() - 1))
    expect(r).toEqual({ relayed: false, fenced: [] })
  })

  it('the lease still held: relayed after the upload', async () => {
    const r = await deliverWith(() => {})
    expect(r.relayed).toBe(true)
  })
})
