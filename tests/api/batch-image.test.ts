import sharp from 'sharp'
import { beforeAll, expect, it } from 'vitest'
import { getMedia } from '../../db/queries/media.js'
import { getMessage } from '../../db/queries/messages.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'

describeEachEngine('POST /api/send-batch', (ctx) => {
  it('queues every item in one statement and returns ids in order', async () => {
    const t = createTestApp(ctx.db)
    await t.post('/api/sessions', { name: 'batch-s' })
    const messages = [
      { phone: '9614000001', message: 'one' },
      { phone: '+961 4000002', message: 'two', session: 'batch-s' },
      { phone: '9614000003', message: 'three 🎉' },
    ]
    const res = await t.post('/api/send-batch', { messages })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.success).toBe(true)
    expect(body.message_ids).toHaveLength(3)
    for (const [i, id] of body.message_ids.entries()) {
      expect(Number.isInteger(id)).toBe(true)
      expect((await getMessage(ctx.db, id))?.body).toBe(messages[i]!.message)
    }
    expect((await getMessage(ctx.db, body.message_ids[1]))).toMatchObject({ phone: '9614000002', session: 'batch-s' })
  })

  it('accepts 1,000 items and refuses 1,001 with 413 too_many_messages', async () => {
    const t = createTestApp(ctx.db)
    const item = (i: number) => ({ phone: `96150${String(i).padStart(5, '0')}`, message: `n${i}` })
    let res = await t.post('/api/send-batch', { messages: Array.from({ length: 1000 }, (_, i) => item(i)) })
    expect(res.status).toBe(200)
    const ids: number[] = (await res.json()).message_ids
    expect(new Set(ids).size).toBe(1000)
    expect((await getMessage(ctx.db, ids[999]!))?.body).toBe('n999')
    res = await t.post('/api/send-batch', { messages: Array.from({ length: 1001 }, (_, i) => item(i)) })
    expect(res.status).toBe(413)
    expect((await res.json()).code).toBe('too_many_messages')
  })

  it('is all-or-nothing: one bad item is named by index and nothing is written', async () => {
    const t = createTestApp(ctx.db)
    const phone = '9614100000'
    let res = await t.post('/api/send-batch', { messages: [{ phone, message: 'ok' }, { phone, message: 'ok' }, { phone: '012', message: 'bad' }] })
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.code).toBe('invalid_phone')
    expect(body.error).toMatch(/^messages\[2\]\.phone: /)
    res = await t.post('/api/send-batch', { messages: [{ phone, message: 'ok' }, { phone, message: 'ok', session: 'ghost' }] })
    expect(res.status).toBe(404)
    expect((await res.json()).error).toMatch(/^messages\[1\]\.session: /)
    const page = await (await t.get(`/api/messages?phone=${phone}`)).json()
    expect(page.messages).toEqual([])
  })

  it('refuses an empty list, a missing list and a non-array with 400', async () => {
    const t = createTestApp(ctx.db)
    for (const body of [{ messages: [] }, {}, { messages: 'x' }, { messages: [1] }]) {
      const res = await t.post('/api/send-batch', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
    }
  })

  it('with an Idempotency-Key: a retry returns the same ids without new rows; another body is 409', async () => {
    const t = createTestApp(ctx.db)
    const key = crypto.randomUUID()
    const messages = [{ phone: '9614200001', message: 'a' }, { phone: '9614200002', message: 'b' }]
    const first = await (await t.post('/api/send-batch', { messages }, { 'Idempotency-Key': key })).json()
    const [r1, r2] = await Promise.all([
      t.post('/api/send-batch', { messages }, { 'Idempotency-Key': key }),
      t.post('/api/send-batch', { messages }, { 'Idempotency-Key': key }),
    ])
    expect(r1.status).toBe(200)
    expect((await r1.json()).message_ids).toEqual(first.message_ids)
    expect((await r2.json()).message_ids).toEqual(first.message_ids)
    const page = await (await t.get('/api/messages?phone=9614200001')).json()
    expect(page.messages).toHaveLength(1)
    const res = await t.post('/api/send-batch', { messages: [messages[0]] }, { 'Idempotency-Key': key })
    expect(res.status).toBe(409)
    expect((await res.json()).code).toBe('idempotency_conflict')
  })

  it('concurrent first attempts with one key write one set of rows', async () => {
    const t = createTestApp(ctx.db)
    const key = crypto.randomUUID()
    const messages = [{ phone: '9614300001', message: 'a' }, { phone: '9614300002', message: 'b' }]
    const all = await Promise.all(Array.from({ length: 6 }, () => t.post('/api/send-batch', { messages }, { 'Idempotency-Key': key })))
    const answers = await Promise.all(all.map(async (r) => (expect(r.status).toBe(200), JSON.stringify((await r.json()).message_ids))))
    expect(new Set(answers).size).toBe(1)
    expect((await (await t.get('/api/messages?phone=9614300001')).json()).messages).toHaveLength(1)
  })
})

interface Images {
  jpeg: Buffer
  png: Buffer
  gif: Buffer
  webp: Buffer
}

async function makeImages(): Promise<Images> {
  const base = sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 30, b: 90 } } })
  return {
    jpeg: await base.clone().jpeg().toBuffer(),
    png: await base.clone().png().toBuffer(),
    gif: await base.clone().gif().toBuffer(),
    webp: await base.clone().webp().toBuffer(),
  }
}

function imageForm(fields: Record<string, string>, file?: { bytes: Uint8Array; name: string; type?: string }): FormData {
  const form = new FormData()
  for (const [k, v] of Object.entries(fields)) form.append(k, v)
  if (file) form.append('file', new Blob([file.bytes as Uint8Array<ArrayBuffer>], { type: file.type ?? 'application/octet-stream' }), file.name)
  return form
}

function postForm(t: TestApp, form: FormData, headers: Record<string, string> = {}): Promise<Response> {
  return Promise.resolve(t.app.request('/api/send-image', { method: 'POST', headers: t.headers(headers), body: form }))
}

/** A PNG whose IHDR claims `w`×`h` (the API reads only the header). */
function pngHeader(w: number, h: number): Uint8Array {
  const b = new Uint8Array(64)
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52])
  new DataView(b.buffer).setUint32(16, w)
  new DataView(b.buffer).setUint32(20, h)
  return b
}

describeEachEngine('POST /api/send-image', (ctx) => {
  let images: Images
  beforeAll(async () => {
    images = await makeImages()
  })

  it('queues JPEG, PNG, GIF and WEBP images and stores the original bytes with their size', async () => {
    const t = createTestApp(ctx.db)
    for (const [kind, bytes] of Object.entries(images) as Array<[keyof Images, Buffer]>) {
      const res = await postForm(t, imageForm({ phone: '9615000001', caption: `a ${kind}` }, { bytes, name: 'photo.bin' }))
      expect(res.status, kind).toBe(200)
      const body = await res.json()
      expect(Object.keys(body)).toEqual(['success', 'message_id'])
      expect(Number.isInteger(body.message_id)).toBe(true)
      const m = await getMessage(ctx.db, body.message_id)
      expect(m).toMatchObject({ type: 'image', body: `a ${kind}`, phone: '9615000001', status: 'pending' })
      const media = await getMedia(ctx.db, m!.mediaId!)
      expect(media).toMatchObject({ mime: `image/${kind}`, width: 64, height: 48, size: bytes.length })
      expect(Buffer.from(media!.bytes).equals(bytes)).toBe(true)
    }
  })

  it('decides the type by magic bytes, not the name or declared type', async () => {
    const t = createTestApp(ctx.db)
    let res = await postForm(t, imageForm({ phone: '9615000002' }, { bytes: images.png, name: 'x.jpg', type: 'image/jpeg' }))
    expect(res.status).toBe(200)
    const m = await getMessage(ctx.db, (await res.json()).message_id)
    expect((await getMedia(ctx.db, m!.mediaId!))?.mime).toBe('image/png')
    res = await postForm(t, imageForm({ phone: '9615000002' }, { bytes: new TextEncoder().encode('%PDF-1.7 not an image'), name: 'x.jpg', type: 'image/jpeg' }))
    expect(res.status).toBe(415)
    expect(await res.json()).toMatchObject({ success: false, code: 'unsupported_image_type' })
  })

  it('reuses the stored bytes for an identical upload; the caption is optional', async () => {
    const t = createTestApp(ctx.db)
    const a = await (await postForm(t, imageForm({ phone: '9615000003' }, { bytes: images.jpeg, name: 'a.jpg' }))).json()
    const b = await (await postForm(t, imageForm({ phone: '9615000004' }, { bytes: images.jpeg, name: 'b.jpg' }))).json()
    const ma = await getMessage(ctx.db, a.message_id)
    const mb = await getMessage(ctx.db, b.message_id)
    expect(ma!.body).toBeNull()
    expect(ma!.mediaId).toBe(mb!.mediaId)
  })

  it('refuses more than 50 megapixels (422) and a damaged header (422)', async () => {
    const t = createTestApp(ctx.db)
    let res = await postForm(t, imageForm({ phone: '9615000005' }, { bytes: pngHeader(8000, 7000), name: 'big.png' }))
    expect(res.status).toBe(422)
    const body = await res.json()
    expect(body.code).toBe('image_too_many_pixels')
    expect(body.error).toContain('8000×7000')
    res = await postForm(t, imageForm({ phone: '9615000005' }, { bytes: pngHeader(7000, 7000), name: 'ok.png' }))
    expect(res.status).toBe(200)
    res = await postForm(t, imageForm({ phone: '9615000005' }, { bytes: images.jpeg.subarray(0, 20), name: 'cut.jpg' }))
    expect(res.status).toBe(422)
    expect((await res.json()).code).toBe('unreadable_image')
  })

  it('refuses missing fields (400), a file in a text field (400), long captions (400), bad phones (400)', async () => {
    const t = createTestApp(ctx.db)
    let res = await postForm(t, imageForm({ phone: '9615000006' }))
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('missing_field')
    res = await postForm(t, imageForm({}, { bytes: images.png, name: 'a.png' }))
    expect(await res.json()).toMatchObject({ code: 'missing_field', error: 'phone: is required' })
    res = await postForm(t, imageForm({ phone: '9615000006', file: 'not a file' }))
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_type')
    res = await postForm(t, imageForm({ phone: '9615000006', caption: 'c'.repeat(1025) }, { bytes: images.png, name: 'a.png' }))
    expect(res.status).toBe(400)
    expect((await res.json()).code).toBe('invalid_caption')
    res = await postForm(t, imageForm({ phone: '0000', caption: 'x' }, { bytes: images.png, name: 'a.png' }))
    expect((await res.json()).code).toBe('invalid_phone')
    res = await postForm(t, imageForm({ phone: '9615000006', session: 'ghost' }, { bytes: images.png, name: 'a.png' }))
    expect(res.status).toBe(404)
    res = await postForm(t, imageForm({ phone: '9615000006' }, { bytes: new Uint8Array(0), name: 'empty.png' }))
    expect(res.status).toBe(400)
  })

  it('refuses JSON or urlencoded bodies with 415', async () => {
    const t = createTestApp(ctx.db)
    const res = await t.post('/api/send-image', { phone: '9615000007', file: 'abc' })
    expect(res.status).toBe(415)
    expect((await res.json()).code).toBe('unsupported_media_type')
  })

  it('refuses a file over 10 MB with 413 (declared length, and just over the limit)', async () => {
    const t = createTestApp(ctx.db)
    const big = new Uint8Array(10 * 1024 * 1024 + 1)
    big.set(images.png)
    const res = await postForm(t, imageForm({ phone: '9615000008' }, { bytes: big, name: 'big.png' }))
    expect(res.status).toBe(413)
    expect((await res.json()).code).toMatch(/^(image_too_large|body_too_large)$/)
  })

  it('stops reading a streamed 10.5 MB upload at the limit, without buffering it whole', async () => {
    const t = createTestApp(ctx.db)
    const boundary = '----wa-test-boundary'
    const head = new TextEncoder().encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="phone"\r\n\r\n9615000009\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.png"\r\nContent-Type: image/png\r\n\r\n`,
    )
    const total = 10.5 * 1024 * 1024
    const chunk = new Uint8Array(64 * 1024)
    let pulled = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled === 0) {
          controller.enqueue(head)
          pulled += head.length
          return
        }
        if (pulled >= total) {
          controller.enqueue(new TextEncoder().encode(`\r\n--${boundary}--\r\n`))
          controller.close()
          return
        }
        controller.enqueue(chunk)
        pulled += chunk.length
      },
    }, { highWaterMark: 0 })
    const res = await t.app.request('/api/send-image', {
      method: 'POST',
      headers: t.headers({ 'Content-Type': `multipart/form-data; boundary=${boundary}` }),
      body,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(413)
    expect((await res.json()).code).toBe('body_too_large')
    // Refused within a few chunks of the limit (10 MB + 64 KB framing allowance), never the full 10.5 MB.
    expect(pulled).toBeLessThan(10 * 1024 * 1024 + 64 * 1024 + 4 * chunk.length)
  })

  it('with an Idempotency-Key: a retry returns the same id and writes no second message or media', async () => {
    const t = createTestApp(ctx.db)
    const key = crypto.randomUUID()
    const form = () => imageForm({ phone: '9615000010', caption: 'same' }, { bytes: images.gif, name: 'a.gif' })
    const first = await (await postForm(t, form(), { 'Idempotency-Key': key })).json()
    const again = await postForm(t, form(), { 'Idempotency-Key': key })
    expect(again.status).toBe(200)
    expect((await again.json()).message_id).toBe(first.message_id)
    const other = await postForm(t, imageForm({ phone: '9615000010', caption: 'different' }, { bytes: images.gif, name: 'a.gif' }), { 'Idempotency-Key': key })
    expect(other.status).toBe(409)
    expect((await (await t.get('/api/messages?phone=9615000010')).json()).messages).toHaveLength(1)
  })
})
