import { PGlite } from '@electric-sql/pglite'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inject } from 'vitest'

/**
 * A fresh PGlite database's data directory, dumped once per test run by the global setup. Opening a PGlite database
 * from it skips initdb, most of the seconds each of the suite's ~70 PGlite databases would otherwise take to open.
 * Every database still runs the migrations itself; only initdb's output is shared.
 */
export async function writePgliteTemplate(dir: string): Promise<string> {
  const pg = await PGlite.create()
  try {
    const dump = await pg.dumpDataDir('none')
    const path = join(dir, 'pglite-fresh.tar')
    await writeFile(path, new Uint8Array(await dump.arrayBuffer()))
    return path
  } finally {
    await pg.close()
  }
}

let template: Promise<Blob | undefined> | undefined
/** The dump the global setup wrote, or undefined outside a vitest run that has one (then PGlite runs initdb). */
export function pgliteTemplate(): Promise<Blob | undefined> {
  template ??= (async () => {
    let path: string | null
    try {
      path = inject('pgliteTemplate') ?? null
    } catch {
      return undefined
    }
    return path ? new Blob([await readFile(path)]) : undefined
  })()
  return template
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string | null
  }
}
