/**
 * Bodies within the byte limits that cost far more once parsed: a 10 MB form of 160,000 empty parts (it stalled the
 * event loop 3.5 s and added ~250 MB), an 8 MB send-batch of tiny nested arrays (233 MB), JSON nested thousands of
 * levels deep. Each is refused before it is parsed, with the API's JSON error, and a body just inside the limits
 * still passes. The shape checks themselves (api/body-shape.ts) are tested on their edges here too.
 */
import { describe, expect, it } from 'vitest'
import { checkJsonShape, createPartCounter, multipartBoundary } from '../../api/body-shape.js'
import { ApiError } from '../../api/errors.js'
import { createTestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'

const enc = new TextEncoder()

function emptyParts(boundary: string, count: number, closing = true): Uint8Array<ArrayBuffer> {
  const part = `--${boundary}\r\nContent-Disposition: form-data; name="p"\r\n\r\n\r\n`
  return enc.encode(part.repeat(count) + (closing ? `--${boundary}--\r\n` : ''))
}

function refusal(fn: () => void): { status: number; code: string } | null {
  try {
    fn()
    return null
  } catch (err) {
    if (!(err instanceof ApiError)) throw err
    return { status: err.status, code: err.code }
  }
}

describe('checkJsonShape', () => {
  const limits = { maxDepth: 4, maxValues: 10 }
  const check = (text: string) => refusal(() => checkJsonShape(enc.encode(text), limits))

  it('allows exactly the limits and refuses one more level or value', () => {
    expect(check('[[[[1]]]]')).toBeNull()
    expect(check('[[[[[1]]]]]')).toEqual({ status: 400, code: 'json_too_deep' })
    expect(check('[1,2,3,4,5,6,7,8,9]')).toBeNull() // the array and 9 elements: 1 + 8 commas
    expect(check('[1,2,3,4,5,6,7,8,9,10,11]')).toEqual({ status: 413, code: 'body_too_complex' })
  })

  it('ignores brackets and commas inside strings, escaped quotes included', () => {
    expect(check(JSON.stringify({ m: '[[[[[[[[,,,,,,,,,,,,,,{{{{{{{' }))).toBeNull()
    expect(check(JSON.stringify({ m: 'a \\" [[[[[[ " ]]]]] \\\\', n: 'x"[[[[[[[[' }))).toBeNull()
    // An escaped backslash before the closing quote ends the string: the brackets after it count.
    expect(check('{"a":"x\\\\","b":[[[[[1]]]]]}')).toEqual({ status: 400, code: 'json_too_deep' })
    expect(check('{"m":"مرحبا 👋🏽 [[[[[["}')).toBeNull()
  })

  it('leaves malformed text to JSON.parse', () => {
    expect(check('"unterminated [[[[[[[[')).toBeNull()
    expect(check(']]]]]]]]')).toBeNull()
  })
})

describe('createPartCounter', () => {
  it('counts every part, whatever the chunk boundaries', () => {
    const body = emptyParts('xyz', 40)
    for (const size of [1, 2, 3, 5, 7, 64, body.length]) {
      const count = createPartCounter('xyz')
      let n = 0
      for (let i = 0; i < body.length; i += size) n = count(body.subarray(i, i + size))
      // Each part is ended by CRLF--xyz, the last one by the closing CRLF--xyz--.
      expect(n, `chunks of ${size}`).toBe(40)
    }
  })

  it('does not count the boundary without its CRLF, nor look-alikes', () => {
    const count = createPartCounter('b')
    expect(count(enc.encode('--b\r\nContent-Disposition: form-data; name="c"\r\n\r\nx --b\n--b\r-b\r\n--b--\r\n'))).toBe(1)
  })

  it('stops counting just past the number it is asked to watch', () => {
    expect(createPartCounter('b', 32)(emptyParts('b', 1000))).toBe(33)
  })

  it('reads the boundary parameter, quoted or not', () => {
    expect(multipartBoundary('multipart/form-data; boundary=----abc')).toBe('----abc')
    expect(multipartBoundary('multipart/form-data; charset=utf-8; boundary="needs:quotes"')).toBe('needs:quotes')
    expect(multipartBoundary('multipart/form-data')).toBeNull()
  })
})

describeEachEngine('amplifying bodies are refused before they are parsed', (ctx) => {
  it('a 10 MB form of 160,000 empty parts: 413 too_many_parts, at once', async () => {
    const t = createTestApp(ctx.db)
    const body = emptyParts('b', 160_000)
    expect(body.length).toBeLessThan(t.config.imageMaxBytes)
    const started = performance.now()
    const res = await t.app.request('/api/send-image', { method: 'POST', headers: t.headers({ 'Content-Type': 'multipart/form-data; boundary=b' }), body })
    const ms = performance.now() - started
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ success: false, code: 'too_many_parts' })
    console.log(`160,000 empty parts (${(body.length / 1e6).toFixed(1)} MB) refused in ${ms.toFixed(0)} ms`)
  })

  it('the dashboard forms are held to the same count (multipart and urlencoded)', async () => {
    const t = createTestApp(ctx.db)
    // The sign-in form is public, so its reader is the first thing a stranger reaches (past the same-origin check,
    // which a browser's form post passes).
    const origin = 'http://localhost'
    const res = await t.app.request('/dashboard/sign-in', {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: origin }, body: 'a=1&'.repeat(100) + 'api_key=x',
    })
    expect(res.status).toBe(413)
    expect(await res.text()).toContain('more than 32 fields')
    const multipart = await t.app.request('/dashboard/sign-in', {
      method: 'POST', headers: { 'Content-Type': 'multipart/form-data; boundary=b', Origin: origin }, body: emptyParts('b', 100),
    })
    expect(multipart.status).toBe(413)
    expect(await multipart.text()).toContain('more than 32 fields')
  })

  it('an 8 MB send-batch of tiny arrays: 413 body_too_complex; nested past 32 levels: 400 json_too_deep', async () => {
    const t = createTestApp(ctx.db)
    const tiny = `{"messages":[${Array(2_700_000).fill('[]').join(',')}]}`
    expect(tiny.length).toBeLessThan(t.config.batchBodyLimit)
    const res = await t.post('/api/send-batch', tiny)
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ success: false, code: 'body_too_complex' })

    const deep = await t.post('/api/send-batch', `{"messages":${'['.repeat(4_000_000)}${']'.repeat(4_000_000)}}`)
    expect(deep.status).toBe(400)
    expect(await deep.json()).toMatchObject({ success: false, code: 'json_too_deep' })

    const single = await t.post('/api/send', { phone: '9611234567', message: 'hi', extra: JSON.parse(`${'['.repeat(32)}${']'.repeat(32)}`) })
    expect(single.status).toBe(400)
    expect(await single.json()).toMatchObject({ code: 'json_too_deep' })
  })

  it('bodies at the limits still pass: 1,000 items with extras, a send with 31 levels of extras', async () => {
    const t = createTestApp(ctx.db)
    const items = Array.from({ length: t.config.batchMaxItems }, (_, i) => ({
      phone: '9611234567', message: `m${i}`, session: 'default', meta: { tags: ['a', 'b', 'c'], order: i, nested: { x: [1, 2] } },
    }))
    const batch = await t.post('/api/send-batch', { messages: items })
    expect(batch.status).toBe(200)
    expect((await batch.json()).message_ids).toHaveLength(t.config.batchMaxItems)
    const single = await t.post('/api/send', { phone: '9611234567', message: 'hi', extra: JSON.parse(`${'['.repeat(31)}${']'.repeat(31)}`) })
    expect(single.status).toBe(200)
    await t.app.coalescer?.drain()
  })
}, { engines: ['pglite'] })
