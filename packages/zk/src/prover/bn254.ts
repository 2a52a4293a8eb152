/**
 * BN254 (alt_bn128, snarkjs's "bn128") constants and the cheap checks `@verity/zk` runs on
 * untrusted curve points before handing them to snarkjs.
 */
import { bn254ScalarField } from '@verity/protocol'

/**
 * The scalar field order `r` (circom's prime `p`): public signals and witness values live here;
 * a negative value `v` is encoded as `r − |v|`.
 *
 * @example
 * ```ts
 * const minusOne = BN254_SCALAR_FIELD - 1n
 * ```
 */
export const BN254_SCALAR_FIELD = bn254ScalarField

/**
 * The base field order `q`: curve point coordinates live here.
 *
 * @example
 * ```ts
 * isOnG1([1n, 2n]) // true: the generator
 * ```
 */
export const BN254_BASE_FIELD =
  21888242871839275222246405745257275088696311157297823662689037894645226208583n

const q = BN254_BASE_FIELD

function mod(a: bigint): bigint {
  const r = a % q
  return r < 0n ? r + q : r
}

function pow(base: bigint, exp: bigint): bigint {
  let result = 1n
  let b = mod(base)
  let e = exp
  while (e > 0n) {
    if (e & 1n) result = (result * b) % q
    b = (b * b) % q
    e >>= 1n
  }
  return result
}

type Fq2 = readonly [bigint, bigint]

function mul2(a: Fq2, b: Fq2): Fq2 {
  // (a0 + a1 u)(b0 + b1 u) with u² = −1
  return [mod(a[0] * b[0] - a[1] * b[1]), mod(a[0] * b[1] + a[1] * b[0])]
}

// The twist's b' = 3 / (9 + u) = 3 (9 − u) / 82.
const inv82 = pow(82n, q - 2n)
const TWIST_B: Fq2 = [mod(27n * inv82), mod(-3n * inv82)]

/**
 * Whether an affine point `(x, y)` (coordinates already reduced, `< q`) lies on BN254's G1
 * curve `y² = x³ + 3`.
 *
 * @example
 * ```ts
 * isOnG1([1n, 2n]) // true
 * isOnG1([1n, 3n]) // false
 * ```
 */
export function isOnG1(point: readonly [bigint, bigint]): boolean {
  const [x, y] = point
  return mod(y * y) === mod(x * x * x + 3n)
}

/**
 * Whether an affine point over Fq2 (`x = x0 + x1·u`, `y = y0 + y1·u`) lies on BN254's twist
 * `y² = x³ + 3/(9+u)` (the curve of G2; the prime-order subgroup check is left to snarkjs).
 *
 * @example
 * ```ts
 * isOnG2([[x0, x1], [y0, y1]])
 * ```
 */
export function isOnG2(point: readonly [Fq2, Fq2]): boolean {
  const [x, y] = point
  const y2 = mul2(y, y)
  const x3 = mul2(mul2(x, x), x)
  return y2[0] === mod(x3[0] + TWIST_B[0]) && y2[1] === mod(x3[1] + TWIST_B[1])
}
