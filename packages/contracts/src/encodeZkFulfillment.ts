import { BaseError } from '@verity/protocol'
import {
  decodeAbiParameters,
  encodeAbiParameters,
  type Hex,
  isHex,
  keccak256,
  size,
  toHex,
} from 'viem'

/**
 * What {@link encodeZkFulfillment} takes: a Groth16 proof already in the generated verifier's word
 * order, the raw input bytes it was proven on and the proven integer outputs.
 *
 * @example
 * ```ts
 * const parameters: EncodeZkFulfillmentParameters = { groth16Proof: encodeGroth16Proof(zk.proof), input: image, outputs }
 * ```
 */
export type EncodeZkFulfillmentParameters = {
  /**
   * `abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c)` (256 bytes) in the order snarkjs's
   * `Groth16Verifier.verifyProof` takes (`encodeGroth16Proof` of `@verity/zk`).
   */
  groth16Proof: Hex
  /** The input tensor's raw bytes: what the request's `input` is, and what the proof commits to. */
  input: Uint8Array | Hex
  /** The proven outputs (the first public signals, as signed integers). */
  outputs: Int32Array | readonly (number | bigint)[]
}

/**
 * The arguments of `InferenceHub.fulfillWithProof` (mode 2) besides the request id.
 *
 * @example
 * ```ts
 * const { output, proof, outputHash }: ZkFulfillment = encodeZkFulfillment(parameters)
 * ```
 */
export type ZkFulfillment = {
  /** `abi.encode(int256[] outputs)`: what the consumer's callback receives. */
  output: Hex
  /** `keccak256(output)`, the hash `IZkVerifier.verifyProof` checks. */
  outputHash: Hex
  /** `abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c, bytes input, int256[] outputs)`. */
  proof: Hex
}

const groth16Parameters = [
  { type: 'uint256[2]' },
  { type: 'uint256[2][2]' },
  { type: 'uint256[2]' },
] as const

/**
 * Encodes a zk result for `InferenceHub.fulfillWithProof(requestId, output, proof)` in the format
 * `ZkModelVerifier` decodes: `output = abi.encode(int256[] outputs)` and `proof = abi.encode(a, b,
 * c, bytes input, int256[] outputs)`. Pure; the proof itself is checked on chain.
 *
 * @throws BaseError `ZK_PROOF_INVALID` when `groth16Proof` is not 256 bytes of hex;
 * `INVALID_ARGUMENT` for outputs that are not integers.
 *
 * @example
 * ```ts
 * const { output, proof } = encodeZkFulfillment({ groth16Proof: encodeGroth16Proof(zk.proof), input: image, outputs })
 * await hub.write.fulfillWithProof([requestId, output, proof])
 * ```
 */
export function encodeZkFulfillment(parameters: EncodeZkFulfillmentParameters): ZkFulfillment {
  const { groth16Proof } = parameters
  if (!isHex(groth16Proof, { strict: true }) || size(groth16Proof) !== 256)
    throw new BaseError(
      'ZK_PROOF_INVALID',
      'An encoded Groth16 proof is 256 bytes: abi.encode(uint256[2], uint256[2][2], uint256[2]).',
      { metaMessages: ['Encode the snarkjs proof with encodeGroth16Proof (@verity/zk).'] },
    )
  const outputs = Array.from(parameters.outputs as ArrayLike<number | bigint>, (value) => {
    if (typeof value === 'bigint') return value
    if (!Number.isSafeInteger(value))
      throw new BaseError('INVALID_ARGUMENT', `A zk output must be an integer; got ${value}.`)
    return BigInt(value)
  })
  const [a, b, c] = decodeAbiParameters(groth16Parameters, groth16Proof)
  const input = typeof parameters.input === 'string' ? parameters.input : toHex(parameters.input)
  const output = encodeAbiParameters([{ type: 'int256[]' }], [outputs])
  const proof = encodeAbiParameters(
    [...groth16Parameters, { type: 'bytes' }, { type: 'int256[]' }],
    [a, b, c, input, outputs],
  )
  return { output, outputHash: keccak256(output), proof }
}
