import { computeCid } from '@verity/hub'
import {
  BaseError,
  canonicalJsonBytes,
  hashVerificationKey,
  type ManifestZk,
  manifestZkSchema,
} from '@verity/protocol'
import { compileCircom } from '../circom/compileCircom.ts'
import { readR1csHeader } from '../circom/readR1csHeader.ts'
import { compileZkModel } from '../compiler/compileZkModel.ts'
import { assertWithinBudget, type ProvingBudget } from '../prover/assertWithinBudget.ts'
import { estimateProvingCost, type ProvingCostEstimate } from '../prover/estimateProvingCost.ts'
import type { Groth16VerificationKey } from '../prover/parseGroth16.ts'
import { applyBeacon } from '../setup/applyBeacon.ts'
import { assertPtauFits } from '../setup/assertPtauFits.ts'
import {
  buildCeremonyTranscript,
  type CeremonyTranscript,
  type ContributionSignature,
} from '../setup/ceremonyTranscript.ts'
import { contribute } from '../setup/contribute.ts'
import { exportSolidityVerifier } from '../setup/exportSolidityVerifier.ts'
import { exportVerificationKey } from '../setup/exportVerificationKey.ts'
import type { PowersOfTau } from '../setup/loadPowersOfTau.ts'
import { readZkeyContributions } from '../setup/readZkeyContributions.ts'
import { startCeremony } from '../setup/startCeremony.ts'

/**
 * Everything a model needs to be proven and checked in zero knowledge: the circuit and its
 * compiled forms, the proving and verification keys from the phase-2 ceremony, the ceremony's
 * transcript, the Solidity verifier, and the manifest section that pins them (artifacts by CID,
 * the verification key by hash).
 *
 * @example
 * ```ts
 * const { manifestZk, zkey, wasm, verificationKey } = await setupZkModel(parameters)
 * ```
 */
export type ZkModelArtifacts = {
  circuit: string
  r1cs: Uint8Array
  wasm: Uint8Array
  zkey: Uint8Array
  verificationKey: Groth16VerificationKey
  transcript: CeremonyTranscript
  /** Solidity source of the generated `Groth16Verifier` (GPL-3.0, from snarkjs's template). */
  solidityVerifier: string
  manifestZk: ManifestZk
  /** Pre-flight estimate of proving cost. */
  estimate: ProvingCostEstimate
  /** Wall-clock times of each step, in ms. */
  timings: { compileMs: number; setupMs: number; contributionsMs: number; beaconMs: number }
}

/**
 * Progress of {@link setupZkModel}, in order.
 *
 * @example
 * ```ts
 * const onProgress = (event: SetupZkModelProgress) => console.log(event.phase)
 * ```
 */
export type SetupZkModelProgress =
  | { phase: 'compile' }
  | { phase: 'compiled'; constraints: number; estimate: ProvingCostEstimate }
  | { phase: 'setup' }
  | { phase: 'contribution'; name: string; contributionHash: string }
  | { phase: 'beacon'; contributionHash: string }
  | { phase: 'verified' }

/**
 * A phase-2 participant: local (`entropy`) or remote (`contribute` returns the key it extended,
 * and, when the participant signs its contribution, its signature: checked and recorded in the
 * transcript).
 *
 * @example
 * ```ts
 * const remote: ZkContributor = { name: 'node-2', contribute: (zkey) => postZkey(url, zkey) }
 * ```
 */
export type ZkContributor =
  | { name: string; entropy?: string | Uint8Array | undefined; contribute?: undefined }
  | {
      name: string
      contribute: (
        zkey: Uint8Array,
      ) => Promise<Uint8Array | ({ zkey: Uint8Array } & ContributionSignature)>
    }

/**
 * What {@link setupZkModel} takes.
 *
 * @example
 * ```ts
 * const parameters: SetupZkModelParameters = { onnx, ptau, contributors: [{ name: 'node-1' }], beacon: { hash: blockHash, iterationsExp: 10 } }
 * ```
 */
export type SetupZkModelParameters = {
  /** The integer (quantized) ONNX model: uint8 input, int32 output. */
  onnx: Uint8Array
  name?: string | undefined
  /** A phase-1 file prepared for phase 2 (`loadPowersOfTau`); it is never prepared here. */
  ptau: PowersOfTau
  /**
   * Phase-2 participants, in order. A local one contributes here (its entropy mixed with fresh OS
   * randomness); a remote one gets the current proving key and returns it with its contribution
   * added (e.g. a node's `POST /v1/zk/contribute`), so its randomness never leaves its process.
   * Every returned key must extend the chain by exactly one contribution of this circuit.
   */
  contributors: readonly ZkContributor[]
  /** The final public beacon (e.g. a block hash) and its hashing iterations (2^iterationsExp). */
  beacon: { hash: string; iterationsExp: number }
  /** Refuse circuits that would prove over this budget (`ZK_BUDGET_EXCEEDED`). */
  budget?: ProvingBudget | undefined
  onProgress?: ((event: SetupZkModelProgress) => void) | undefined
  signal?: AbortSignal | undefined
}

/**
 * Turns an integer ONNX model into a provable one: compile to Circom (`compileZkModel`) and R1CS
 * (`compileCircom`), check the pre-flight estimate against the budget and the phase-1 file, run
 * the phase-2 ceremony (initial key, one contribution per participant, the public beacon), verify
 * it from the R1CS and phase-1 file, and content-address every artifact (CIDs as the hub computes
 * them). Only integer models (uint8 input, int32 output) can be proven as they run: a float model
 * would prove a quantized twin whose outputs differ, so it is refused with `ZK_GRAPH_UNSUPPORTED`.
 *
 * @example
 * ```ts
 * const ptau = await loadPowersOfTau('pot16_final.ptau')
 * const artifacts = await setupZkModel({ onnx, ptau, contributors: [{ name: 'alice' }, { name: 'bob' }], beacon: { hash: '0x' + 'ab'.repeat(32), iterationsExp: 10 } })
 * ```
 */
export async function setupZkModel(parameters: SetupZkModelParameters): Promise<ZkModelArtifacts> {
  const { onnx, ptau, contributors, beacon, onProgress, signal } = parameters
  if (contributors.length === 0)
    throw new BaseError('INVALID_ARGUMENT', 'A phase-2 ceremony needs at least one contributor.', {
      metaMessages: ['Each contributor is trusted to forget its randomness; add several.'],
    })
  onProgress?.({ phase: 'compile' })
  const started = performance.now()
  const compiled = compileZkModel(onnx, { name: parameters.name ?? 'VerityModel' })
  if (compiled.inputDtype !== 'uint8' || compiled.floatGraph !== undefined)
    throw new BaseError(
      'ZK_GRAPH_UNSUPPORTED',
      'Only integer models with a uint8 input can be proven as they run.',
      {
        metaMessages: [
          'Quantize the model first and publish the integer ONNX (compileZkModel with calibration shows the accuracy).',
        ],
      },
    )
  const circuit = await compileCircom({
    source: compiled.source,
    name: compiled.mainTemplate,
    signal,
  })
  const compileMs = performance.now() - started
  const estimate = estimateProvingCost(circuit.r1cs)
  onProgress?.({ phase: 'compiled', constraints: circuit.constraints, estimate })
  if (parameters.budget) assertWithinBudget(estimate, parameters.budget)
  assertPtauFits(ptau, readR1csHeader(circuit.r1cs))

  signal?.throwIfAborted()
  onProgress?.({ phase: 'setup' })
  let at = performance.now()
  const zkeys = [await startCeremony(circuit.r1cs, ptau)]
  const signatures: (ContributionSignature | undefined)[] = []
  const setupMs = performance.now() - at
  at = performance.now()
  for (const contributor of contributors) {
    signal?.throwIfAborted()
    const previous = zkeys.at(-1)!
    if (contributor.contribute) {
      const returned = await contributor.contribute(previous)
      const zkey = returned instanceof Uint8Array ? returned : returned.zkey
      signatures.push(
        returned instanceof Uint8Array
          ? undefined
          : { signer: returned.signer, signature: returned.signature },
      )
      const before = readZkeyContributions(previous)
      const after = readZkeyContributions(zkey)
      if (
        after.circuitHash !== before.circuitHash ||
        after.contributions.length !== before.contributions.length + 1
      )
        throw new BaseError(
          'ZK_CEREMONY_INVALID',
          `Contributor ${contributor.name} returned a proving key that does not extend the ceremony by one contribution.`,
        )
      zkeys.push(zkey)
      onProgress?.({
        phase: 'contribution',
        name: after.contributions.at(-1)?.name ?? contributor.name,
        contributionHash: '(verified with the transcript)',
      })
    } else {
      const { zkey, contributionHash } = await contribute(previous, contributor)
      zkeys.push(zkey)
      signatures.push(undefined)
      onProgress?.({ phase: 'contribution', name: contributor.name, contributionHash })
    }
  }
  const contributionsMs = performance.now() - at
  at = performance.now()
  const final = await applyBeacon(zkeys.at(-1)!, {
    beaconHash: beacon.hash,
    iterationsExp: beacon.iterationsExp,
  })
  zkeys.push(final.zkey)
  const beaconMs = performance.now() - at
  onProgress?.({ phase: 'beacon', contributionHash: final.contributionHash })
  // builds the transcript from a full verification of the ceremony (ZK_CEREMONY_INVALID otherwise)
  const transcript = await buildCeremonyTranscript({ r1cs: circuit.r1cs, ptau, zkeys, signatures })
  onProgress?.({ phase: 'verified' })
  const verificationKey = await exportVerificationKey(final.zkey)
  const solidityVerifier = await exportSolidityVerifier(verificationKey)
  const encoder = new TextEncoder()
  const [circuitCid, r1csCid, wasmCid, zkeyCid, verificationKeyCid, transcriptCid] =
    await Promise.all([
      computeCid(encoder.encode(compiled.source)),
      computeCid(circuit.r1cs),
      computeCid(circuit.wasm),
      computeCid(final.zkey),
      computeCid(canonicalJsonBytes(verificationKey)),
      computeCid(canonicalJsonBytes(transcript)),
    ])
  const manifestZk = manifestZkSchema.parse({
    system: 'groth16',
    curve: 'bn128',
    verificationKeyHash: hashVerificationKey(verificationKey),
    modelCommitment: compiled.modelCommitment.toString(),
    constraints: circuit.constraints,
    ptau: { power: ptau.power, sha256: ptau.sha256 },
    artifacts: {
      circuit: circuitCid,
      r1cs: r1csCid,
      wasm: wasmCid,
      zkey: zkeyCid,
      verificationKey: verificationKeyCid,
      transcript: transcriptCid,
    },
    input: { name: compiled.graph.input.name, dtype: 'uint8', shape: compiled.inputShape },
    output: { name: compiled.graph.output.onnxName, dtype: 'int32', shape: compiled.outputShape },
  })
  return {
    circuit: compiled.source,
    r1cs: circuit.r1cs,
    wasm: circuit.wasm,
    zkey: final.zkey,
    verificationKey,
    transcript,
    solidityVerifier,
    manifestZk,
    estimate,
    timings: { compileMs, setupMs, contributionsMs, beaconMs },
  }
}
