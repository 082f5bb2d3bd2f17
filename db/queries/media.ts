/**
 * Stored media: what the API accepted, kept until the runner has sent it (and, for resends, until retention). A
 * file is one `media` row (its type, size, hash) plus its bytes in `media_chunks`, at most `MEDIA_CHUNK_BYTES` each,
 * so no statement needs a packet above 1 MiB however large the file (MariaDB's default `max_allowed_packet` is
 * 16 MiB, and a 64 MB document would not fit). Rows stored before migration 0009 keep their bytes in `media.bytes`
 * (`chunks = 0`); both are read the same way.
 */
import { toDate, toId, type Queryable, type Row } from '../driver.js'
import { each } from '../sql.js'
import type { MediaRecord } from '../types.js'

/**
 * Bytes per `media_chunks` row: 256 KiB. mysql2 sends a bound Buffer as binary in a prepared statement, but as hex
 * text (twice the size) through the text protocol; either way a chunk stays well below 1 MiB on the wire.
 */
export const MEDIA_CHUNK_BYTES = 256 * 1024

/** What is known about a stored file without reading its bytes. */
export type MediaInfo = Omit<MediaRecord, 'bytes'> & { chunks: number }

function toMediaInfo(row: Row): MediaInfo {
  return {
    id: toId(row.id),
    mime: String(row.mime),
    size: Number(row.size),
    width: row.width === null || row.width === undefined ? null : Number(row.width),
    height: row.height === null || row.height === undefined ? null : Number(row.height),
    sha256: String(row.sha256),
    createdAt: toDate(row.created_at)!,
    chunks: Number(row.chunks ?? 0),
  }
}

const asBytes = (value: unknown): Uint8Array => (value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBuffer))

export interface NewMedia {
  bytes: Uint8Array
  mime: string
  /** Images only. */
  width?: number | null
  height?: number | null
  /** Hex SHA-256 of `bytes`. */
  sha256: string
}

const INSERT = /* @__PURE__ */ each(
  `INSERT INTO media (bytes, mime, size, width, height, sha256, chunks, created_at)
VALUES (NULL, ?, ?, ?, ?, ?, ?, NOW(6))`,
  `INSERT INTO media (bytes, mime, size, width, height, sha256, chunks, created_at)
VALUES (NULL, $1, $2, $3, $4, $5, $6, now())
RETURNING id`,
)

const INSERT_CHUNK = /* @__PURE__ */ each(
  `INSERT INTO media_chunks (media_id, seq, bytes)
VALUES (?, ?, ?)`,
  `INSERT INTO media_chunks (media_id, seq, bytes)
VALUES ($1, $2, $3)`,
)

/** How many chunks `size` bytes take (at least one, so an empty file still has a row to read). */
export function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / MEDIA_CHUNK_BYTES))
}

/**
 * Stores a file: its `media` row and its chunks. Call it inside the transaction that queues the message, so a file
 * is either stored whole and referenced, or not at all (a reuse by hash can never find half a file). Returns its id.
 */
export async function insertMedia(db: Queryable, media: NewMedia): Promise<number> {
  const size = media.bytes.byteLength
  const chunks = chunkCount(size)
  const params = [media.mime, size, media.width ?? null, media.height ?? null, media.sha256, chunks]
  const id = db.dialect === 'mysql'
    ? toId((await db.execute(INSERT.mysql, params)).insertId)
    : toId((await db.query(INSERT.postgres, params))[0]!.id)
  for (let seq = 0; seq < chunks; seq++) {
    const part = media.bytes.subarray(seq * MEDIA_CHUNK_BYTES, Math.min(size, (seq + 1) * MEDIA_CHUNK_BYTES))
    const bytes = db.dialect === 'mysql' ? Buffer.from(part.buffer, part.byteOffset, part.byteLength) : part
    await db.execute(INSERT_CHUNK[db.dialect], [id, seq, bytes])
  }
  return id
}

const FIND_REUSABLE = /* @__PURE__ */ each(
  `SELECT id
  FROM media
 WHERE sha256 = ?
   AND mime = ?
   AND created_at > NOW(6) - INTERVAL ? SECOND
 ORDER BY created_at DESC
 LIMIT 1`,
  `SELECT id
  FROM media
 WHERE sha256 = $1
   AND mime = $2
   AND created_at > now() - $3 * interval '1 second'
 ORDER BY created_at DESC
 LIMIT 1`,
)

/**
 * An identical upload (same bytes, same type) stored within `maxAgeSeconds`, to reuse instead of storing the bytes
 * again. Callers pass half the retention period, so a reused row is never one the pruner is about to delete
 * (db/README.md, Maintenance slots).
 */
export async function findReusableMedia(db: Queryable, sha256: string, mime: string, maxAgeSeconds: number): Promise<number | null> {
  const [row] = await db.query(FIND_REUSABLE[db.dialect], [sha256, mime, maxAgeSeconds])
  return row ? toId(row.id) : null
}

const GET_INFO = /* @__PURE__ */ each(
  `SELECT id, mime, size, width, height, sha256, chunks, created_at
  FROM media
 WHERE id = ?`,
  `SELECT id, mime, size, width, height, sha256, chunks, created_at
  FROM media
 WHERE id = $1`,
)

/** The stored file's type, size and hash, or null if it was pruned. */
export async function getMediaInfo(db: Queryable, id: number): Promise<MediaInfo | null> {
  const [row] = await db.query(GET_INFO[db.dialect], [id])
  return row ? toMediaInfo(row) : null
}

const GET_INFOS = /* @__PURE__ */ each(
  `SELECT id, mime, size, width, height, sha256, chunks, created_at
  FROM media
 WHERE id IN (?)`,
  `SELECT id, mime, size, width, height, sha256, chunks, created_at
  FROM media
 WHERE id = ANY($1::bigint[])`,
)

/** Several stored files' type, size and hash in one statement (a page of messages), by id; pruned ones are absent. */
export async function getMediaInfos(db: Queryable, ids: readonly number[]): Promise<Map<number, MediaInfo>> {
  const unique = [...new Set(ids)]
  if (unique.length === 0) return new Map()
  const rows = await db.query(GET_INFOS[db.dialect], [unique])
  return new Map(rows.map((r) => [toId(r.id), toMediaInfo(r)]))
}

const GET_LEGACY_BYTES = /* @__PURE__ */ each(
  `SELECT bytes
  FROM media
 WHERE id = ?`,
  `SELECT bytes
  FROM media
 WHERE id = $1`,
)

const GET_CHUNK = /* @__PURE__ */ each(
  `SELECT bytes
  FROM media_chunks
 WHERE media_id = ?
   AND seq = ?`,
  `SELECT bytes
  FROM media_chunks
 WHERE media_id = $1
   AND seq = $2`,
)

/** The file was pruned (or its chunks are missing) while it was being read. */
export class MediaGoneError extends Error {
  constructor(id: number) {
    super(`media ${id} is gone (pruned or deleted)`)
    this.name = 'MediaGoneError'
  }
}

/**
 * The file's bytes, one chunk (≤ 256 KiB) at a time, each read by its own short statement: a 64 MB document is
 * streamed to its reader without holding a transaction open or the whole file in one result.
 */
export async function* readMediaChunks(db: Queryable, info: Pick<MediaInfo, 'id' | 'chunks'>): AsyncGenerator<Uint8Array> {
  if (info.chunks === 0) {
    const [row] = await db.query(GET_LEGACY_BYTES[db.dialect], [info.id])
    if (!row || row.bytes === null) throw new MediaGoneError(info.id)
    yield asBytes(row.bytes)
    return
  }
  for (let seq = 0; seq < info.chunks; seq++) {
    const [row] = await db.query(GET_CHUNK[db.dialect], [info.id, seq])
    if (!row) throw new MediaGoneError(info.id)
    yield asBytes(row.bytes)
  }
}

/** The whole stored file, or null if it was pruned. For files the reader needs at once (images, small media). */
export async function getMedia(db: Queryable, id: number): Promise<MediaRecord | null> {
  const info = await getMediaInfo(db, id)
  if (!info) return null
  const parts: Uint8Array[] = []
  try {
    for await (const part of readMediaChunks(db, info)) parts.push(part)
  } catch (err) {
    if (err instanceof MediaGoneError) return null
    throw err
  }
  const bytes = parts.length === 1 ? parts[0]! : new Uint8Array(Buffer.concat(parts))
  const { chunks: _chunks, ...rest } = info
  return { ...rest, bytes }
}
