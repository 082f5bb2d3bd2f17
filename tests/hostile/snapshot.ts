import { createHash } from 'node:crypto'
import type { Queryable, Row } from '../../db/driver.js'

/**
 * A fingerprint of every row of every table: one SHA-256 per row (all columns, bytes hashed), keyed by the primary
 * key. Comparing two snapshots tells which rows appeared, disappeared or changed, so a test can prove the database
 * is unchanged except for what the valid requests were meant to write.
 */
export const TABLES: Record<string, string[]> = {
  sessions: ['name'],
  messages: ['id'],
  media: ['id'],
  media_chunks: ['media_id', 'seq'],
  contacts: ['phone'],
  contact_changes: ['id'],
  inbound_messages: ['id'],
  auth_keys: ['session', 'type', 'key_id'],
  runners: ['id'],
  cron_runs: ['task', 'slot'],
  webhooks: ['id'],
  webhook_deliveries: ['id'],
  gateway_secrets: ['name'],
  dashboard_sessions: ['id'],
  number_checks: ['session', 'phone'],
}

export type Snapshot = Record<string, Map<string, string>>

function normalize(v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (v instanceof Date) return v.toISOString()
  if (v instanceof Uint8Array) return `bytes:${createHash('sha256').update(v).digest('hex')}`
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') return String(v)
  return v
}

function rowKey(row: Row, keys: string[]): string {
  return keys.map((k) => String(normalize(row[k]))).join('|')
}

export async function snapshot(db: Queryable): Promise<Snapshot> {
  const out: Snapshot = {}
  for (const [table, keys] of Object.entries(TABLES)) {
    const rows = await db.query(`SELECT * FROM ${table} ORDER BY ${keys.join(', ')}`)
    const m = new Map<string, string>()
    for (const row of rows) {
      const cols = Object.keys(row).sort()
      const text = JSON.stringify(cols.map((c) => [c, normalize(row[c])]))
      m.set(rowKey(row, keys), createHash('sha256').update(text).digest('hex'))
    }
    out[table] = m
  }
  return out
}

export interface SnapshotDiff {
  added: Record<string, string[]>
  removed: Record<string, string[]>
  changed: Record<string, string[]>
}

export function diffSnapshots(before: Snapshot, after: Snapshot): SnapshotDiff {
  const diff: SnapshotDiff = { added: {}, removed: {}, changed: {} }
  for (const table of Object.keys(TABLES)) {
    const a = before[table]!
    const b = after[table]!
    const added = [...b.keys()].filter((k) => !a.has(k))
    const removed = [...a.keys()].filter((k) => !b.has(k))
    const changed = [...a.keys()].filter((k) => b.has(k) && b.get(k) !== a.get(k))
    if (added.length) diff.added[table] = added
    if (removed.length) diff.removed[table] = removed
    if (changed.length) diff.changed[table] = changed
  }
  return diff
}

/** Row counts per table, for the report. */
export function counts(s: Snapshot): Record<string, number> {
  return Object.fromEntries(Object.entries(s).map(([t, m]) => [t, m.size]))
}
