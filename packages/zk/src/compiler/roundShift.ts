/**
 * How a requantize rounds `t / 2^shift` (see `ZkRequantizeOp` and {@link roundShift}).
 *
 * @example
 * ```ts
 * const rounding: ZkRounding = 'halfEven' // QLinear* / QuantizeLinear, like onnxruntime
 * ```
 */
export type ZkRounding = 'floor' | 'trunc' | 'halfEven'

/**
 * The rounded shift of one requantized element, before its clamp: `t = x·multiplier + offset`
 * shifted right by `shift` bits.
 *
 * - `floor`: `⌊t / 2^shift⌋`.
 * - `trunc`: toward zero (ONNX integer `Div`).
 * - `halfEven`: `offset` holds the half (`2^(shift−1)`), so `q = ⌊t / 2^shift⌋` rounds half up;
 *   on an exact tie (`t ≡ 0 mod 2^shift`, `shift > 0`) the result is `q − 1` when `q − zeroPoint`
 *   is odd: ties go to the even neighbour of the value before its zero point was added, as
 *   onnxruntime's `nearbyint(acc · scale) + zeroPoint`.
 *
 * `t` must be an exact integer (below 2^53).
 *
 * @example
 * ```ts
 * roundShift(2 * 4 + 2 + 2, 2, 'halfEven') // 2 (2.5 → 2)
 * roundShift(3 * 4 + 2 + 2, 2, 'halfEven') // 4 (3.5 → 4)
 * roundShift(2 * 4 + 2 + 2 + 5 * 4, 2, 'halfEven', 5) // 7 (2.5 → 2, + zero point 5)
 * roundShift(-7, 2, 'trunc') // -1
 * ```
 */
export function roundShift(t: number, shift: number, rounding: ZkRounding, zeroPoint = 0): number {
  const divisor = 2 ** shift
  if (rounding === 'trunc') return Math.trunc(t / divisor)
  const q = Math.floor(t / divisor)
  if (rounding === 'floor' || shift === 0 || t - q * divisor !== 0) return q
  return Math.abs((q - zeroPoint) % 2) === 1 ? q - 1 : q
}

function mod(value: bigint, modulus: bigint): bigint {
  const rest = value % modulus
  return rest < 0n ? rest + modulus : rest
}

/**
 * Whether some integer `x ∈ [xMin, xMax]` makes `x·multiplier + offset` an exact multiple of
 * `2^shift`: a tie of a `halfEven` requantize (whose offset holds the half). When none can occur
 * the requantize equals `floor` on that range and its circuit needs no tie logic. Solves the
 * linear congruence exactly (BigInt; every argument an integer below 2^53).
 *
 * @example
 * ```ts
 * tieReachable({ xMin: 0, xMax: 100, multiplier: 1, offset: 2, shift: 2 }) // true (x = 2)
 * tieReachable({ xMin: 0, xMax: 100, multiplier: 2341283, offset: 2 ** 29, shift: 30 }) // false
 * ```
 */
export function tieReachable(parameters: {
  xMin: number
  xMax: number
  multiplier: number
  offset: number
  shift: number
}): boolean {
  const { xMin, xMax, multiplier, offset, shift } = parameters
  if (shift <= 0 || !(xMin <= xMax)) return false
  if (
    ![xMin, xMax, multiplier, offset, shift].every(Number.isSafeInteger) ||
    !Number.isFinite(xMax - xMin)
  )
    return true
  const modulus = 1n << BigInt(shift)
  const m = mod(BigInt(multiplier), modulus)
  const c = mod(-BigInt(offset), modulus)
  // x·m ≡ c (mod 2^shift); m = m'·2^z with m' odd
  if (m === 0n) return c === 0n
  let z = 0n
  let odd = m
  while ((odd & 1n) === 0n) {
    odd >>= 1n
    z++
  }
  if (mod(c, 1n << z) !== 0n) return false
  const reduced = modulus >> z
  // inverse of an odd number modulo a power of two (Newton: each step doubles the correct bits)
  let inverse = 1n
  for (let bits = 1n; bits < BigInt(shift) + 1n; bits *= 2n)
    inverse = mod(inverse * (2n - odd * inverse), reduced)
  const x0 = mod((c >> z) * inverse, reduced)
  const first = BigInt(xMin) + mod(x0 - BigInt(xMin), reduced)
  return first <= BigInt(xMax)
}
