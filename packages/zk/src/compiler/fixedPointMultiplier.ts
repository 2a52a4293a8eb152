/**
 * Bits of precision of a fixed-point requantization multiplier: a real factor `M` becomes
 * `m / 2^shift` with `2^(bits−1) <= m < 2^bits` (relative error below 2^−bits).
 *
 * @example
 * ```ts
 * fixedPointBits // 22
 * ```
 */
export const fixedPointBits = 22

/**
 * Splits a real, non-negative rescale factor into an integer multiplier and a right shift:
 * `M ≈ multiplier / 2^shift`, with `shift >= 0`. Used where a quantized ONNX operator rescales by
 * an arbitrary float (QLinearConv, QLinearMatMul, QuantizeLinear): the circuit multiplies by the
 * constant (free) and proves one rounding right shift.
 *
 * @example
 * ```ts
 * fixedPointMultiplier(0.75) // { multiplier: 3, shift: 2 }
 * fixedPointMultiplier(0.1) // { multiplier: 3355443, shift: 25 }
 * fixedPointMultiplier(1) // { multiplier: 1, shift: 0 }
 * ```
 */
export function fixedPointMultiplier(
  factor: number,
  bits: number = fixedPointBits,
): { multiplier: number; shift: number } {
  if (!(factor > 0) || !Number.isFinite(factor)) return { multiplier: 0, shift: 0 }
  // exact powers of two (common: equal scales) need no shift at all
  const log = Math.log2(factor)
  if (Number.isInteger(log) && log >= 0) return { multiplier: factor, shift: 0 }
  let shift = bits - 1 - Math.floor(log)
  if (shift < 0) shift = 0
  let multiplier = Math.round(factor * 2 ** shift)
  // reduce to the smallest exact representation (e.g. 0.5 → 1 / 2^1)
  while (shift > 0 && multiplier % 2 === 0) {
    multiplier /= 2
    shift--
  }
  return { multiplier, shift }
}
