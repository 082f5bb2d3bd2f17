import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { inject, it } from 'vitest'
import type { Engine } from '../../db/driver.js'
import { ffmpegPath, ffprobePath } from '../../runner/media/ffmpeg.js'
import { CHROMIUM_PATH } from './browser-path.js'
import { TEST_MYSQL_URL, TEST_POSTGRES_URL } from './engines.js'

/** What the suite needs beyond Node, outside the database engines: tests that need a missing one are skipped. */
export type Tool = 'chromium' | 'systemd-analyze' | 'ffmpeg' | 'proxies'

/** How to make a skipped prerequisite available, printed with the reason it was skipped. */
export function howToEnable(what: Exclude<Engine, 'pglite'> | Tool): string {
  switch (what) {
    case 'mysql':
      return `start MariaDB or MySQL and point TEST_MYSQL_URL at it (now ${TEST_MYSQL_URL}; the user needs CREATE DATABASE)`
    case 'postgres':
      return `start PostgreSQL and point TEST_POSTGRES_URL at it (now ${TEST_POSTGRES_URL}; the user needs CREATEDB)`
    case 'chromium':
      return `apt-get install chromium, or set CHROMIUM_PATH to a Chromium binary (now ${CHROMIUM_PATH})`
    case 'systemd-analyze':
      return 'install systemd (it provides systemd-analyze)'
    case 'ffmpeg':
      return `apt-get install ffmpeg (it provides ffprobe too), or set FFMPEG_PATH and FFPROBE_PATH (now ${ffmpegPath()}, ${ffprobePath()})`
    case 'proxies':
      return 'apt-get install tinyproxy dante-server (the proxy-per-number tests start them as child processes)'
  }
}

/** null when the tool is there, else why not. */
export function toolProblem(tool: Tool): string | null {
  if (tool === 'chromium') {
    try {
      accessSync(CHROMIUM_PATH, constants.X_OK)
      return null
    } catch (err) {
      return `no executable at ${CHROMIUM_PATH} (${(err as NodeJS.ErrnoException).code})`
    }
  }
  if (tool === 'ffmpeg') {
    const broken = [ffmpegPath(), ffprobePath()].filter((path) => spawnSync(path, ['-version']).status !== 0)
    return broken.length ? `${broken.join(' and ')} cannot be run` : null
  }
  if (tool === 'proxies') {
    const broken = [['tinyproxy', '-v'], ['danted', '-v']].filter(([cmd, arg]) => spawnSync(cmd!, [arg!]).status !== 0)
    return broken.length ? `${broken.map(([cmd]) => cmd).join(' and ')} cannot be run` : null
  }
  const res = spawnSync('systemd-analyze', ['--version'])
  return res.status === 0 ? null : 'systemd-analyze is not on the PATH'
}

/** Tools the global setup found missing, with the reason (empty under CI: it fails instead). */
export function missingTools(): Partial<Record<Tool, string>> {
  try {
    return inject('missingTools') ?? {}
  } catch {
    return {}
  }
}

/** The reason `tool` is missing, for a skipped block's title, or null when it is there. */
export function skipReason(tool: Tool): string | null {
  const problem = missingTools()[tool]
  return problem ? `skipped: ${problem}` : null
}

/**
 * `it` for a test that needs `tool`: without it the test is skipped, its title saying what is missing, so the run's
 * list of skips explains itself.
 */
export function itNeeding(tool: Tool): (title: string, fn: () => Promise<void>, timeout?: number) => void {
  const reason = skipReason(tool)
  return (title, fn, timeout) => it.skipIf(reason !== null)(reason ? `${title} [${reason}]` : title, fn, timeout)
}

declare module 'vitest' {
  export interface ProvidedContext {
    missingTools: Partial<Record<Tool, string>>
  }
}
