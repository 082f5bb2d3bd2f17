/**
 * Hostile input through `app.request()` on every engine: ~2,600 generated malformed or malicious requests across
 * every route (tests/hostile/generator.ts, seeded, so a failure reproduces with HOSTILE_SEED). Every answer must be a
 * 4xx JSON error (no 5xx, no hang, no crash), and afterwards the database must hold exactly what the valid control
 * requests wrote and nothing else. What `app.request()` cannot express (bytes on the wire, connections cut
 * mid-body) is in wire.test.ts against the real Node server.
 */
import sharp from 'sharp'
import { beforeAll, expect, it } from 'vitest'
import type { Db, Engine } from '../../db/driver.js'
import { setContactOptIn } from '../../db/lifecycle/opt-out.js'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { createSession } from '../../db/queries/sessions.js'
import type { Logger } from '../../api/env.js'
import { createTestApp, ROTATED_API_KEY, TEST_API_KEY, type TestApp } from '../support/app.js'
import { describeEachEngine } from '../support/db.js'
import { generateHostileSuite, type Fixtures, type HostileCase } from './generator.js'
import { checkDatabase, runAll, type CaseOutcome } from './run-cases.js'
import { counts, snapshot } from './snapshot.js'

export const HOSTILE_SEED = Number(process.env.HOSTILE_SEED ?? 20_250_511)

/** Sessions, a pending message, a contact and an inbound row: state the hostile requests must leave untouched. */
export async function seedFixtures(db: Db): Promise<Fixtures> {
  for (const name of ['support', 'sales']) await createSession(db, name)
  const pending = await enqueueMessage(db, { session: 'default', phone: '9611234567', type: 'text', body: 'seeded' })
  if (pending.kind !== 'created') throw new Error('seed failed')
  await enqueueMessage(db, { session: 'support', phone: '442079460958', type: 'text', body: 'seeded 2' })
  await setContactOptIn(db, '9617000001', 'no')
  const jpeg = new Uint8Array(await sharp({ create: { width: 32, height: 24, channels: 3, background: '#c33' } }).jpeg().toBuffer())
  const png = new Uint8Array(await sharp({ create: { width: 20, height: 20, channels: 4, background: '#3c3a' } }).png().toBuffer())
  return { keys: [TEST_API_KEY, ROTATED_API_KEY], sessions: ['support', 'sales'], pendingId: pending.id, maxId: pending.id + 1, jpeg, png }
}

/** One line per broken case: id, route, title, what happened. */
export function describeFailures(outcomes: CaseOutcome[], limit = 40): string {
  const bad = outcomes.filter((o) => o.problem)
  return bad
    .slice(0, limit)
    .map((o) => `#${o.c.id} ${o.c.route} — ${o.c.title} [${o.c.method} ${o.c.path.slice(0, 80)}]: ${o.problem}`)
    .join('\n') + (bad.length > limit ? `\n… and ${bad.length - limit} more` : '')
}

export function tally(outcomes: CaseOutcome[]): string {
  const byRoute = new Map<string, { n: number; statuses: Map<number | null, number> }>()
  for (const o of outcomes) {
    const e = byRoute.get(o.c.route) ?? { n: 0, statuses: new Map() }
    e.n++
    e.statuses.set(o.status, (e.statuses.get(o.status) ?? 0) + 1)
    byRoute.set(o.c.route, e)
  }
  return [...byRoute.entries()]
    .sort((a, b) => b[1].n - a[1].n)
    .map(([route, e]) => `${route.padEnd(28)} ${String(e.n).padStart(5)}  ${[...e.statuses.entries()].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`)
    .join('\n')
}

/**
 * Bugs this suite found in code it does not own. Matching answers
 * are printed, not failed, so `npm test` stays usable until they are fixed; anything else still fails.
 */
// Fixed since they were found: year-0/10000 `since`/`until` answered 500 on Postgres/PGlite (ac9e540); PGlite
// dropped a leading U+FEFF on read (the API now drops a leading byte-order mark on every engine, api/validation.ts).
export const KNOWN_BUGS: Array<{ id: string; engines: Engine[]; request?: (o: CaseOutcome) => boolean; database?: RegExp; note: string }> = [
  {
    id: 'undici-boundary-in-text',
    engines: ['pglite', 'postgres', 'mysql'],
    // Node 20's form parser (undici 6) refuses a body in which a field's text contains the boundary string anywhere
    // (caption "ax" with boundary "x"), where RFC 2046 forbids only the delimiter CRLF--boundary. The answer is a
    // clean 400 invalid_multipart; HTTP clients pick long random boundaries, so only hand-made one-letter ones meet it.
    request: (o) => o.c.route === 'POST /api/send-image' && /boundary=x$/.test(o.c.headers['Content-Type'] ?? '') && Boolean(o.problem?.includes('got 400') && o.problem.includes('"invalid_multipart"')),
    note: "Node's multipart parser refuses a field text that contains a one-letter boundary (400 invalid_multipart instead of the field's own error)",
  },
]

function splitKnown<T>(engine: Engine, items: T[], isKnown: (bug: (typeof KNOWN_BUGS)[number], item: T) => boolean): { known: Map<string, T[]>; rest: T[] } {
  const known = new Map<string, T[]>()
  const rest: T[] = []
  for (const item of items) {
    const bug = KNOWN_BUGS.find((b) => b.engines.includes(engine) && isKnown(b, item))
    if (bug) known.set(bug.id, [...(known.get(bug.id) ?? []), item])
    else rest.push(item)
  }
  return { known, rest }
}

/** Captures what the app logs at error level (the cause of any 500), for the failure message. */
export function captureLog() {
  const errors: string[] = []
  const logger: Logger = {
    debug() {},
    info() {},
    warn() {},
    error(obj: unknown, msg?: string) {
      const err = (obj as { err?: Error })?.err
      errors.push(`${msg ?? ''}: ${err?.name ?? ''} ${err?.message ?? ''} ${(err?.stack ?? '').split('\n').slice(1, 4).join(' | ')}`)
    },
    child() {
      return logger
    },
  }
  return { logger, errors }
}

describeEachEngine('hostile input through app.request()', (ctx) => {
  const serverLog = captureLog()
  let t: TestApp
  let cases: HostileCase[]
  let outcomes: CaseOutcome[]
  let before: Awaited<ReturnType<typeof snapshot>>

  beforeAll(async () => {
    const fx = await seedFixtures(ctx.db)
    t = createTestApp(ctx.db, { deps: { log: serverLog.logger } })
    cases = generateHostileSuite(HOSTILE_SEED, fx).cases
    before = await snapshot(ctx.db)
  }, 120_000)

  it('answers every one of ≥ 2,000 malformed or malicious requests with a 4xx JSON error, never a 5xx or a hang', async () => {
    expect(cases.length).toBeGreaterThanOrEqual(2000)
    const fetch = (path: string, init: RequestInit) => Promise.resolve(t.app.request(path, init))
    const started = Date.now()
    outcomes = await runAll(fetch, cases, { concurrency: 4, timeoutMs: 20_000 })
    const rejects = outcomes.filter((o) => o.c.expect.kind === 'reject').length
    const valid = outcomes.filter((o) => o.c.expect.kind === 'ok' || o.c.expect.kind === 'read').length
    console.log(`hostile [${ctx.engine}]: ${cases.length} requests (${rejects} must be refused, ${valid} valid controls, ${cases.length - rejects - valid} pages/edge cases) in ${Date.now() - started} ms\n${tally(outcomes)}`)
    const { known, rest } = splitKnown(ctx.engine, outcomes, (b, o) => Boolean(o.problem && b.request?.(o)))
    for (const [id, list] of known) console.log(`KNOWN BUG ${id} [${ctx.engine}] still present in ${list.length} case(s), e.g. #${list[0]!.c.id} ${list[0]!.c.path}: ${KNOWN_BUGS.find((b) => b.id === id)!.note}`)
    const failures = describeFailures(rest)
    if (failures) console.log(`server log:\n${serverLog.errors.slice(0, 10).join('\n')}`)
    expect(failures).toBe('')
  }, 600_000)

  it('leaves the database exactly as it was, except for the rows the valid requests asked for', async () => {
    expect(outcomes, 'the request test ran').toBeDefined()
    // Valid single sends are group-committed: wait for the coalescer to flush before reading.
    await t.app.coalescer?.drain()
    const after = await snapshot(ctx.db)
    const problems = await checkDatabase(ctx.db, before, after, outcomes)
    console.log(`hostile [${ctx.engine}]: rows before ${JSON.stringify(counts(before))}, after ${JSON.stringify(counts(after))}`)
    const { known, rest } = splitKnown(ctx.engine, problems, (b, p) => Boolean(b.database?.test(p)))
    for (const [id, list] of known) console.log(`KNOWN BUG ${id} [${ctx.engine}] still present (${list.length}): ${list[0]}`)
    expect(rest.join('\n')).toBe('')
  }, 120_000)
})
