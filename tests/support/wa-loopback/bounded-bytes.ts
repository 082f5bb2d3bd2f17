/**
 * A map of byte buffers that keeps at most `budgetBytes` in total, dropping the oldest entries first. The loopback
 * keeps uploads and decrypted media in memory for tests to inspect; a long soak or a few 100 MB documents must not
 * grow that without end. The newest entry is always kept, even alone over the budget, so one maximal upload
 * (100 MB, as `media_conn` advertises) still works with a smaller budget.
 */
export class BoundedBytes<V extends { bytes: Buffer }> {
  private readonly entries = new Map<string, V>()
  private total = 0

  constructor(private readonly budgetBytes: number) {}

  get(key: string): V | undefined {
    return this.entries.get(key)
  }

  set(key: string, value: V): void {
    this.delete(key)
    this.entries.set(key, value)
    this.total += value.bytes.length
    for (const [oldest, entry] of this.entries) {
      if (this.total <= this.budgetBytes || oldest === key) break
      this.entries.delete(oldest)
      this.total -= entry.bytes.length
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key)
    if (!entry) return
    this.entries.delete(key)
    this.total -= entry.bytes.length
  }

  clear(): void {
    this.entries.clear()
    this.total = 0
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.total
  }
}
