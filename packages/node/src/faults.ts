import type { Engine } from '@verity/engine'
import { BaseError, type Manifest, type Receipt, type Tensor } from '@verity/protocol'
import type { Verification } from './executor.ts'
import type { NodeLogger } from './logger.ts'
import type { ReexecVerification } from './verification/createReexecVerification.ts'

/**
 * Faults a node can be told to commit, to exercise the network's defences (tests, demos):
 * - `wrong-output`: as executor, the node changes the first element of every output tensor, and
 *   one token of every text generation (`withWrongToken`), before signing; when its verifiers
 *   disagree it still answers with the receipt (stripped of their attestations) and commits it
 *   for payment, as a greedy cheater would. Its verifier role stays honest.
 *
 * @example
 * ```ts
 * const fault: NodeFault = 'wrong-output'
 * ```
 */
export type NodeFault = 'wrong-output'

/** The faults {@link NodeFault} names. */
export const nodeFaults: readonly NodeFault[] = ['wrong-output']

/**
 * The environment variable that must be `1` for a node to accept a fault: a production node can
 * never be put into a cheating mode by a flag alone.
 */
export const allowFaultsVariable = 'VERITY_ALLOW_FAULTS'

/**
 * Refuses a fault unless `VERITY_ALLOW_FAULTS=1` is set.
 *
 * @example
 * ```ts
 * assertFaultAllowed('wrong-output', process.env)
 * ```
 */
export function assertFaultAllowed(
  fault: NodeFault,
  env: Readonly<Record<string, string | undefined>>,
): void {
  if (env[allowFaultsVariable] !== '1')
    throw new BaseError(
      'INVALID_ARGUMENT',
      `Fault "${fault}" makes this node cheat; it is refused unless ${allowFaultsVariable}=1 is set.`,
      {
        metaMessages: [
          'Faults exist for tests and demos of slashing; never set them on a real node.',
        ],
      },
    )
}

function perturb(tensor: Tensor): Tensor {
  const data = tensor.data.slice() as typeof tensor.data
  if (data.length > 0) {
    if (typeof data[0] === 'bigint') (data as BigInt64Array)[0] = (data[0] as bigint) + 1n
    else if (typeof data[0] === 'boolean') (data as unknown as boolean[])[0] = !data[0]
    else (data as Float32Array)[0] = (data[0] as number) + 1
  }
  return { ...tensor, data } as Tensor
}

/**
 * An engine that runs the model and then changes the first element of each output (`+1`).
 *
 * @example
 * ```ts
 * const cheating = withWrongOutputs(createOnnxEngine())
 * ```
 */
export function withWrongOutputs(engine: Engine): Engine {
  return {
    get descriptor() {
      return engine.descriptor
    },
    get settingsHash() {
      return engine.settingsHash
    },
    load: (parameters) => engine.load(parameters),
    unload: (id) => engine.unload(id),
    close: () => engine.close(),
    async run(parameters) {
      const result = await engine.run(parameters)
      const outputs = Object.fromEntries(
        Object.entries(result.outputs).map(([name, tensor]) => [name, perturb(tensor)]),
      )
      return { ...result, outputs }
    },
  }
}

/**
 * A verification that never fails the job: when the honest one throws (outvoted, disputed), the
 * receipt goes out with an empty quorum certificate, as a cheater that wants its fee would do.
 *
 * @example
 * ```ts
 * const reexec = cheatingVerification(createReexecVerification(options, components), logger)
 * ```
 */
export function cheatingVerification(inner: Verification, logger: NodeLogger): Verification {
  const log = logger.child({ module: 'fault' })
  return {
    mode: inner.mode,
    ...(inner.check ? { check: inner.check.bind(inner) } : {}),
    complete: (parameters) =>
      answerAnyway(parameters.receipt, parameters.signal, log, () => inner.complete(parameters)),
  }
}

/**
 * {@link cheatingVerification} for text generations: a refused quorum on a (token-altered)
 * completion still answers, with an empty quorum certificate.
 *
 * @example
 * ```ts
 * const text = cheatingTextVerification(reexec, logger)
 * ```
 */
export function cheatingTextVerification(
  inner: Pick<ReexecVerification, 'check' | 'completeText'>,
  logger: NodeLogger,
): Pick<ReexecVerification, 'check' | 'completeText'> {
  const log = logger.child({ module: 'fault' })
  return {
    ...(inner.check ? { check: inner.check.bind(inner) } : {}),
    completeText: (parameters) =>
      answerAnyway(parameters.receipt, parameters.signal, log, () =>
        inner.completeText(parameters),
      ),
  }
}

async function answerAnyway(
  receipt: Receipt,
  signal: AbortSignal,
  log: NodeLogger,
  certify: () => Promise<Receipt>,
): Promise<Receipt> {
  try {
    return await certify()
  } catch (error) {
    if (signal.aborted) throw error
    log.warn(
      { jobId: receipt.job.id },
      'fault wrong-output: verifiers refused; answering anyway without their attestations',
    )
    return { ...receipt, quorum: { threshold: receipt.job.quorum, attestations: [] } }
  }
}

/**
 * Changes one generated token (the third, or the last of a shorter output) to another id of the
 * model's vocabulary, leaving the text as generated: the receipt then claims tokens the model did
 * not produce, which `reexec` and `replay` verifiers must catch.
 *
 * @example
 * ```ts
 * const altered = withWrongToken(completion, manifest)
 * ```
 */
export function withWrongToken<T extends { tokens: number[] }>(
  completion: T,
  manifest: Pick<Manifest, 'gguf'>,
): T {
  if (completion.tokens.length === 0) return completion
  const tokens = [...completion.tokens]
  const at = Math.min(2, tokens.length - 1)
  const token = tokens[at] as number
  // another id of the vocabulary whenever there is one (+7, or +1 where +7 wraps onto itself)
  const vocab = manifest.gguf?.tokenizer.vocabSize ?? Number.MAX_SAFE_INTEGER
  const shifted = (token + 7) % vocab
  tokens[at] = shifted === token ? (token + 1) % vocab : shifted
  return { ...completion, tokens }
}
