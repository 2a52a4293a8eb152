import { bn254 } from '@noble/curves/bn254'
import { z } from 'zod'
import { BaseError } from './errors.ts'

/**
 * Groth16 over BN254 (alt_bn128), checked here without the prover's code: proving needs circom
 * and snarkjs (GPL-3.0, inside `@verity/zk`), verifying needs only a pairing, so anyone can check a
 * zk receipt with this Apache-2.0 package (`@noble/curves`, MIT, the same library viem uses).
 * Points are in snarkjs's JSON form: decimal strings, G1 `[x, y, "1"]`, G2 `[[x.c0, x.c1],
 * [y.c0, y.c1], ["1", "0"]]`.
 */

/** BN254's scalar field order: public signals are elements of this field. */
export const bn254ScalarField =
  21888242871839275222246405745257275088548364400416034343698204186575808495617n

const decimal = z
  .string()
  .max(80)
  .regex(/^(0|[1-9][0-9]*)$/, 'a decimal integer')
const g1Schema = z.tuple([decimal, decimal, z.literal('1')])
const fp2Schema = z.tuple([decimal, decimal])
const g2Schema = z.tuple([fp2Schema, fp2Schema, z.tuple([z.literal('1'), z.literal('0')])])

/** A Groth16 proof (snarkjs JSON). */
export const groth16ProofSchema = z
  .object({
    pi_a: g1Schema,
    pi_b: g2Schema,
    pi_c: g1Schema,
    protocol: z.literal('groth16'),
    curve: z.literal('bn128'),
  })
  .strict()

export type Groth16Proof = z.infer<typeof groth16ProofSchema>

/** A Groth16 verification key (snarkjs JSON, as `zkey export verificationkey` writes it). */
export const groth16VerificationKeySchema = z
  .object({
    protocol: z.literal('groth16'),
    curve: z.literal('bn128'),
    nPublic: z.number().int().min(0).max(1024),
    vk_alpha_1: g1Schema,
    vk_beta_2: g2Schema,
    vk_gamma_2: g2Schema,
    vk_delta_2: g2Schema,
    vk_alphabeta_12: z.unknown().optional(),
    IC: z.array(g1Schema).min(1).max(1025),
  })
  .strict()
  .refine((key) => key.IC.length === key.nPublic + 1, 'IC must hold nPublic + 1 points')

export type Groth16VerificationKey = z.infer<typeof groth16VerificationKeySchema>

const { G1, G2 } = bn254
const { Fp2, Fp12 } = bn254.fields

function g1Point(point: readonly string[]) {
  const value = G1.ProjectivePoint.fromAffine({ x: BigInt(point[0]!), y: BigInt(point[1]!) })
  value.assertValidity()
  return value
}

function g2Point(point: readonly (readonly string[])[]) {
  const [x, y] = point as [readonly string[], readonly string[]]
  const value = G2.ProjectivePoint.fromAffine({
    x: Fp2.fromBigTuple([BigInt(x[0]!), BigInt(x[1]!)]),
    y: Fp2.fromBigTuple([BigInt(y[0]!), BigInt(y[1]!)]),
  })
  value.assertValidity()
  return value
}

function invalid(code: 'ZK_PROOF_INVALID' | 'ZK_VKEY_INVALID', what: string, cause?: unknown) {
  return new BaseError(code, `The Groth16 ${what} is not valid.`, {
    ...(cause instanceof Error ? { details: cause.message.split('\n')[0] } : {}),
    ...(cause === undefined ? {} : { cause }),
  })
}

/**
 * Checks a Groth16 proof against a verification key and public signals (decimal strings, each
 * below {@link bn254ScalarField}): `e(A, B) = e(α, β) · e(Σ sᵢ·ICᵢ, γ) · e(C, δ)`. Returns `false`
 * for a proof that does not verify; throws `ZK_PROOF_INVALID` / `ZK_VKEY_INVALID` for malformed
 * input (not JSON of the right shape, coordinates off the curve or outside the subgroup, a signal
 * count other than `nPublic`, a signal outside the field).
 *
 * @example
 * ```ts
 * const ok = verifyGroth16({ verificationKey, publicSignals, proof })
 * ```
 */
export function verifyGroth16(parameters: {
  verificationKey: unknown
  publicSignals: readonly unknown[]
  proof: unknown
}): boolean {
  const key = groth16VerificationKeySchema.safeParse(parameters.verificationKey)
  if (!key.success) throw invalid('ZK_VKEY_INVALID', 'verification key', key.error)
  const proof = groth16ProofSchema.safeParse(parameters.proof)
  if (!proof.success) throw invalid('ZK_PROOF_INVALID', 'proof', proof.error)
  const { publicSignals } = parameters
  if (!Array.isArray(publicSignals) || publicSignals.length !== key.data.nPublic)
    throw new BaseError(
      'ZK_PROOF_INVALID',
      `The proof has ${Array.isArray(publicSignals) ? publicSignals.length : 'no'} public signals; the verification key expects ${key.data.nPublic}.`,
    )
  const signals = publicSignals.map((signal, index) => {
    const parsed = decimal.safeParse(signal)
    if (!parsed.success || BigInt(parsed.data) >= bn254ScalarField)
      throw new BaseError(
        'ZK_PROOF_INVALID',
        `Public signal ${index} is ${JSON.stringify(signal)}; expected a decimal integer below the BN254 scalar field order.`,
      )
    return BigInt(parsed.data)
  })
  let points: ReturnType<typeof pointsOf>
  try {
    points = pointsOf(key.data, proof.data)
  } catch (cause) {
    throw invalid('ZK_PROOF_INVALID', 'proof or verification key points', cause)
  }
  const { alpha, beta, gamma, delta, ic, a, b, c } = points
  let vkX = ic[0]!
  for (const [index, signal] of signals.entries())
    if (signal !== 0n) vkX = vkX.add(ic[index + 1]!.multiply(signal))
  let product: ReturnType<typeof bn254.pairingBatch>
  try {
    product = bn254.pairingBatch([
      { g1: a.negate(), g2: b },
      { g1: alpha, g2: beta },
      { g1: vkX, g2: gamma },
      { g1: c, g2: delta },
    ])
  } catch (cause) {
    // a point at infinity where the pairing is undefined: no honest proof looks like this
    throw invalid('ZK_PROOF_INVALID', 'proof (a point at infinity)', cause)
  }
  return Fp12.eql(product, Fp12.ONE)
}

function pointsOf(key: Groth16VerificationKey, proof: Groth16Proof) {
  return {
    alpha: g1Point(key.vk_alpha_1),
    beta: g2Point(key.vk_beta_2),
    gamma: g2Point(key.vk_gamma_2),
    delta: g2Point(key.vk_delta_2),
    ic: key.IC.map(g1Point),
    a: g1Point(proof.pi_a),
    b: g2Point(proof.pi_b),
    c: g1Point(proof.pi_c),
  }
}
