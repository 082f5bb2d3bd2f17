/**
 * The stand-ins infra/wrangler.toml puts in the worker bundle in place of code the edge does not run: each one
 * checked against the module it replaces (same numbers, same results), and each one failing loudly where the
 * gateway would otherwise get a wrong answer. The bundle itself is checked in tests/edge/worker.test.ts.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { workerAliases } from '../../infra/build-worker.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const require = createRequire(import.meta.url)
const stub = (name: string) => require(join(ROOT, 'infra', 'worker-stubs', name))
const MYSQL2 = join(ROOT, 'node_modules', 'mysql2')

/** Every `Object.NAME` a mysql2 source file reads, for the tables the stand-ins trim. */
function namesMysql2Reads(object: string): Set<string> {
  const names = new Set<string>()
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const p = join(dir, entry)
      if (statSync(p).isDirectory()) walk(p)
      else if (entry.endsWith('.js') && !p.includes(join('lib', 'constants'))) {
        for (const m of readFileSync(p, 'utf8').matchAll(new RegExp(`\\b${object}\\.([A-Z][A-Z0-9_]+)`, 'g'))) names.add(m[1]!)
      }
    }
  }
  walk(join(MYSQL2, 'lib'))
  return names
}

describe('the utf8-only stand-in for iconv-lite', () => {
  const iconv = stub('iconv-lite-utf8.cjs')

  it('decodes and encodes the charsets it names', () => {
    const bytes = Buffer.from('héllo 👋', 'utf8')
    expect(iconv.getDecoder('utf8mb4').write(bytes)).toBe('héllo 👋')
    expect(iconv.getDecoder('UTF-8').write(bytes)).toBe('héllo 👋')
    expect(iconv.encode('héllo 👋', 'utf8')).toEqual(bytes)
    expect(iconv.decode(Buffer.from([0x68, 0xe9]), 'latin1')).toBe('hé')
    expect(iconv.decode(Buffer.from([0x68, 0xe9]), 'binary')).toBe('hé')
    expect(iconv.decode(Buffer.from('abc'), 'ascii')).toBe('abc')
  })

  it('throws, naming the charset, for any other one instead of guessing', () => {
    for (const charset of ['cp1251', 'big5', 'utf16', 'koi8r', 'ucs2']) {
      expect(() => iconv.getDecoder(charset), charset).toThrow(new RegExp(`utf8mb4 only.*"${charset}"`))
      expect(() => iconv.getEncoder(charset), charset).toThrow(/utf8mb4 only/)
      expect(iconv.encodingExists(charset)).toBe(false)
    }
  })

  it("agrees with iconv-lite on MySQL's utf8mb3 ('cesu8', MariaDB's greeting charset) and refuses what would differ", () => {
    const real = require(require.resolve('iconv-lite', { paths: [MYSQL2] }))
    for (const text of ['Rows matched: 1  Changed: 1  Warnings: 0', 'héllo € ✓ مرحبا', '']) {
      const bytes = real.encode(text, 'cesu8')
      expect(iconv.decode(bytes, 'cesu8')).toBe(real.decode(bytes, 'cesu8'))
      expect(iconv.encode(text, 'cesu8')).toEqual(bytes)
    }
    // Outside the BMP, CESU-8 writes a surrogate pair (six bytes) where UTF-8 writes four: never decoded as UTF-8.
    const astral = real.encode('a😀', 'cesu8')
    expect(() => iconv.decode(astral, 'cesu8')).toThrow(/"cesu8" for text outside the Basic Multilingual Plane/)
    expect(() => iconv.encode('a😀', 'cesu8')).toThrow(/outside the Basic Multilingual Plane/)
  })

  it("is what mysql2's string parser reaches for a charset Buffer cannot decode, and it fails loudly there", () => {
    const iconvPath = require.resolve('iconv-lite', { paths: [MYSQL2] })
    // The path Node caches the module under (node_modules may be a link): a copy loaded earlier in this process must
    // be the one swapped out, or the test would read that copy with the real iconv-lite.
    const stringPath = realpathSync(join(MYSQL2, 'lib', 'parsers', 'string.js'))
    const saved = { iconv: require.cache[iconvPath], string: require.cache[stringPath] }
    try {
      // mysql2 loaded with the stand-in in place of iconv-lite, as the worker bundle has it.
      require.cache[iconvPath] = { id: iconvPath, filename: iconvPath, loaded: true, exports: iconv } as NodeJS.Module
      delete require.cache[stringPath]
      const strings = require(stringPath) as { decode(b: Buffer, enc: string, s: number, e: number): string; encode(t: string, enc: string): Buffer }
      const text = Buffer.from('مرحبا 👋', 'utf8')
      expect(strings.decode(text, 'utf8', 0, text.length)).toBe('مرحبا 👋')
      expect(strings.encode('مرحبا', 'utf8')).toEqual(Buffer.from('مرحبا', 'utf8'))
      const status = Buffer.from('Rows matched: 1', 'utf8')
      expect(strings.decode(status, 'cesu8', 0, status.length)).toBe('Rows matched: 1')
      expect(() => strings.decode(text, 'cp1251', 0, text.length)).toThrow(/utf8mb4 only.*"cp1251"/)
      expect(() => strings.encode('x', 'big5')).toThrow(/utf8mb4 only.*"big5"/)
    } finally {
      if (saved.iconv) require.cache[iconvPath] = saved.iconv
      else delete require.cache[iconvPath]
      if (saved.string) require.cache[stringPath] = saved.string
      else delete require.cache[stringPath]
    }
  })
})

describe("the trimmed tables of mysql2's constants", () => {
  it('errors: the same numbers as mysql2, both ways, for every name mysql2 reads and the driver reacts to', () => {
    const real = require(join(MYSQL2, 'lib', 'constants', 'errors.js')) as Record<string, number | string>
    const trimmed = stub('mysql2-errors.cjs') as Record<string, number | string>
    const names = Object.keys(trimmed).filter((k) => !/^\d+$/.test(k))
    expect(names.length).toBeGreaterThan(10)
    for (const name of names) {
      expect(trimmed[name], name).toBe(real[name])
      expect(trimmed[trimmed[name] as number], name).toBe(name)
    }
    const driver = readFileSync(join(ROOT, 'db', 'drivers', 'mysql.ts'), 'utf8')
    const wanted = [...namesMysql2Reads('Errors'), ...[...driver.matchAll(/'(ER_[A-Z0-9_]+)'/g)].map((m) => m[1]!)]
    // A name mysql2's table lacks (MariaDB-only, e.g. ER_CONNECTION_KILLED) never becomes err.code on Node either.
    for (const name of wanted.filter((n) => n in real)) expect(trimmed[name], name).toBe(real[name])
  })

  it("charsets: the same numbers as mysql2 for utf8mb4 and binary, including the driver's collation", () => {
    const real = require(join(MYSQL2, 'lib', 'constants', 'charsets.js')) as Record<string, number>
    const trimmed = stub('mysql2-charsets.cjs') as Record<string, number>
    for (const [name, number] of Object.entries(trimmed)) expect(number, name).toBe(real[name])
    for (const name of namesMysql2Reads('Charsets')) expect(trimmed[name], name).toBe(real[name])
    const collation = /charset: '([a-z0-9_]+)'/.exec(readFileSync(join(ROOT, 'db', 'drivers', 'mysql.ts'), 'utf8'))![1]!
    expect(trimmed[collation.toUpperCase()]).toBe(real[collation.toUpperCase()])
  })
})

describe('the BigInt stand-in for long', () => {
  it('gives the same string and number as long.js for 64-bit values, signed and unsigned', () => {
    const Long = require(require.resolve('long', { paths: [MYSQL2] })) as new (lo: number, hi: number, u: boolean) => { toString(): string; toNumber(): number }
    const Shim = stub('long-bigint.cjs') as typeof Long
    const words = [0, 1, -1, 0x7fffffff, -0x80000000, 0x1fffff, 0x200000, 123456789]
    for (let i = 0; i < 200; i++) words.push((Math.random() * 2 ** 32) | 0)
    for (const hi of words) {
      for (const lo of words.slice(0, 12)) {
        for (const unsigned of [true, false]) {
          const a = new Long(lo, hi, unsigned)
          const b = new Shim(lo, hi, unsigned)
          expect(b.toString(), `${lo} ${hi} ${unsigned}`).toBe(a.toString())
          expect(b.toNumber(), `${lo} ${hi} ${unsigned}`).toBe(a.toNumber())
        }
      }
    }
  })
})

describe('the stand-ins for code the worker never calls', () => {
  it('the PoolCluster modules, the unsent commands and compression throw when called', () => {
    const cluster = stub('mysql2-pool-cluster.cjs')
    expect(() => cluster({})).toThrow(/PoolCluster is not part of the Workers build/)
    expect(() => new cluster()).toThrow(/PoolCluster/)
    const command = stub('mysql2-unsent-commands.cjs')
    expect(() => new command({})).toThrow(/changeUser\) is not part of the Workers build/)
    expect(() => stub('mysql2-compression.cjs').enableCompression({})).toThrow(/compress: true/)
  })

  it('the compiled row parsers throw, naming disableEval; their cache has nothing to resize or clear', () => {
    const parsers = stub('mysql2-compiled-parsers.cjs')
    expect(() => parsers([], {}, {})).toThrow(/disableEval: true/)
    expect(() => parsers.getParser('text', [], {}, {}, () => null)).toThrow(/disableEval: true/)
    // mysql2/promise's setMaxParserCache and clearParserCache call these: harmless where nothing is compiled.
    expect(parsers.setMaxCache(10)).toBeUndefined()
    expect(parsers.clearCache()).toBeUndefined()
    const real = require(join(MYSQL2, 'lib', 'parsers', 'parser_cache.js')) as Record<string, unknown>
    for (const name of ['getParser', 'setMaxCache', 'clearCache']) expect(typeof parsers[name], name).toBe(typeof real[name])
  })

  it("the package.json stand-in has the installed mysql2's version (sent to the server as _client_version)", () => {
    const real = JSON.parse(readFileSync(join(MYSQL2, 'package.json'), 'utf8')) as { version: string }
    expect(stub('mysql2-package.cjs')).toEqual({ version: real.version })
  })

  it("postgres.js's subscribe and large-object stand-ins can be wired into a client, and throw when used", () => {
    const subscribe = stub('postgres-subscribe.cjs')(function Postgres() {}, {})
    expect(() => subscribe('*', () => {})).toThrow(/subscribe \(logical replication\) is not part of the Workers build/)
    expect(() => stub('postgres-large.cjs').bind(null, {})()).toThrow(/largeObject is not part of the Workers build/)
  })

  it("mysql2's binary protocol fails, naming textProtocolOnly, whichever of its modules is reached", () => {
    const binary = stub('mysql2-binary-protocol.cjs')
    // new Commands.Execute / Prepare / CloseStatement, new Packets.Execute …, BinaryRow.toPacket, encode_parameter.
    expect(() => new binary({ sql: 'SELECT 1' }, () => {})).toThrow(/binary protocol.*textProtocolOnly/)
    expect(() => binary.toPacket([], 'utf8')).toThrow(/binary protocol/)
    expect(() => binary.fromPacket({})).toThrow(/binary protocol/)
    expect(() => binary.toParameter('x', 'utf8', 'Z')).toThrow(/binary protocol/)
    // mysql2/promise's TypedParameter getter reads typed_parameter.js's `types`.
    expect(() => binary.types).toThrow(/binary protocol/)
    // What packets/query.js takes from encode_parameter.js, and mysql2/promise from typed_parameter.js.
    const real = require(join(MYSQL2, 'lib', 'packets', 'encode_parameter.js')) as Record<string, unknown>
    expect(typeof real.toParameter).toBe(typeof binary.toParameter)
    expect(Object.keys(require(join(MYSQL2, 'lib', 'packets', 'typed_parameter.js')) as object)).toContain('types')
  })

  it('the TLS session cache, namedPlaceholders and sha256_password fail loudly; the TLS one when constructed', async () => {
    const Tls = stub('mysql2-tls.cjs')
    expect(() => new Tls({}, 'db', 3306, true, true)).toThrow(/ssl option\) is not part of the Workers build/)
    expect(() => stub('named-placeholders.cjs')()).toThrow(/namedPlaceholders/)
    // As auth_switch.js calls it: plugin(options)({ connection, command })(pluginData), its answer awaited.
    const plugin = stub('mysql2-sha256-password.cjs')({})({ connection: {}, command: {} })
    await expect(plugin(Buffer.alloc(20))).rejects.toThrow(/sha256_password.*caching_sha2_password/)
  })

  it("the tracing stand-in is tracing.js's branch without subscribers: the same names, calls straight through", () => {
    const real = require(join(MYSQL2, 'lib', 'tracing.js')) as Record<string, unknown>
    const shim = stub('mysql2-tracing.cjs') as Record<string, unknown> & {
      shouldTrace(channel: unknown): boolean
      traceCallback(channel: unknown, fn: (...a: unknown[]) => unknown, position: number, context: () => unknown, thisArg: unknown, ...args: unknown[]): unknown
      tracePromise(channel: unknown, fn: () => unknown, context: () => unknown): unknown
      getServerContext(config: object): unknown
    }
    expect(Object.keys(shim).sort()).toEqual(Object.keys(real).sort())
    expect(shim.shouldTrace((real as { queryChannel: unknown }).queryChannel)).toBe(false)
    const self = { n: 2 }
    const context = () => {
      throw new Error('no context is built without a subscriber')
    }
    expect(shim.traceCallback(undefined, function (this: typeof self, a: unknown, b: unknown) {
      return [this.n, a, b]
    }, 1, context, self, 'a', 'b')).toEqual([2, 'a', 'b'])
    expect(shim.tracePromise(undefined, () => 'done', context)).toBe('done')
    for (const config of [{}, { host: 'db', port: 3307 }, { socketPath: '/tmp/mysql.sock', host: 'db' }]) {
      expect(shim.getServerContext(config)).toEqual((real.getServerContext as (c: object) => unknown)(config))
    }
  })

  it('the local-date stand-in gives the same Date as local_date.js', () => {
    const real = require(join(MYSQL2, 'lib', 'parsers', 'local_date.js')) as { localDate(...a: number[]): Date }
    const shim = stub('mysql2-local-date.cjs') as { localDate(...a: number[]): Date; checkTimezone(): void; usesLocalDate(...a: unknown[]): boolean }
    const cases = [[2026, 1, 1, 0, 0, 0, 0], [2026, 3, 29, 2, 30, 0, 0], [2026, 10, 25, 2, 30, 0, 0], [1970, 1, 1, 0, 0, 0, 0], [50, 6, 15, 12, 0, 0, 0], [2024, 2, 29, 23, 59, 59, 999]]
    for (let i = 0; i < 300; i++) {
      cases.push([1900 + Math.floor(Math.random() * 250), 1 + Math.floor(Math.random() * 12), 1 + Math.floor(Math.random() * 28), Math.floor(Math.random() * 24), Math.floor(Math.random() * 60), Math.floor(Math.random() * 60), Math.floor(Math.random() * 1000)])
    }
    for (const c of cases) expect(shim.localDate(...c).getTime(), c.join(' ')).toBe(real.localDate(...c).getTime())
    expect(shim.checkTimezone()).toBeUndefined()
    expect(shim.usesLocalDate({ columnType: 12 }, {}, { timezone: 'Z' })).toBe(false)
  })

  it("the queue stand-in answers mysql2's calls (length, push, shift, pop, get, removeOne) as ring_queue.js does", () => {
    type Q = { length: number; push(x: unknown): number; shift(): unknown; pop(): unknown; get(i: number): unknown; removeOne(i: number): unknown }
    const Real = require(join(MYSQL2, 'lib', 'ring_queue.js')) as new () => Q
    const Shim = stub('mysql2-ring-queue.cjs') as new () => Q
    const a = new Real()
    const b = new Shim()
    let next = 0
    for (let step = 0; step < 5000; step++) {
      const op = Math.floor(Math.random() * 5)
      // Indexes past either end, negative ones (from the back) and a fraction, as well as the ones mysql2 passes.
      const i = Math.random() < 0.05 ? 0.5 : Math.floor(Math.random() * (2 * a.length + 4)) - a.length - 2
      const results = op === 0 ? [a.push(next), b.push(next++)] : op === 1 ? [a.shift(), b.shift()] : op === 2 ? [a.pop(), b.pop()]
        : op === 3 ? [a.get(i), b.get(i)] : [a.removeOne(i), b.removeOne(i)]
      expect(results[1], `step ${step}, op ${op}, index ${i}`).toBe(results[0])
      expect(b.length).toBe(a.length)
    }
  })

  it("the LRU stand-in answers mysql2's calls (get, set, has, delete, clear, size) as lru.min does, evictions included", () => {
    type Lru = { get(k: unknown): unknown; set(k: unknown, v: unknown): void; has(k: unknown): boolean; delete(k: unknown): boolean; clear(): void; size: number }
    type Make = (o: { max: number; onEviction?: (k: unknown, v: unknown) => void }) => Lru
    const real = (require(require.resolve('lru.min', { paths: [MYSQL2] })) as { createLRU: Make }).createLRU
    const shim = (stub('lru-map.cjs') as { createLRU: Make }).createLRU
    for (const max of [1, 3, 8]) {
      const evicted: { real: unknown[]; shim: unknown[] } = { real: [], shim: [] }
      const a = real({ max, onEviction: (k, v) => evicted.real.push([k, v]) })
      const b = shim({ max, onEviction: (k, v) => evicted.shim.push([k, v]) })
      for (let step = 0; step < 3000; step++) {
        const op = Math.floor(Math.random() * 10)
        const key = Math.random() < 0.03 ? undefined : Math.floor(Math.random() * (max * 2))
        const results = op < 4 ? [a.set(key, step), b.set(key, step)] : op < 7 ? [a.get(key), b.get(key)] : op < 8 ? [a.has(key), b.has(key)]
          : op < 9 ? [a.delete(key), b.delete(key)] : step % 50 === 0 ? [a.clear(), b.clear()] : [a.size, b.size]
        expect(results[1], `max ${max}, step ${step}, op ${op}, key ${key}`).toEqual(results[0])
        expect(b.size).toBe(a.size)
        expect(evicted.shim.length, `max ${max}, step ${step}: evictions`).toBe(evicted.real.length)
      }
      expect(evicted.shim).toEqual(evicted.real)
    }
    expect(() => shim({ max: 0 })).toThrow(TypeError)
  })

  it('every alias of infra/wrangler.toml points at a stand-in that exists', () => {
    const aliases = workerAliases()
    expect(Object.keys(aliases)).toEqual(expect.arrayContaining(['iconv-lite', 'long', '../constants/errors.js']))
    for (const [from, to] of Object.entries(aliases)) expect(statSync(to).isFile(), `${from} → ${to}`).toBe(true)
  })
})
