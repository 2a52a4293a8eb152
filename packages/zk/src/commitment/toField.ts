import { BaseError, bn254ScalarField } from '@verity/protocol'

/**
 * The order p of the BN254 scalar field: circom's and snarkjs's field, in which every circuit
 * signal lives. Negative integers are encoded as p − |v|.
 *
 * @example
 * ```ts
 * zkFieldOrder // 21888242871839275222246405745257275088548364400416034343698204186575808495617n
 * ```
 */
export const zkFieldOrder = bn254ScalarField

const half = zkFieldOrder / 2n

/**
 * Encodes a signed integer as a field element: `v` for `0 <= v < p/2`, `p − |v|` for negative
 * `v`. Throws `INVALID_ARGUMENT` when `|v|` does not fit in half the field (it would alias).
 *
 * @example
 * ```ts
 * toField(-1n) // zkFieldOrder - 1n
 * toField(5n) // 5n
 * ```
 */
export function toField(value: bigint): bigint {
  if (value > half || value < -half)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `toField expects a signed integer of magnitude below p/2 (about 2^253); got ${value}.`,
      {
        metaMessages: [
          'Reduce the value modulo the field yourself if it is already a field element.',
        ],
      },
    )
  return value < 0n ? value + zkFieldOrder : value
}

/**
 * Decodes a field element (a public signal) into a signed integer: elements above p/2 are
 * negative (`p − |v|` ↦ `v`). Accepts bigints and decimal strings, as snarkjs returns them.
 *
 * @example
 * ```ts
 * fromField(zkFieldOrder - 3n) // -3n
 * fromField('42') // 42n
 * ```
 */
export function fromField(element: bigint | string): bigint {
  let value: bigint
  try {
    value = typeof element === 'bigint' ? element : BigInt(element)
  } catch (cause) {
    throw new BaseError(
      'INVALID_ARGUMENT',
      `fromField expects a decimal field element; got "${String(element).slice(0, 80)}".`,
      { cause },
    )
  }
  if (value < 0n || value >= zkFieldOrder)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `fromField expects a field element in [0, p); got ${value}.`,
      { metaMessages: ['Public signals of a circuit are always reduced modulo p.'] },
    )
  return value > half ? value - zkFieldOrder : value
}
