import { describe, expect, it } from 'vitest'
import { BoundedBytes } from '../support/wa-loopback/bounded-bytes.js'

const entry = (length: number) => ({ bytes: Buffer.alloc(length) })

describe('BoundedBytes (the loopback keeps media in memory within a budget)', () => {
  it('drops the oldest entries once the total passes the budget', () => {
    const kept = new BoundedBytes(10)
    kept.set('a', entry(4))
    kept.set('b', entry(4))
    expect(kept.heldBytes).toBe(8)
    kept.set('c', entry(4))
    expect([kept.get('a'), kept.get('b')?.bytes.length, kept.get('c')?.bytes.length]).toEqual([undefined, 4, 4])
    expect(kept.heldBytes).toBe(8)
  })

  it('keeps the newest entry even when it alone is over the budget', () => {
    const kept = new BoundedBytes(10)
    kept.set('a', entry(4))
    kept.set('huge', entry(25))
    expect([kept.get('a'), kept.get('huge')?.bytes.length, kept.heldBytes]).toEqual([undefined, 25, 25])
  })

  it('counts a replaced key once, and clear empties it', () => {
    const kept = new BoundedBytes(10)
    kept.set('a', entry(6))
    kept.set('a', entry(3))
    kept.set('b', entry(7))
    expect([kept.get('a')?.bytes.length, kept.heldBytes]).toEqual([3, 10])
    kept.clear()
    expect([kept.get('a'), kept.get('b'), kept.heldBytes]).toEqual([undefined, undefined, 0])
  })
})
