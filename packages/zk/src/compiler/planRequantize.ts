/**
 * How the circuit computes one requantized element `clamp(round(v / 2^shift), lo, hi)` for
 * `v ∈ [vMin, vMax]` (static bounds): a constant, the identity (`v` itself), or the `ZkRequant`
 * gadget with these parameters, optionally after `ZkTruncAdjust`. With `even = 1` the gadget
 * rounds exact ties (`v ≡ 0 mod 2^shift`, the half being in `v`) to the quotient `q` with
 * `q − zeroPoint` even (`parity` = `(base − zeroPoint) mod 2`).
 */
export type RequantizePlan =
  | { kind: 'constant'; value: number; constraints: 0 }
  | { kind: 'identity'; constraints: 0 }
  | {
      kind: 'gadget'
      /** ZkTruncAdjust(truncBits, s) first (−1: not needed). */
      truncBits: number
      s: number
      k: number
      base: number
      hasLo: 0 | 1
      hiMode: 0 | 1 | 2
      j: number
      m: number
      h: number
      /** 1: half-to-even tie correction (3 more constraints). */
      even: 0 | 1
      /** `(base − zeroPoint) mod 2`: the parity of `q − zeroPoint` is this xor bit `s`. */
      parity: 0 | 1
      /** R1CS constraints of the gadget(s) after --O2. */
      constraints: number
    }

/**
 * Number of bits of a non-negative integer (0 → 0).
 *
 * @example
 * ```ts
 * bitLength(255) // 8
 * bitLength(256) // 9
 * ```
 */
export function bitLength(value: number): number {
  let bits = 0
  let rest = value
  while (rest >= 1) {
    rest = Math.floor(rest / 2)
    bits++
  }
  return bits
}

/** Smallest k with 2^k >= value (value >= 1). */
function ceilLog2(value: number): number {
  let k = 0
  while (2 ** k < value) k++
  return k
}

/**
 * Plans the gadget of one requantized element from its static bounds (see `zkGadgetsCircom`).
 * `lo`/`hi` may be ±Infinity (no clamp). `trunc` rounds toward zero instead of down; `halfEven`
 * rounds the exact ties `v ≡ 0 mod 2^shift` down when `floor(v / 2^shift) − zeroPoint` is odd
 * (`v` already holds the half; pass it only when such a tie is reachable, see `tieReachable`).
 *
 * @example
 * ```ts
 * planRequantize({ vMin: -1000, vMax: 100_000, shift: 7, lo: 0, hi: 255, trunc: false })
 * // { kind: 'gadget', s: 7, k: 10, hasLo: 1, hiMode: 1, … }
 * ```
 */
export function planRequantize(parameters: {
  vMin: number
  vMax: number
  shift: number
  lo: number
  hi: number
  trunc: boolean
  halfEven?: boolean
  zeroPoint?: number
}): RequantizePlan {
  const { shift: s, lo, hi } = parameters
  let { vMin, vMax } = parameters
  let truncBits = -1
  let constraints = 0
  const divisor = 2 ** s
  // the tie correction feeds v − 1 to the gadget on the ties it rounds down
  const even: 0 | 1 = parameters.halfEven && !parameters.trunc && s > 0 ? 1 : 0
  if (even) {
    vMin -= 1
    constraints += 3
  }
  if (parameters.trunc && s > 0 && vMin < 0) {
    truncBits = Math.max(ceilLog2(-vMin), bitLength(Math.max(0, vMax)))
    constraints += truncBits + 1
    const negativeHigh = Math.min(vMax, -1) + divisor - 1
    vMin = vMin + divisor - 1
    vMax = vMax >= 0 ? Math.max(vMax, negativeHigh) : negativeHigh
  }
  const qMin = Math.floor(vMin / divisor)
  const qMax = Math.floor(vMax / divisor)
  if (lo >= qMax) return { kind: 'constant', value: lo, constraints: 0 }
  if (hi <= qMin) return { kind: 'constant', value: hi, constraints: 0 }
  const lower = lo > qMin
  const upper = hi < qMax
  if (s === 0 && !lower && !upper && truncBits < 0) return { kind: 'identity', constraints: 0 }
  let k: number
  let base: number
  let hasLo: 0 | 1
  if (lower) {
    k = ceilLog2(Math.max(lo - qMin, qMax - lo + 1))
    base = lo - 2 ** k
    hasLo = 1
  } else {
    k = bitLength(qMax - qMin)
    base = qMin
    hasLo = 0
  }
  constraints += s + k + hasLo
  const ref = base + hasLo * 2 ** k
  let hiMode: 0 | 1 | 2 = 0
  let j = 0
  let m = 0
  let h = 0
  if (upper) {
    h = hi - ref
    const uMax = qMax - ref
    const log = Math.log2(h + 1)
    if (Number.isInteger(log) && log < k) {
      hiMode = 1
      j = log
      constraints += 3 + hasLo
    } else {
      hiMode = 2
      m = ceilLog2(Math.max(h + 1, uMax - h))
      constraints += m + 2 + hasLo
    }
  } else constraints += hasLo
  const parity: 0 | 1 = Math.abs((base - (parameters.zeroPoint ?? 0)) % 2) === 1 ? 1 : 0
  return {
    kind: 'gadget',
    truncBits,
    s,
    k,
    base,
    hasLo,
    hiMode,
    j,
    m,
    h,
    even,
    parity,
    constraints,
  }
}
