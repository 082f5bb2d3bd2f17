// Workers bundle stand-in for `iconv-lite` (~480 KiB minified of legacy code pages: Big5, Shift_JIS, GBK, KOI8…).
// mysql2 reaches iconv-lite only for a charset Buffer cannot handle itself (its string parser tries
// `Buffer.isEncoding` first). The gateway's connections speak utf8mb4 (db/drivers/mysql.ts sets the charset), so
// rows arrive as UTF-8; the one other name mysql2 asks for is "cesu8", its name for MySQL's utf8mb3, which MariaDB
// announces as the server's charset in its greeting and uses for the status text of OK packets. utf8mb3 holds
// Basic Multilingual Plane characters only, whose bytes are the same in CESU-8 and UTF-8, so that is decoded as
// UTF-8 after checking there is no CESU-8 surrogate pair in it. Any other charset, or a surrogate pair, throws
// with the charset's name instead of returning mojibake. See infra/wrangler.toml [alias].
'use strict'

// The charsets this stand-in handles, by the Buffer encoding that does the work.
const HANDLED = { utf8: 'utf8', utf8mb4: 'utf8', cesu8: 'utf8', utf8mb3: 'utf8', ascii: 'ascii', latin1: 'latin1', binary: 'latin1' }
const CESU8 = new Set(['cesu8', 'utf8mb3'])

function refuse(name, why) {
  return new Error(
    `The Workers build of the gateway handles MySQL text as utf8mb4 only (iconv-lite is replaced by a utf8-only ` +
      `stand-in), but the driver asked for charset "${name}"${why}. Use utf8mb4 columns (the migrations create them).`,
  )
}

function charset(name) {
  const key = String(name).toLowerCase().replace(/[^a-z0-9]/g, '')
  if (!HANDLED[key]) throw refuse(name, '')
  return { key, encoding: HANDLED[key] }
}

/** True when `bytes` hold a UTF-16 surrogate encoded on its own (0xED 0xA0–0xBF …): CESU-8, not UTF-8. */
function hasEncodedSurrogate(bytes) {
  for (let i = bytes.indexOf(0xed); i !== -1 && i + 1 < bytes.length; i = bytes.indexOf(0xed, i + 1)) {
    if (bytes[i + 1] >= 0xa0 && bytes[i + 1] <= 0xbf) return true
  }
  return false
}

function getDecoder(name) {
  const { key, encoding } = charset(name)
  return {
    write(bytes) {
      const buffer = Buffer.from(bytes)
      if (CESU8.has(key) && hasEncodedSurrogate(buffer)) throw refuse(name, ' for text outside the Basic Multilingual Plane')
      return buffer.toString(encoding)
    },
    end: () => '',
  }
}

function getEncoder(name) {
  const { key, encoding } = charset(name)
  return {
    write(text) {
      const string = String(text)
      if (CESU8.has(key) && /[\uD800-\uDFFF]/.test(string)) throw refuse(name, ' for text outside the Basic Multilingual Plane')
      return Buffer.from(string, encoding)
    },
    end: () => undefined,
  }
}

module.exports = {
  getDecoder,
  getEncoder,
  decode: (bytes, name) => getDecoder(name).write(bytes),
  encode: (text, name) => getEncoder(name).write(text),
  encodingExists: (name) => {
    try {
      charset(name)
      return true
    } catch {
      return false
    }
  },
}
