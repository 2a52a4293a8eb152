import { BaseError, type ErrorCode } from '@verity/protocol'
import { BN254_BASE_FIELD, BN254_SCALAR_FIELD, isOnG1, isOnG2 } from './bn254.ts'

/** A decimal string, as snarkjs writes field elements in JSON. */
export type DecimalString = string

/**
 * A Groth16 proof over BN254 in snarkjs's JSON form (decimal strings, affine points with the
 * projective `z` coordinate `1`), JSON-serialisable for receipts.
 */
export type Groth16Proof = {
  protocol: 'groth16'
  curve: 'bn128'
  pi_a: [DecimalString, DecimalString, DecimalString]
  pi_b: [
    [DecimalString, DecimalString],
    [DecimalString, DecimalString],
    [DecimalString, DecimalString],
  ]
  pi_c: [DecimalString, DecimalString, DecimalString]
}

/** A Groth16 verification key over BN254 in snarkjs's JSON form. */
export type Groth16VerificationKey = {
  protocol: 'groth16'
  curve: 'bn128'
  nPublic: number
  vk_alpha_1: DecimalString[]
  vk_beta_2: DecimalString[][]
  vk_gamma_2: DecimalString[][]
  vk_delta_2: DecimalString[][]
  vk_alphabeta_12?: DecimalString[][][]
  IC: DecimalString[][]
}

const DECIMAL = /^(0|[1-9]\d{0,77})$/

class Invalid {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

function field(value: unknown, modulus: bigint, where: string): bigint {
  if (typeof value !== 'string' || !DECIMAL.test(value)) {
    throw new Invalid(
      `${where} is ${JSON.stringify(value)?.slice(0, 40)}, expected a decimal string`,
    )
  }
  const n = BigInt(value)
  if (n >= modulus) throw new Invalid(`${where} is not below the field modulus`)
  return n
}

function array(value: unknown, length: number, where: string): unknown[] {
  if (!Array.isArray(value) || value.length !== length) {
    throw new Invalid(`${where} must be an array of ${length}`)
  }
  return value
}

function g1(value: unknown, where: string): [DecimalString, DecimalString, DecimalString] {
  const [x, y, z] = array(value, 3, where)
  const xs = field(x, BN254_BASE_FIELD, `${where}[0]`)
  const ys = field(y, BN254_BASE_FIELD, `${where}[1]`)
  if (z !== '1') throw new Invalid(`${where}[2] must be "1" (affine point)`)
  if (!isOnG1([xs, ys])) throw new Invalid(`${where} is not a point on BN254 G1`)
  return [xs.toString(), ys.toString(), '1']
}

function g2(
  value: unknown,
  where: string,
): [
  [DecimalString, DecimalString],
  [DecimalString, DecimalString],
  [DecimalString, DecimalString],
] {
  const [x, y, z] = array(value, 3, where)
  const [x0, x1] = array(x, 2, `${where}[0]`)
  const [y0, y1] = array(y, 2, `${where}[1]`)
  const xs: [bigint, bigint] = [
    field(x0, BN254_BASE_FIELD, `${where}[0][0]`),
    field(x1, BN254_BASE_FIELD, `${where}[0][1]`),
  ]
  const ys: [bigint, bigint] = [
    field(y0, BN254_BASE_FIELD, `${where}[1][0]`),
    field(y1, BN254_BASE_FIELD, `${where}[1][1]`),
  ]
  const [z0, z1] = array(z, 2, `${where}[2]`)
  if (z0 !== '1' || z1 !== '0') throw new Invalid(`${where}[2] must be ["1","0"] (affine point)`)
  if (!isOnG2([xs, ys])) throw new Invalid(`${where} is not a point on BN254 G2`)
  return [
    [xs[0].toString(), xs[1].toString()],
    [ys[0].toString(), ys[1].toString()],
    ['1', '0'],
  ]
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Invalid(`${what} must be a JSON object`)
  }
  return value as Record<string, unknown>
}

function wrap<T>(code: ErrorCode, what: string, hint: string, parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof Invalid) {
      throw new BaseError(code, `The ${what} is malformed: ${error.reason}.`, {
        metaMessages: [hint],
      })
    }
    throw error
  }
}

/**
 * Checks an untrusted value (e.g. from a receipt) is a well-formed BN254 Groth16 proof in
 * snarkjs's JSON form (decimal strings below the base field, points on the curve) and returns a
 * normalised copy. It does not check the proof against a key: use `verifyGroth16Proof`.
 *
 * @throws BaseError `ZK_PROOF_INVALID` saying which field is wrong.
 *
 * @example
 * ```ts
 * const proof = parseGroth16Proof(JSON.parse(receiptProofJson))
 * ```
 */
export function parseGroth16Proof(value: unknown): Groth16Proof {
  return wrap(
    'ZK_PROOF_INVALID',
    'Groth16 proof',
    'Pass the `proof` object produced by the Groth16 prover (snarkjs JSON, decimal strings).',
    () => {
      const o = record(value, 'proof')
      if (o.protocol !== undefined && o.protocol !== 'groth16') {
        throw new Invalid(`protocol is ${JSON.stringify(o.protocol)}, expected "groth16"`)
      }
      if (o.curve !== undefined && o.curve !== 'bn128') {
        throw new Invalid(`curve is ${JSON.stringify(o.curve)}, expected "bn128"`)
      }
      return {
        protocol: 'groth16',
        curve: 'bn128',
        pi_a: g1(o.pi_a, 'pi_a'),
        pi_b: g2(o.pi_b, 'pi_b'),
        pi_c: g1(o.pi_c, 'pi_c'),
      }
    },
  )
}

/**
 * Checks an untrusted value is a well-formed BN254 Groth16 verification key (snarkjs JSON) and
 * returns a normalised copy (without the redundant `vk_alphabeta_12`).
 *
 * @throws BaseError `ZK_VKEY_INVALID` saying which field is wrong.
 *
 * @example
 * ```ts
 * const vkey = parseGroth16VerificationKey(JSON.parse(await readFile('vkey.json', 'utf8')))
 * ```
 */
export function parseGroth16VerificationKey(value: unknown): Groth16VerificationKey {
  return wrap(
    'ZK_VKEY_INVALID',
    'Groth16 verification key',
    'Use the key from `exportVerificationKey` (snarkjs `zkey export verificationkey`).',
    () => {
      const o = record(value, 'verification key')
      if (o.protocol !== 'groth16') {
        throw new Invalid(`protocol is ${JSON.stringify(o.protocol)}, expected "groth16"`)
      }
      if (o.curve !== 'bn128') {
        throw new Invalid(`curve is ${JSON.stringify(o.curve)}, expected "bn128"`)
      }
      const nPublic = o.nPublic
      if (typeof nPublic !== 'number' || !Number.isSafeInteger(nPublic) || nPublic < 0) {
        throw new Invalid('nPublic must be a non-negative integer')
      }
      if (!Array.isArray(o.IC) || o.IC.length !== nPublic + 1) {
        throw new Invalid(`IC must hold nPublic + 1 = ${nPublic + 1} points`)
      }
      return {
        protocol: 'groth16',
        curve: 'bn128',
        nPublic,
        vk_alpha_1: g1(o.vk_alpha_1, 'vk_alpha_1'),
        vk_beta_2: g2(o.vk_beta_2, 'vk_beta_2'),
        vk_gamma_2: g2(o.vk_gamma_2, 'vk_gamma_2'),
        vk_delta_2: g2(o.vk_delta_2, 'vk_delta_2'),
        IC: o.IC.map((point, i) => g1(point, `IC[${i}]`)),
      }
    },
  )
}

/**
 * Checks untrusted public signals (decimal strings or bigints, each below the BN254 scalar
 * field) and returns them as bigints. With `expected`, also checks the count.
 *
 * @throws BaseError `ZK_PROOF_INVALID` on a malformed or out-of-field signal or a wrong count.
 *
 * @example
 * ```ts
 * parsePublicSignals(['33', '42'], 2) // [33n, 42n]
 * ```
 */
export function parsePublicSignals(value: unknown, expected?: number): bigint[] {
  return wrap(
    'ZK_PROOF_INVALID',
    'list of public signals',
    'Public signals are decimal strings below the BN254 scalar field order, in circuit order.',
    () => {
      if (!Array.isArray(value)) throw new Invalid('it must be an array')
      if (expected !== undefined && value.length !== expected) {
        throw new Invalid(
          `it has ${value.length} entries, the verification key expects ${expected}`,
        )
      }
      return value.map((s, i) => {
        if (typeof s === 'bigint') {
          if (s < 0n || s >= BN254_SCALAR_FIELD) throw new Invalid(`signal ${i} is out of field`)
          return s
        }
        return field(s, BN254_SCALAR_FIELD, `signal ${i}`)
      })
    },
  )
}

/**
 * Public signals as JSON-safe decimal strings (for receipts and snarkjs).
 *
 * @example
 * ```ts
 * publicSignalsToJson([33n, 42n]) // ['33', '42']
 * ```
 */
export function publicSignalsToJson(signals: readonly bigint[]): string[] {
  return signals.map((s) => s.toString())
}
