/**
 * Where a message's state changes (db/README.md, The message states): the statements that write `messages` live in
 * the four `db/queries/message-*.ts` files, the transitions that run them in `db/lifecycle/`, and api/ and runner/
 * reach them only through the transitions.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const STATEMENT_FILES = ['message-inserts.ts', 'message-claim.ts', 'message-outcomes.ts', 'message-receipts.ts', 'message-controls.ts']

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.tsx?$/.test(f))
    .map((f) => join(ROOT, dir, f))
}

describe('the message lifecycle layer', () => {
  it('keeps every statement that writes messages in db/queries/message-*.ts (pruning aside)', () => {
    const writers = sources('db/queries')
      .filter((f) => /\b(UPDATE messages|INSERT INTO messages)\b/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(join(ROOT, 'db/queries'), f))
      .sort()
    expect(writers).toEqual([...STATEMENT_FILES].sort())
  })

  it('lets api/ and runner/ change messages only through db/lifecycle/', () => {
    const offenders = [...sources('api'), ...sources('runner')].filter((f) =>
      STATEMENT_FILES.some((s) => readFileSync(f, 'utf8').includes(`db/queries/${s.replace('.ts', '.js')}`)),
    )
    expect(offenders.map((f) => relative(ROOT, f))).toEqual([])
  })

  it('has no file under db/ much over 400 lines', () => {
    const long = [...sources('db')]
      .map((f) => ({ file: relative(ROOT, f), lines: readFileSync(f, 'utf8').split('\n').length }))
      .filter((x) => x.lines > 420)
    expect(long.map((x) => x.file)).toEqual([])
  })
})
