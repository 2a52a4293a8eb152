import { BaseError, fromFieldElement, type ZkSection, zkSectionSchema } from '@verity/protocol'
import type { Groth16Proof } from '../prover/parseGroth16.ts'
import type { ProveOptions, Prover } from '../prover/prover.ts'
import type { ProvingArtifacts } from './createZkArtifactStore.ts'

/**
 * What {@link proveZkInference} returns: the receipt's `zk` section and the proven outputs.
 *
 * @example
 * ```ts
 * const { zk, outputs, proveMs } = await proveZkInference(parameters)
 * ```
 */
export type ProveZkInferenceReturnType = {
  zk: ZkSection
  /** The output tensor's values (the first public signals, as signed integers). */
  outputs: Int32Array
  witnessMs: number
  proveMs: number
}

/**
 * Proves one inference of a set-up model: the witness from the input tensor's bytes, the Groth16
 * proof in the prover's worker, and the receipt's `zk` section (key, commitments, signals, proof).
 * When `expected` outputs are given (what the engine computed) they must equal the proven ones,
 * otherwise `ZK_PROVE_FAILED`: a circuit and an engine that disagree must not yield a receipt.
 *
 * @example
 * ```ts
 * const { zk } = await proveZkInference({ prover, artifacts, input: image.data, expected: logits.data })
 * ```
 */
export async function proveZkInference(
  parameters: {
    prover: Prover<Groth16Proof>
    artifacts: ProvingArtifacts
    /** The raw bytes of the input tensor. */
    input: Uint8Array
    expected?: Int32Array | undefined
  },
  options: ProveOptions = {},
): Promise<ProveZkInferenceReturnType> {
  const { prover, artifacts, input, expected } = parameters
  const { manifestZk, verificationKey } = artifacts
  const inputLength = manifestZk.input.shape.reduce((product, dim) => product * dim, 1)
  if (!(input instanceof Uint8Array) || input.length !== inputLength)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `The circuit takes ${inputLength} input bytes; got ${input?.length}.`,
    )
  const { proof, publicSignals, witnessMs, proveMs } = await prover.prove(
    {
      zkey: artifacts.zkey,
      wasm: artifacts.wasm,
      input: { in: Array.from(input, (byte) => byte.toString()) },
    },
    options,
  )
  const outputCount = manifestZk.output.shape.reduce((product, dim) => product * dim, 1)
  const values = publicSignals.slice(0, outputCount).map(fromFieldElement)
  const outputs = Int32Array.from(values, Number)
  if (publicSignals[outputCount + 1]?.toString() !== manifestZk.modelCommitment)
    throw new BaseError('ZK_PROVE_FAILED', "The proof's model commitment is not the manifest's.")
  if (expected !== undefined) {
    const differs =
      expected.length !== outputs.length || expected.some((value, i) => value !== outputs[i])
    if (differs)
      throw new BaseError(
        'ZK_PROVE_FAILED',
        'The circuit proved other outputs than the engine computed: the model and its circuit disagree.',
        { details: `engine ${[...expected].join(',')} circuit ${[...outputs].join(',')}` },
      )
  }
  const zk = zkSectionSchema.parse({
    system: 'groth16',
    curve: 'bn128',
    verificationKey,
    modelCommitment: manifestZk.modelCommitment,
    input: manifestZk.input,
    output: manifestZk.output,
    publicSignals: publicSignals.map(String),
    proof,
  })
  return { zk, outputs, witnessMs, proveMs }
}
