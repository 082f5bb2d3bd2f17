import type { Queryable } from '../../db/driver.js'
import { getMessage } from '../../db/queries/messages.js'
import { getSession } from '../../db/queries/sessions.js'
import type { HostileCase } from './generator.js'
import { diffSnapshots, type Snapshot } from './snapshot.js'

export type FetchLike = (path: string, init: RequestInit) => Promise<Response>

export interface CaseOutcome {
  c: HostileCase
  status: number | null
  ms: number
  /** Why the answer broke the rule, or null. */
  problem: string | null
  /** Ids a valid send answered with. */
  ids: number[]
}

const ERROR_CODE = /^[a-z][a-z0-9_]*$/

/** `errors` of a validation refusal: 1–100 `{path, code, message}`, the first being the answer's `error` and `code`. */
function fieldErrorsMatch(errors: unknown, error: string, code: string): boolean {
  if (!Array.isArray(errors) || errors.length < 1 || errors.length > 100) return false
  const wellFormed = errors.every((e: Record<string, unknown>) =>
    e !== null && typeof e === 'object' && Object.keys(e).sort().join(',') === 'code,message,path' &&
    typeof e.path === 'string' && typeof e.code === 'string' && ERROR_CODE.test(e.code) && typeof e.message === 'string' && e.message !== '')
  const first = errors[0] as { path: string; code: string; message: string }
  return wellFormed && first.code === code && error === (first.path ? `${first.path}: ${first.message}` : first.message)
}

/** Sends one case with a deadline: a hang is a failure, not a stuck test. */
export async function runCase(fetch: FetchLike, c: HostileCase, timeoutMs: number): Promise<CaseOutcome> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const init: RequestInit = { method: c.method, headers: c.headers }
  if (c.body !== undefined) init.body = c.body as BodyInit
  try {
    const res = await Promise.race([
      (async () => {
        const r = await fetch(c.path, init)
        return { r, text: await r.text() }
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms (hang)`)), timeoutMs)
      }),
    ])
    const ms = performance.now() - started
    return { c, status: res.r.status, ms, ...judge(c, res.r, res.text) }
  } catch (err) {
    return { c, status: null, ms: performance.now() - started, problem: `request failed: ${(err as Error).message}`, ids: [] }
  } finally {
    clearTimeout(timer)
  }
}

function judge(c: HostileCase, res: Response, text: string): { problem: string | null; ids: number[] } {
  const type = res.headers.get('content-type') ?? ''
  const e = c.expect
  if (res.status >= 500) return { problem: `server error ${res.status}: ${text.slice(0, 300)}`, ids: [] }
  if (e.kind === 'no5xx') return { problem: null, ids: [] }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return { problem: `${res.status} answer is not JSON (${type}): ${text.slice(0, 200)}`, ids: [] }
  }
  if (!type.includes('application/json')) return { problem: `content-type ${type}`, ids: [] }
  if (e.kind === 'reject') {
    if (res.status < 400 || res.status > 499) return { problem: `expected a 4xx, got ${res.status}: ${text.slice(0, 300)}`, ids: [] }
    if (e.status && res.status !== e.status) return { problem: `expected ${e.status}, got ${res.status}: ${text.slice(0, 300)}`, ids: [] }
    const b = body as Record<string, unknown>
    const keys = Object.keys(b ?? {}).sort().join(',')
    if (!['code,error,success', 'code,error,errors,success'].includes(keys) || b.success !== false || typeof b.error !== 'string' || !b.error || typeof b.code !== 'string' || !ERROR_CODE.test(b.code)) {
      return { problem: `error body is not {success:false,error,code}: ${text.slice(0, 300)}`, ids: [] }
    }
    // A validation refusal lists every field problem; the first is the answer's own error and code.
    if ('errors' in b && !fieldErrorsMatch(b.errors, b.error, b.code)) {
      return { problem: `errors is not [{path,code,message}] led by the answer's own error and code: ${text.slice(0, 300)}`, ids: [] }
    }
    return { problem: null, ids: [] }
  }
  if (res.status !== 200) return { problem: `expected 200, got ${res.status}: ${text.slice(0, 300)}`, ids: [] }
  if (e.kind === 'read') return { problem: null, ids: [] }
  const b = body as { success?: unknown; message_id?: unknown; message_ids?: unknown }
  if (b.success !== true) return { problem: `expected success: ${text.slice(0, 300)}`, ids: [] }
  if (e.effect.kind === 'session') return { problem: null, ids: [] }
  const ids = Array.isArray(b.message_ids) ? (b.message_ids as number[]) : [b.message_id as number]
  if (!ids.every((id) => Number.isSafeInteger(id)) || ids.length !== e.effect.rows.length) return { problem: `bad ids: ${text.slice(0, 300)}`, ids: [] }
  return { problem: null, ids }
}

/** Runs every case with `concurrency` in flight; returns the outcomes in case order. */
export async function runAll(fetch: FetchLike, cases: HostileCase[], { concurrency = 4, timeoutMs = 15_000 } = {}): Promise<CaseOutcome[]> {
  const out: CaseOutcome[] = new Array(cases.length)
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < cases.length) {
        const i = next++
        out[i] = await runCase(fetch, cases[i]!, timeoutMs)
      }
    }),
  )
  return out
}

/**
 * Checks the database after the run: nothing removed or changed; the only new rows are the valid requests' messages
 * (with exactly the stored content asked for), the media they reference, and the sessions they created.
 */
export async function checkDatabase(db: Queryable, before: Snapshot, after: Snapshot, outcomes: CaseOutcome[]): Promise<string[]> {
  const problems: string[] = []
  const diff = diffSnapshots(before, after)
  for (const [t, keys] of Object.entries(diff.removed)) problems.push(`${t}: ${keys.length} row(s) removed: ${keys.slice(0, 5).join(', ')}`)
  for (const [t, keys] of Object.entries(diff.changed)) problems.push(`${t}: ${keys.length} row(s) changed: ${keys.slice(0, 5).join(', ')}`)
  const expectedMessages = new Set<string>()
  const expectedSessions = new Set<string>()
  const referencedMedia = new Set<string>()
  for (const o of outcomes) {
    if (o.c.expect.kind !== 'ok' || o.problem) continue
    const effect = o.c.expect.effect
    if (effect.kind === 'session') {
      expectedSessions.add(effect.name)
      const s = await getSession(db, effect.name)
      if (!s) problems.push(`session ${effect.name} (case ${o.c.id}) was answered 200 but not stored`)
      continue
    }
    for (const [i, id] of o.ids.entries()) {
      expectedMessages.add(String(id))
      const want = effect.rows[i]!
      const row = await getMessage(db, id)
      if (!row) {
        problems.push(`message ${id} (case ${o.c.id}) missing`)
        continue
      }
      const got = { session: row.session, phone: row.phone, type: row.type, body: row.body, status: row.status }
      const exp = { session: want.session, phone: want.phone, type: want.type, body: want.body, status: 'pending' }
      if (JSON.stringify(got) !== JSON.stringify(exp)) problems.push(`message ${id} (case ${o.c.id}) stored ${JSON.stringify(got).slice(0, 200)}, expected ${JSON.stringify(exp).slice(0, 200)}`)
      if (want.media) {
        const ph = db.dialect === 'mysql' ? '?' : '$1'
        const chunks = await db.query<{ bytes: Uint8Array }>(`SELECT bytes FROM media_chunks WHERE media_id = ${ph} ORDER BY seq`, [row.mediaId])
        referencedMedia.add(String(row.mediaId))
        const stored = Buffer.concat(chunks.map((c) => Buffer.from(c.bytes)))
        if (chunks.length === 0 || Buffer.compare(stored, Buffer.from(want.media)) !== 0) problems.push(`message ${id} (case ${o.c.id}): media bytes differ from the upload`)
      }
    }
  }
  for (const [t, keys] of Object.entries(diff.added)) {
    const allowed = t === 'messages' ? expectedMessages : t === 'sessions' ? expectedSessions : t === 'media' ? referencedMedia : new Set<string>()
    // A stored file's chunks are keyed `media_id|seq`: allowed with their file.
    const stray = keys.filter((k) => !(t === 'media_chunks' ? referencedMedia.has(k.split('|')[0]!) : allowed.has(k)))
    if (stray.length) problems.push(`${t}: ${stray.length} unexpected new row(s): ${stray.slice(0, 5).join(', ')}`)
  }
  for (const id of expectedMessages) if (!after.messages!.has(id)) problems.push(`message ${id} answered but not in the table`)
  return problems
}
