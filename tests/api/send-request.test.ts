import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { mediaRequestHash } from '../../api/routes/send-media.js'
import { batchHash, captionOrNull, mediaReuseSeconds, textSend } from '../../api/send-request.js'

/** The hash layout keys were stored under before sending was assembled in one place: it must not change. */
const storedHash = (parts: unknown[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex')

const imageBytes = new Uint8Array([1, 2, 3])
const imageSha = createHash('sha256').update(imageBytes).digest('hex')

describe('send-request: one assembly for the API and the dashboard', () => {
  it('reuses an identical upload for half the media retention', () => {
    expect(mediaReuseSeconds({ mediaRetentionDays: 30 })).toBe(15 * 86_400)
    expect(mediaReuseSeconds({ mediaRetentionDays: 1 })).toBe(43_200)
  })

  it('treats an empty or blank caption as none and keeps a real one untouched', () => {
    expect(captionOrNull(undefined)).toBeNull()
    expect(captionOrNull(null)).toBeNull()
    expect(captionOrNull(' \n\t')).toBeNull()
    expect(captionOrNull(' hi ')).toBe(' hi ')
  })

  it('hashes a text send as keys were stored before, adding send_at only when given', async () => {
    const plain = await textSend({ session: 'default', phone: '9611234567', message: 'hello' }, 'k1')
    expect(plain).toMatchObject({ type: 'text', body: 'hello', sendAt: null, idempotencyKey: 'k1' })
    expect(plain.requestHash).toBe(storedHash(['text', 'default', '9611234567', 'hello']))
    const at = new Date('2030-01-02T03:04:05Z')
    const scheduled = await textSend({ session: 'default', phone: '9611234567', message: 'hello', sendAt: at }, 'k1')
    expect(scheduled.requestHash).toBe(storedHash(['text', 'default', '9611234567', 'hello', 'send_at=2030-01-02T03:04:05.000Z']))
    const unkeyed = await textSend({ session: 'default', phone: '9611234567', message: 'hello' })
    expect(unkeyed).not.toHaveProperty('requestHash')
  })

  it('hashes an image send with its caption and the bytes as keys were stored before', async () => {
    const hash = await mediaRequestHash('image', { session: 's', phone: '9611234567' }, captionOrNull('   '), imageSha, null, null)
    expect(hash).toBe(storedHash(['image', 's', '9611234567', null, imageSha]))
  })

  it('hashes a batch item by item', async () => {
    const at = new Date('2030-01-02T03:04:05Z')
    const items = [await textSend({ session: 'a', phone: '1234567', message: 'm1' }), await textSend({ session: 'b', phone: '7654321', message: 'm2', sendAt: at })]
    expect(await batchHash(items)).toBe(storedHash(['batch', [['a', '1234567', 'm1'], ['b', '7654321', 'm2', 'send_at=2030-01-02T03:04:05.000Z']]]))
  })
})
