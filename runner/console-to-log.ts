/**
 * Baileys' dependencies print through `console`: libsignal logs whole Signal session records ("Closing session:",
 * "Opening session:", "Removing old closed session:") with their private ratchet keys, root keys and chain keys on
 * ordinary events (a contact re-installs WhatsApp, a new pre-key bundle arrives). Under pm2 or systemd those lines
 * end up in plain-text log files, next to an auth state that is encrypted at rest.
 *
 * `routeConsoleToLog` replaces the process's console methods with ones that write through the runner's pino logger,
 * so the output stays JSON, and that never print an object's contents: a logged object becomes `[ClassName omitted]`
 * (a name-based filter would miss the next field libsignal adds), an Error its name, message and stack, and text that
 * looks like key material (long hex or base64 runs, `<Buffer …>` dumps) is replaced as well.
 */

/** The logger methods used; pino's `Logger` has them. */
export interface ConsoleSink {
  debug(fields: object, msg: string): void
  info(fields: object, msg: string): void
  warn(fields: object, msg: string): void
  error(fields: object, msg: string): void
}

const LEVEL_OF = { debug: 'debug', trace: 'debug', log: 'info', info: 'info', warn: 'warn', error: 'error' } as const
type ConsoleMethod = keyof typeof LEVEL_OF

const MAX_TEXT = 2000

/** 16+ bytes written as hex pairs with separators, as `util.inspect` prints a Buffer (`<Buffer 0a 1b …>`). */
const SPACED_HEX = /\b(?:[0-9a-f]{2}[ :,]){15,}[0-9a-f]{2}\b/gi
/** 16+ bytes of contiguous hex. */
const HEX_RUN = /\b[0-9a-f]{32,}\b/gi
/** 24+ bytes of base64 / base64url. */
const BASE64_RUN = /[A-Za-z0-9+/_-]{32,}={0,2}/g

/** A base64-alphabet run that mixes cases and digits, as encoded random bytes do (paths and words rarely do). */
function looksEncoded(run: string): boolean {
  return /[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run)
}

/** `text` with anything that may be key material replaced, cut to 2000 characters. */
export function redactKeyLikeText(text: string): string {
  return text
    .slice(0, MAX_TEXT)
    .replace(SPACED_HEX, '[bytes omitted]')
    .replace(HEX_RUN, '[hex omitted]')
    .replace(BASE64_RUN, (run) => (looksEncoded(run) ? '[base64 omitted]' : run))
}

function describeArgument(value: unknown): string {
  if (typeof value === 'string') return redactKeyLikeText(value)
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value)
  }
  if (value instanceof Error) return redactKeyLikeText(value.stack ?? `${value.name}: ${value.message}`)
  if (typeof value === 'function') return '[function omitted]'
  if (typeof value === 'symbol') return value.toString()
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name
  return `[${typeof name === 'string' && name && name !== 'Object' ? name : 'object'} omitted]`
}

/** What one console call becomes: its arguments, objects named but never shown, joined by spaces. */
export function describeConsoleCall(args: readonly unknown[]): string {
  return args.map(describeArgument).join(' ')
}

/**
 * Sends everything printed through `console` to `log` (as `{ source: 'console' }` lines) until the returned function
 * restores the original methods. For the runner's process entries: `npm run runner` and `npm start`.
 * @example const restore = routeConsoleToLog(log.child({ component: 'runner' }))
 */
export function routeConsoleToLog(log: ConsoleSink): () => void {
  const target = console as unknown as Record<ConsoleMethod, (...args: unknown[]) => void>
  const original = new Map<ConsoleMethod, (...args: unknown[]) => void>()
  for (const method of Object.keys(LEVEL_OF) as ConsoleMethod[]) {
    original.set(method, target[method])
    const level = LEVEL_OF[method]
    target[method] = (...args: unknown[]) => log[level]({ source: 'console' }, describeConsoleCall(args))
  }
  return () => {
    for (const [method, fn] of original) target[method] = fn
  }
}
