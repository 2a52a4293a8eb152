/**
 * Elementary functions written with `+ - * /` only. ECMAScript specifies those four operations
 * exactly (IEEE 754 double, round to nearest, no fused multiply-add), whereas `Math.exp`, `Math.sin`
 * and friends are "implementation-approximated" and may differ between engines, versions and CPU
 * architectures. Every number that ends up in a demo model goes through these functions, so the
 * recipe gives the same bytes on any JavaScript engine. (`Math.sqrt`, `Math.round`, `Math.floor`
 * and `Math.fround` are exact or correctly rounded everywhere and are used directly.)
 */

const ln2Hi = 0.6931471803691238 // high bits of ln 2 (exact product with small integers)
const ln2Lo = 1.9082149292705877e-10 // ln 2 - ln2Hi
const invLn2 = Math.LOG2E

/** Exact 2^k for integers k in [-1074, 1023], built by repeated halving and doubling. */
const powersOfTwo = (() => {
  const table = new Float64Array(1023 + 1074 + 1)
  let value = 1
  for (let k = 0; k <= 1023; k++, value *= 2) table[1074 + k] = value
  value = 1
  for (let k = 0; k <= 1074; k++, value /= 2) table[1074 - k] = value
  return table
})()

function powerOfTwo(k: number): number {
  return powersOfTwo[1074 + k]!
}

/**
 * e^x, portable to the last bit (relative error below 1e-15 of the true value).
 *
 * @example
 * ```ts
 * deterministicExp(1) // 2.718281828459045
 * ```
 */
export function deterministicExp(x: number): number {
  if (Number.isNaN(x)) return Number.NaN
  if (x > 709) return Number.POSITIVE_INFINITY
  if (x < -745) return 0
  // x = k ln2 + r, |r| <= ln2 / 2
  const k = Math.round(x * invLn2)
  const r = x - k * ln2Hi - k * ln2Lo
  // Taylor series of e^r to degree 13: the remainder is below 2^-60 for |r| <= 0.35
  let term = 1
  let sum = 1
  for (let n = 1; n <= 13; n++) {
    term = (term * r) / n
    sum += term
  }
  // split the scaling so that subnormal results do not overflow the intermediate 2^k
  if (k < -1000) return sum * powerOfTwo(k + 60) * powerOfTwo(-60)
  return sum * powerOfTwo(k)
}

const halfPi = Math.PI / 2

function sinTaylor(r: number): number {
  // |r| <= pi/4: Taylor series to degree 17, truncation error below 1e-17
  const r2 = r * r
  let term = r
  let sum = r
  for (let n = 1; n <= 8; n++) {
    term = (-term * r2) / (2 * n * (2 * n + 1))
    sum += term
  }
  return sum
}

function cosTaylor(r: number): number {
  const r2 = r * r
  let term = 1
  let sum = 1
  for (let n = 1; n <= 8; n++) {
    term = (-term * r2) / ((2 * n - 1) * (2 * n))
    sum += term
  }
  return sum
}

/** Quadrant (0..3) and remainder |r| <= pi/4 of x = quadrant * pi/2 + r (for |x| below 1e6). */
function reduce(x: number): [number, number] {
  const k = Math.round(x / halfPi)
  return [((k % 4) + 4) % 4, x - k * halfPi]
}

/**
 * sin(x) for moderate |x| (below 1e6), portable to the last bit; accurate to about 1e-15.
 *
 * @example
 * ```ts
 * deterministicSin(Math.PI / 2) // 1
 * ```
 */
export function deterministicSin(x: number): number {
  const [quadrant, r] = reduce(x)
  if (quadrant === 0) return sinTaylor(r)
  if (quadrant === 1) return cosTaylor(r)
  if (quadrant === 2) return -sinTaylor(r)
  return -cosTaylor(r)
}

/**
 * cos(x) for moderate |x| (below 1e6), portable to the last bit; accurate to about 1e-15.
 *
 * @example
 * ```ts
 * deterministicCos(0) // 1
 * ```
 */
export function deterministicCos(x: number): number {
  const [quadrant, r] = reduce(x)
  if (quadrant === 0) return cosTaylor(r)
  if (quadrant === 1) return -sinTaylor(r)
  if (quadrant === 2) return -cosTaylor(r)
  return sinTaylor(r)
}

const view = new DataView(new ArrayBuffer(8))

/**
 * Natural logarithm of a positive finite x, portable to the last bit; accurate to about 1e-15.
 * Returns NaN for x <= 0 or non-finite x.
 *
 * @example
 * ```ts
 * deterministicLog(1) // 0
 * ```
 */
export function deterministicLog(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) return Number.NaN
  // x = m * 2^e with m in [1, 2): read the exponent bits (subnormals are scaled up first)
  let scaled = x
  let extra = 0
  if (scaled < 2.2250738585072014e-308) {
    scaled *= 18014398509481984 // 2^54
    extra = -54
  }
  view.setFloat64(0, scaled, true)
  const high = view.getUint32(4, true)
  let exponent = ((high >>> 20) & 0x7ff) - 1023
  view.setUint32(4, (high & 0x800fffff) | 0x3ff00000, true)
  let m = view.getFloat64(0, true)
  if (m > Math.SQRT2) {
    m /= 2
    exponent += 1
  }
  // log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172
  const s = (m - 1) / (m + 1)
  const s2 = s * s
  let power = s
  let sum = s
  for (let n = 1; n <= 12; n++) {
    power *= s2
    sum += power / (2 * n + 1)
  }
  const k = exponent + extra
  return k * ln2Hi + (k * ln2Lo + 2 * sum)
}
