import { poseidon5 } from 'poseidon-lite/poseidon5'
import { z } from 'zod'
import { BaseError } from './errors.ts'
import { hashCanonicalJson } from './hash.ts'
import {
  bn254ScalarField,
  groth16ProofSchema,
  groth16VerificationKeySchema,
} from './verifyGroth16.ts'

/**
 * Zero-knowledge evidence (mode `zk`): the pieces of a Groth16 proof that a quantized model maps a
 * committed input to an output, and the rules that tie the proof to a receipt.
 *
 * A model circuit has one private input (the input tensor's bytes) and public signals, in order:
 * `out[0..M-1]` (the integer output tensor; negative values as p − |v|), `inputCommitment`
 * ({@link computeInputCommitment} of the input bytes) and `modelCommitment` (sha256 of the ONNX
 * file mod p, a constant of the circuit). The verification key commits to the circuit, and so to
 * the weights; the model's manifest pins the key by hash (`manifest.zk.verificationKeyHash`).
 */

const decimal = z
  .string()
  .max(80)
  .regex(/^(0|[1-9][0-9]*)$/, 'a decimal integer')
const hash32 = z.string().regex(/^0x[0-9a-f]{64}$/, 'a 0x-prefixed lowercase 32-byte hex hash')
const tensorSpec = (dtypes: readonly [string, ...string[]]) =>
  z
    .object({
      name: z.string().min(1).max(256),
      dtype: z.enum(dtypes),
      shape: z
        .array(
          z
            .number()
            .int()
            .min(1)
            .max(1 << 20),
        )
        .max(8),
    })
    .strict()

/**
 * The manifest's `zk` section: a model that can be proven. Everything a prover needs is
 * content-addressed (CIDs of the circuit's artifacts); everything a verifier needs is pinned by
 * hash or value.
 */
export const manifestZkSchema = z
  .object({
    system: z.literal('groth16'),
    curve: z.literal('bn128'),
    /** keccak256 of the canonical JSON of the verification key. */
    verificationKeyHash: hash32,
    /** sha256 of the ONNX file, mod the BN254 scalar field: the circuit's last public signal. */
    modelCommitment: decimal,
    constraints: z.number().int().min(1),
    /** The powers-of-tau file the setup used (2^power constraints at most). */
    ptau: z
      .object({
        power: z.number().int().min(1).max(28),
        sha256: hash32,
      })
      .strict(),
    /** CIDs of the circuit (Circom source), R1CS, witness generator (wasm), proving key, verification key and ceremony transcript. */
    artifacts: z
      .object({
        circuit: z.string().min(1).max(256),
        r1cs: z.string().min(1).max(256),
        wasm: z.string().min(1).max(256),
        zkey: z.string().min(1).max(256),
        verificationKey: z.string().min(1).max(256),
        transcript: z.string().min(1).max(256),
      })
      .strict(),
    input: tensorSpec(['uint8']),
    output: tensorSpec(['int32']),
  })
  .strict()

export type ManifestZk = z.infer<typeof manifestZkSchema>

/** The receipt's `zk` section: the proof and what it proves, self-contained for offline checks. */
export const zkSectionSchema = z
  .object({
    system: z.literal('groth16'),
    curve: z.literal('bn128'),
    verificationKey: groth16VerificationKeySchema,
    modelCommitment: decimal,
    /** The committed input tensor (its raw bytes are the circuit's private input). */
    input: tensorSpec(['uint8']),
    /** The output tensor the first public signals are. */
    output: tensorSpec(['int32']),
    publicSignals: z.array(decimal).min(2).max(1026),
    proof: groth16ProofSchema,
  })
  .strict()

export type ZkSection = z.infer<typeof zkSectionSchema>

/**
 * Bytes per field element in the input commitment: 31 bytes (248 bits) always fit below the BN254
 * field order.
 *
 * @example
 * ```ts
 * Math.ceil(784 / packedBytesPerElement) // 26 elements for a 28×28 image
 * ```
 */
export const packedBytesPerElement = 31

/**
 * Packs bytes into field elements of 31 bytes each, big-endian within a chunk (the last chunk may
 * be shorter): the first step of {@link computeInputCommitment}; the circuit computes the same sums.
 *
 * @example
 * ```ts
 * packInputBytes(Uint8Array.of(1, 2)) // [0x0102n]
 * ```
 */
export function packInputBytes(bytes: Uint8Array): bigint[] {
  if (!(bytes instanceof Uint8Array))
    throw new BaseError('INVALID_ARGUMENT', 'packInputBytes expects a Uint8Array of input bytes.', {
      metaMessages: ['Pass the raw bytes of the input tensor (uint8).'],
    })
  const elements: bigint[] = []
  for (let start = 0; start < bytes.length; start += packedBytesPerElement) {
    let element = 0n
    const end = Math.min(bytes.length, start + packedBytesPerElement)
    for (let i = start; i < end; i++) element = (element << 8n) | BigInt(bytes[i]!)
    elements.push(element)
  }
  return elements
}

/**
 * Commits to input bytes the way Verity's circuits do: the bytes packed 31 to a field element
 * (big-endian within an element, the last one shorter), then a Poseidon chain of width 5 starting
 * from the byte length: `acc = n; acc = Poseidon5(acc, e₄ᵢ, e₄ᵢ₊₁, e₄ᵢ₊₂, e₄ᵢ₊₃)` (zero-padded).
 * The same function exists in Circom (`@verity/zk`) and Solidity (`ZkModelVerifier`).
 *
 * @example
 * ```ts
 * const commitment = computeInputCommitment(new Uint8Array(784))
 * ```
 */
export function computeInputCommitment(bytes: Uint8Array): bigint {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0)
    throw new BaseError('INVALID_ARGUMENT', 'An input commitment needs at least one input byte.')
  const elements = packInputBytes(bytes)
  let acc = BigInt(bytes.length)
  for (let i = 0; i < elements.length; i += 4)
    acc = poseidon5([
      acc,
      elements[i] ?? 0n,
      elements[i + 1] ?? 0n,
      elements[i + 2] ?? 0n,
      elements[i + 3] ?? 0n,
    ])
  return acc
}

/**
 * A signed integer as a BN254 field element (negative `v` → p − |v|), and back.
 *
 * @example
 * ```ts
 * toFieldElement(-1n) // p - 1
 * fromFieldElement(toFieldElement(-7n)) // -7n
 * ```
 */
export function toFieldElement(value: bigint): bigint {
  return ((value % bn254ScalarField) + bn254ScalarField) % bn254ScalarField
}

/** @see {@link toFieldElement} */
export function fromFieldElement(element: bigint): bigint {
  return element > bn254ScalarField / 2n ? element - bn254ScalarField : element
}

/**
 * The hash a manifest pins a verification key by: keccak256 of its canonical JSON.
 *
 * @example
 * ```ts
 * const verificationKeyHash = hashVerificationKey(verificationKey)
 * ```
 */
export function hashVerificationKey(verificationKey: unknown): `0x${string}` {
  return hashCanonicalJson(verificationKey)
}
