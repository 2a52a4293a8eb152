import type { StoredModel } from '@verity/hub'
import {
  BaseError,
  isBaseError,
  type ManifestZk,
  type NamedTensors,
  type Tensor,
} from '@verity/protocol'
import {
  assertWithinBudget,
  createGroth16Prover,
  estimateProvingCost,
  type Groth16Proof,
  type Prover,
  type ProveZkInferenceReturnType,
  type ProvingCostEstimate,
  proveZkInference,
  type ZkArtifactStore,
} from '@verity/zk'
import type { Registry } from 'prom-client'
import type { ModelDistribution } from '../distribution/modelDistribution.ts'
import type { Verification } from '../executor.ts'
import type { NodeLogger } from '../logger.ts'
import { createSerialProver, type SerialProver } from './createSerialProver.ts'
import type { ZkBudget } from './options.ts'
import { createZkMetrics, type ZkMetrics } from './zkMetrics.ts'

/**
 * Options of {@link createZkVerification} (plain data, from `NodeOptions.zk`).
 *
 * @example
 * ```ts
 * const options: ZkVerificationOptions = { budget: defaultZkOptions.budget }
 * ```
 */
export type ZkVerificationOptions = {
  budget: ZkBudget
}

/**
 * What {@link createZkVerification} needs from the node.
 *
 * @example
 * ```ts
 * const components: ZkVerificationComponents = { artifacts: createZkArtifactStore({ dir }), logger, registry }
 * ```
 */
export type ZkVerificationComponents = {
  /** Where the proving artifacts are (`<dataDir>/zk`). */
  artifacts: Pick<ZkArtifactStore, 'load' | 'read' | 'missing' | 'putFiles'>
  /**
   * Where artifacts this node lacks come from: the peers holding the model, over IPFS. Absent: a
   * model whose artifacts are not in `artifacts` is `MODE_UNSUPPORTED`.
   */
  files?: Pick<ModelDistribution, 'fetchFiles'> | undefined
  /** Default: `createGroth16Prover()` (snarkjs in a worker thread per proof); queued here. */
  prover?: Prover<Groth16Proof> | undefined
  logger: NodeLogger
  /** The node's metrics registry (the zk metrics are added to it). */
  registry: Registry
}

/**
 * One proof as {@link ZkVerification.prove} takes it.
 *
 * @example
 * ```ts
 * const parameters: ZkProveParameters = { manifestZk: model.manifest.zk, input: image.data, expected: logits.data }
 * ```
 */
export type ZkProveParameters = {
  manifestZk: ManifestZk
  /** The raw bytes of the input tensor (the circuit's private input). */
  input: Uint8Array
  /** What the engine computed: the proof is refused (`ZK_PROVE_FAILED`) if the circuit disagrees. */
  expected?: Int32Array | undefined
  signal?: AbortSignal | undefined
  /** For the logs. */
  jobId?: string | undefined
}

/**
 * The `zk` verification: the executor's {@link Verification} for mode `zk`, plus `prove` and
 * `prover` (the node's one proving queue, for other callers such as InferenceHub fulfilment) and
 * the pre-flight check of a model's artifacts against the budget.
 *
 * @example
 * ```ts
 * const { zk } = await node.zk!.prove({ manifestZk, input, expected })
 * ```
 */
export type ZkVerification = Verification & {
  mode: 'zk'
  /** Proves one inference; proofs run one at a time, in the order asked. */
  prove(parameters: ZkProveParameters): Promise<ProveZkInferenceReturnType>
  /**
   * The node's one proving queue as a `Prover`: other provers of the node (InferenceHub
   * fulfilment) use it so that proofs never run side by side.
   */
  readonly prover: SerialProver
  /**
   * Checks that this node can prove a model within its budget: the artifacts are here and
   * intact (those missing are fetched from the peers holding the model first, when the node has
   * a distribution), and the estimate fits (`MODE_UNSUPPORTED`, `ZK_BUDGET_EXCEEDED`). Cached per
   * circuit; a failed check is tried afresh next time.
   */
  preflight(model: StoredModel): Promise<ProvingCostEstimate>
  /** Proofs waiting or running. */
  readonly pending: number
  readonly metrics: ZkMetrics
}

function shapesEqual(a: readonly (number | string)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i])
}

function zkSectionOf(model: StoredModel): ManifestZk {
  const { zk } = model.manifest
  if (zk === undefined)
    throw new BaseError(
      'MODE_UNSUPPORTED',
      `Model ${model.manifest.name}@${model.manifest.version} (${model.cid}) cannot be proven: its manifest has no zk section.`,
      {
        metaMessages: [
          'Compile it first (verity zk compile MODEL.onnx --ptau FILE, into the node’s zk folder), then add or publish the model.',
          'Or ask for mode none or reexec.',
        ],
      },
    )
  return zk
}

function inputBytes(manifestZk: ManifestZk, inputs: NamedTensors): Uint8Array {
  const tensor: Tensor | undefined = inputs[manifestZk.input.name]
  if (tensor === undefined || tensor.dtype !== 'uint8' || !(tensor.data instanceof Uint8Array))
    throw new BaseError(
      'TENSOR_DTYPE_MISMATCH',
      `The circuit proves a uint8 input "${manifestZk.input.name}"; it was not given as one.`,
    )
  if (!shapesEqual(tensor.shape, manifestZk.input.shape))
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `The circuit proves input "${manifestZk.input.name}" of shape [${manifestZk.input.shape.join(', ')}]; got [${tensor.shape.join(', ')}].`,
      {
        metaMessages: ['Send exactly the shape the manifest’s zk section names (zk.input.shape).'],
      },
    )
  return tensor.data
}

function expectedOutput(manifestZk: ManifestZk, outputs: NamedTensors): Int32Array {
  const tensor = outputs[manifestZk.output.name]
  if (tensor === undefined || tensor.dtype !== 'int32' || !(tensor.data instanceof Int32Array))
    throw new BaseError(
      'ZK_PROVE_FAILED',
      `The engine gave no int32 output "${manifestZk.output.name}", which the circuit proves.`,
      { metaMessages: ['The model and its zk section disagree: compile the model again.'] },
    )
  return tensor.data
}

/**
 * Creates the `zk` verification of an executor:
 *
 * 1. `check` (before the job is stored or run): the model's manifest has a `zk` section (else
 *    `MODE_UNSUPPORTED`), the request asks no quorum, the input has exactly the circuit's uint8
 *    shape, this node holds intact proving artifacts (else `MODE_UNSUPPORTED`) and the pre-flight
 *    estimate (`estimateProvingCost` of the stored R1CS) fits the budget (else
 *    `ZK_BUDGET_EXCEEDED`). Refusals are 422s and leave nothing behind.
 * 2. `complete` (after the engine ran and the executor signed): proves the input with
 *    `proveZkInference`, with the engine's int32 output as `expected` (a circuit that disagrees
 *    fails the job with `ZK_PROVE_FAILED`), and returns the receipt with its `zk` section.
 *
 * One prover is shared and proofs run one at a time (`createSerialProver`: a FIFO queue; a proof
 * whose signal aborts while it waits leaves the queue at once). Progress is logged at debug
 * level, each proof at info.
 *
 * @example
 * ```ts
 * const zk = createZkVerification(
 *   { budget: defaultZkOptions.budget },
 *   { artifacts: createZkArtifactStore({ dir: join(dataDir, 'zk') }), logger, registry: metrics.registry },
 * )
 * const node = await createVerityNode(options, { verifications: [zk] })
 * ```
 */
export function createZkVerification(
  options: ZkVerificationOptions,
  components: ZkVerificationComponents,
): ZkVerification {
  const { artifacts, registry } = components
  const logger = components.logger.child({ module: 'zk' })
  const metrics = createZkMetrics(registry)
  const prover = createSerialProver(components.prover ?? createGroth16Prover(), { metrics })
  const estimates = new Map<string, Promise<ProvingCostEstimate>>()

  function estimate(manifestZk: ManifestZk, model: StoredModel): Promise<ProvingCostEstimate> {
    const key = manifestZk.artifacts.zkey
    let known = estimates.get(key)
    if (known === undefined) {
      known = (async () => {
        try {
          await fetchMissing(manifestZk, model)
          // reads and checks (by CID) the witness generator, proving and verification keys
          await artifacts.load(manifestZk)
          return estimateProvingCost(await artifacts.read(manifestZk.artifacts.r1cs))
        } catch (error) {
          if (!isBaseError(error, 'ZK_ARTIFACT_NOT_FOUND')) throw error
          throw new BaseError(
            'MODE_UNSUPPORTED',
            `This node does not hold the proving artifacts of ${model.manifest.name}@${model.manifest.version} (${model.cid}).`,
            {
              metaMessages: [
                'The node fetches them from the peers that hold the model (over IPFS) when it has a distribution; the cause says why that failed.',
                'Or copy the files the manifest’s zk section names into the node’s zk folder (GET /v1/zk/artifacts/:cid on a node that has them), or ask another node.',
              ],
              cause: error,
            },
          )
        }
      })()
      estimates.set(key, known)
      known.catch(() => estimates.delete(key))
    }
    return known
  }

  /**
   * Fetches the artifacts of `manifestZk` this node lacks from the peers holding `model` and files
   * them in the store, unless the circuit is over the budget's size anyway (then nothing moves).
   * The manifest's CIDs bind every file, and the manifest is the one the model was admitted under.
   */
  async function fetchMissing(manifestZk: ManifestZk, model: StoredModel): Promise<void> {
    const { files } = components
    const missing = await artifacts.missing(manifestZk)
    if (missing.length === 0 || files === undefined) return
    if (manifestZk.constraints > options.budget.maxConstraints)
      throw new BaseError(
        'ZK_BUDGET_EXCEEDED',
        `The circuit of ${model.manifest.name}@${model.manifest.version} has ${manifestZk.constraints} constraints, more than the ${options.budget.maxConstraints} this node proves: its artifacts were not fetched.`,
        { metaMessages: ['Raise the node’s zk budget (maxConstraints) or ask another node.'] },
      )
    const started = performance.now()
    logger.info({ model: model.cid, files: missing.length }, 'fetching zk artifacts from peers')
    let fetched: Uint8Array[]
    try {
      fetched = await files.fetchFiles({
        model: { cid: model.cid, manifestHash: model.manifestHash },
        cids: missing,
        // a proving key larger than the memory budget could not be proven with anyway
        maxBytes: options.budget.maxMemoryBytes,
      })
    } catch (cause) {
      throw new BaseError(
        'ZK_ARTIFACT_NOT_FOUND',
        `The proving artifacts of ${model.manifest.name}@${model.manifest.version} are not here and could not be fetched from the peers holding it.`,
        { cause, ...(isBaseError(cause) ? { details: cause.shortMessage } : {}) },
      )
    }
    await artifacts.putFiles(manifestZk, new Map(missing.map((cid, i) => [cid, fetched[i]!])))
    logger.info(
      {
        model: model.cid,
        files: missing.length,
        bytes: fetched.reduce((sum, file) => sum + file.length, 0),
        ms: Math.round(performance.now() - started),
      },
      'zk artifacts fetched from peers',
    )
  }

  async function preflight(model: StoredModel): Promise<ProvingCostEstimate> {
    const manifestZk = zkSectionOf(model)
    const cost = await estimate(manifestZk, model)
    assertWithinBudget(cost, options.budget)
    return cost
  }

  async function prove(parameters: ZkProveParameters): Promise<ProveZkInferenceReturnType> {
    const { manifestZk, input, expected, signal, jobId } = parameters
    const log = logger.child(jobId === undefined ? {} : { jobId })
    const asked = performance.now()
    signal?.throwIfAborted()
    const proving = await artifacts.load(manifestZk)
    try {
      const result = await proveZkInference(
        { prover, artifacts: proving, input, expected },
        {
          signal,
          onProgress: (event) => {
            if (event.status !== 'step') log.debug({ ...event }, 'zk progress')
          },
        },
      )
      log.info(
        {
          constraints: manifestZk.constraints,
          witnessMs: Math.round(result.witnessMs),
          proveMs: Math.round(result.proveMs),
          totalMs: Math.round(performance.now() - asked),
        },
        'zk proof done',
      )
      return result
    } catch (error) {
      log.warn(
        { code: isBaseError(error) ? error.code : undefined, aborted: signal?.aborted ?? false },
        'zk proof failed',
      )
      throw error
    }
  }

  return {
    mode: 'zk',
    metrics,
    prover,
    get pending() {
      return prover.pending
    },
    preflight,
    prove,

    async check({ request, model, inputs }) {
      const manifestZk = zkSectionOf(model)
      if (request.quorum !== 0)
        throw new BaseError(
          'INVALID_ARGUMENT',
          `Mode zk takes no quorum; the request asks for ${request.quorum}.`,
          { metaMessages: ['The proof is the evidence: sign the request with quorum 0.'] },
        )
      if (inputs !== undefined) inputBytes(manifestZk, inputs)
      await preflight(model)
    },

    async complete({ job, model, inputs, outputs, receipt, signal }) {
      const manifestZk = zkSectionOf(model)
      const { zk } = await prove({
        manifestZk,
        input: inputBytes(manifestZk, inputs),
        expected: expectedOutput(manifestZk, outputs),
        signal,
        jobId: job.id,
      })
      return { ...receipt, zk }
    },
  }
}
