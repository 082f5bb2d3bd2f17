import { toDate, toId, type Queryable, type Row } from '../driver.js'
import { each } from '../sql.js'
import type { MediaRecord } from '../types.js'

/** Maps a `media` row to the domain object. */
export function toMedia(row: Row): MediaRecord {
  return {
    id: toId(row.id),
    bytes: row.bytes instanceof Uint8Array ? row.bytes : new Uint8Array(row.bytes as ArrayBuffer),
    mime: String(row.mime),
    size: Number(row.size),
    width: Number(row.width),
    height: Number(row.height),
    sha256: String(row.sha256),
    createdAt: toDate(row.created_at)!,
  }
}

export interface NewMedia {
  bytes: Uint8Array
  mime: string
  width: number
  height: number
  /** Hex SHA-256 of `bytes`. */
  sha256: string
}

const INSERT = /* @__PURE__ */ each(
  `INSERT INTO media (bytes, mime, size, width, height, sha256, created_at)
VALUES (?, ?, ?, ?, ?, ?, NOW(6))`,
  `INSERT INTO media (bytes, mime, size, width, height, sha256, created_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
RETURNING id`,
)

/** Stores an uploaded original (the runner compresses at send time). Returns its id. */
export async function insertMedia(db: Queryable, media: NewMedia): Promise<number> {
  const params = [
    db.dialect === 'mysql' ? Buffer.from(media.bytes.buffer, media.bytes.byteOffset, media.bytes.byteLength) : media.bytes,
    media.mime, media.bytes.byteLength, media.width, media.height, media.sha256,
  ]
  if (db.dialect === 'mysql') return toId((await db.execute(INSERT.mysql, params)).insertId)
  const [row] = await db.query(INSERT.postgres, params)
  return toId(row!.id)
}

const FIND_REUSABLE = /* @__PURE__ */ each(
  `SELECT id
  FROM media
 WHERE sha256 = ?
   AND created_at > NOW(6) - INTERVAL ? SECOND
 ORDER BY created_at DESC
 LIMIT 1`,
  `SELECT id
  FROM media
 WHERE sha256 = $1
   AND created_at > now() - $2 * interval '1 second'
 ORDER BY created_at DESC
 LIMIT 1`,
)

/**
 * An identical upload stored within `maxAgeSeconds`, to reuse instead of storing the bytes again.
 * Callers pass half the retention period, so a reused row is never one the pruner is about to delete
 * (db/README.md, Maintenance slots).
 */
export async function findReusableMedia(db: Queryable, sha256: string, maxAgeSeconds: number): Promise<number | null> {
  const [row] = await db.query(FIND_REUSABLE[db.dialect], [sha256, maxAgeSeconds])
  return row ? toId(row.id) : null
}

const GET = /* @__PURE__ */ each(
  `SELECT id, bytes, mime, size, width, height, sha256, created_at
  FROM media
 WHERE id = ?`,
  `SELECT id, bytes, mime, size, width, height, sha256, created_at
  FROM media
 WHERE id = $1`,
)

/** The stored original, or null if it was pruned. */
export async function getMedia(db: Queryable, id: number): Promise<MediaRecord | null> {
  const [row] = await db.query(GET[db.dialect], [id])
  return row ? toMedia(row) : null
}
