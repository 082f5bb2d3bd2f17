// Workers bundle stand-in for `long` (~12 KiB minified): mysql2 builds a Long only to turn a 64-bit integer
// that does not fit a double into its decimal string (or a number), which BigInt does natively. Checked
// against `long` itself in tests/edge/worker-stubs.test.ts. See infra/wrangler.toml [alias].
'use strict'

class Long {
  /** The 64-bit integer whose low and high 32 bits are given, as long.js's constructor takes them. */
  constructor(low, high, unsigned) {
    const bits = (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0)
    this.value = unsigned ? bits : BigInt.asIntN(64, bits)
    this.unsigned = Boolean(unsigned)
  }

  toString(radix = 10) {
    return this.value.toString(radix)
  }

  toNumber() {
    return Number(this.value)
  }
}

module.exports = Long
module.exports.default = Long
