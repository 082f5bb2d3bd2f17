/**
 * Settings read from an environment record (Node's `process.env`, Workers vars, a test's object): the parsers every
 * entry's configuration uses, and `ConfigError`, the one error type they throw, so an entry that composes several
 * parts (`npm start`: API + runner) recognises a bad setting with one `instanceof`, whichever part read it.
 *
 * It sits under db/ only because api/ and runner/ never import each other and db/ is the code both may import; it
 * is not about data. Web-standard, so the Workers bundle can carry it.
 */

export type Env = Record<string, string | undefined>

/** A setting is missing, malformed or out of range; the message names the variable and says what to fix. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** The trimmed value, or undefined when unset or blank. */
export function settingText(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim()
  return raw ? raw : undefined
}

/**
 * A whole number within [min, max]; `fallback` when unset or blank.
 * @example const port = intSetting(env, 'PORT', 3000, 0, 65_535)
 */
export function intSetting(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = settingText(env, name)
  if (raw === undefined) return fallback
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number (got "${raw}")`)
  const n = Number.parseInt(raw, 10)
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max} (got ${n})`)
  return n
}

/** A decimal number within [min, max]; `fallback` when unset or blank. */
export function numberSetting(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = settingText(env, name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be a number between ${min} and ${max} (got "${raw}")`)
  }
  return n
}

/** Free text (a message template) up to `maxLength` characters, kept as written; `fallback` when unset or blank. */
export function textSetting(env: Env, name: string, fallback: string, maxLength = 1000): string {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  if (raw.length > maxLength) throw new ConfigError(`${name} is longer than ${maxLength} characters`)
  return raw
}

/** `on`/`off` (also `1`/`0`, `true`/`false`), any case; `fallback` when unset or blank. */
export function switchSetting(env: Env, name: string, fallback: boolean): boolean {
  const raw = settingText(env, name)?.toLowerCase()
  if (raw === undefined) return fallback
  if (['on', '1', 'true'].includes(raw)) return true
  if (['off', '0', 'false'].includes(raw)) return false
  throw new ConfigError(`${name} must be "on" or "off" (got "${env[name]}")`)
}
