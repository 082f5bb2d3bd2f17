import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The embedded data directory (`DATA_DIR`) holds the database files, whose WAL carries message bodies and webhook
 * secrets, next to the generated API key and auth-state key. Nobody but the gateway's own user may read any of it:
 * the directory is 0700, and the files below it lose their group and other bits.
 *
 * PGlite (Emscripten's file system on Node) creates its files 0666 and sets the modes of the initial database
 * explicitly, so the umask alone does not cover them: `privateTree` fixes them after PGlite has opened.
 */
export const PRIVATE_DIR_MODE = 0o700

/** What to tell the operator about a data directory that was open to other users. */
export interface DataDirWarning {
  dir: string
  /** The mode it had, e.g. '755'. */
  was: string
}

/** Creates `dir` (and missing parents) 0700; an existing directory is left as it is. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
}

/**
 * Creates `dir` 0700, or takes group and other permissions away from an existing one (an install from before this
 * rule, or one made by hand). Returns what it tightened, for a warning; null when it already was private.
 */
export function makeDataDirPrivate(dir: string): DataDirWarning | null {
  makePrivateDir(dir)
  const mode = statSync(dir).mode & 0o777
  if ((mode & 0o077) === 0) return null
  chmodSync(dir, mode & 0o700)
  return { dir, was: mode.toString(8).padStart(3, '0') }
}

/**
 * Removes group and other permissions from every file and directory below `dir` (symbolic links are not followed).
 * Returns how many it changed. Cheap when nothing is to change: one `lstat` per entry (about a thousand for PGlite).
 */
export function privateTree(dir: string): number {
  let changed = 0
  const visit = (path: string) => {
    const st = lstatSync(path)
    if (st.isSymbolicLink()) return
    if (st.mode & 0o077) {
      chmodSync(path, st.mode & 0o700)
      changed++
    }
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
  }
  visit(dir)
  return changed
}

/**
 * From here on, files and directories this process creates are private to its user (umask 077). Called by the Node
 * entries before the database opens: PGlite's new WAL segments and tables then start out 0600, and so does anything
 * else the gateway writes (keys, the API key file).
 */
export function keepNewFilesPrivate(): void {
  process.umask(0o077)
}
