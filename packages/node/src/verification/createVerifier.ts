import { type Engine, resolveSampling, type TextEngine } from '@verity/engine'
import type { StoredModel } from '@verity/hub'
import {
  type Attestation,
  BaseError,
  canonicalJson,
  compareOutputs,
  type Hash,
  hashTensors,
  hashTextOutput,
  isBaseError,
  jsonSchemaOfResponseFormat,
  type NamedTensors,
  namedTensorsFromJson,
  type Receipt,
  signAttestation,
  type TextSection,
  type VerityDomain,
  verifyReceipt,
} from '@verity/protocol'
import { isAddressEqual, type LocalAccount } from 'viem'
import type { TextService } from '../llm/createTextService.ts'
import { generateWithEngine } from '../llm/generateWithEngine.ts'
import type { NodeLogger } from '../logger.ts'
import type { ModelService } from '../models.ts'
import type { GivenAttestation, VerificationStore } from './createVerificationStore.ts'
import type { TextVerifyMethod, VerifyBody } from './parseVerifyBody.ts'
import type { PeerDirectory } from './peerDirectory.ts'
import type { VerificationMetrics } from './verificationMetrics.ts'

/**
 * Options of {@link createVerifier} (plain data, from `NodeOptions`).
 *
 * @example
 * ```ts
 * const options: VerifierOptions = { domain: localDomain, enabled: true }
 * ```
 */
export type VerifierOptions = {
  /** Receipts must be signed under this domain; attestations are signed under it. */
  domain: VerityDomain
  /** Whether this node has the `verifier` role; if not, every request is refused (503). */
  enabled: boolean
}

/**
 * What {@link createVerifier} needs from the node.
 *
 * @example
 * ```ts
 * const components: VerifierComponents = { account, engine, models, peers, store, metrics, logger, signal }
 * ```
 */
export type VerifierComponents = {
  /** The node key: signs attestations. */
  account: LocalAccount
  engine: Pick<Engine, 'run'>
  models: Pick<ModelService, 'resolve' | 'load'>
  /** Only executors listed here are served. */
  peers: Pick<PeerDirectory, 'get'>
  store: VerificationStore
  metrics: VerificationMetrics
  logger: NodeLogger
  /** The text engines (GGUF models): without it, text receipts are refused (`MODE_UNSUPPORTED`). */
  text?: Pick<TextService, 'engineFor'> | undefined
  /** The node's lifetime: re-executions stop when it aborts. */
  signal: AbortSignal
}

/**
 * A verification request: the decoded body and the caller's signal (the HTTP request's: an
 * executor that gives up cancels the re-execution).
 *
 * @example
 * ```ts
 * const parameters: VerifyParameters = { receipt, inputs, signal: request.signal }
 * ```
 */
export type VerifyParameters = VerifyBody & { signal?: AbortSignal | undefined }

/**
 * The verifier's answer: its signed attestation about the executor's output hash and, when it
 * disagrees, the hash it computed itself and why. `replayed` when the answer came from the store.
 *
 * @example
 * ```ts
 * const { attestation, observedOutputHash }: VerifyResult = await verifier.verify({ receipt, inputs })
 * ```
 */
export type VerifyResult = {
  attestation: Attestation
  observedOutputHash?: Hash | undefined
  reason?: string | undefined
  replayed: boolean
}

/**
 * The verifier role: authenticates an executor's receipt, re-executes the job with the local
 * engine, compares under the model's rule and signs `agree: true | false`.
 *
 * @example
 * ```ts
 * const verifier: Verifier = createVerifier(options, components)
 * const { attestation } = await verifier.verify({ receipt, inputs })
 * ```
 */
export type Verifier = {
  verify(parameters: VerifyParameters): Promise<VerifyResult>
  /** Waits up to `timeoutMs` for running verifications to settle; true when none is left. */
  drain(timeoutMs: number): Promise<boolean>
  /** Verifications running now. */
  readonly inFlight: number
}

function sameDomain(a: VerityDomain, b: VerityDomain): boolean {
  return (
    a.chainId === b.chainId &&
    (a.verifyingContract ?? '').toLowerCase() === (b.verifyingContract ?? '').toLowerCase()
  )
}

function fromStore(given: GivenAttestation, replayed: boolean): VerifyResult {
  return {
    attestation: given.attestation,
    ...(given.attestation.agree || given.observedOutputHash === undefined
      ? {}
      : { observedOutputHash: given.observedOutputHash }),
    ...(given.attestation.agree || given.reason === undefined ? {} : { reason: given.reason }),
    replayed,
  }
}

/**
 * Creates the verifier role behind `POST /v1/verify`.
 *
 * The caller is authenticated by the receipt itself: it must be a `reexec` receipt without a
 * quorum yet, signed under this node's domain, by an executor the peer directory knows (never this
 * node), pass protocol's `verifyReceipt` up to the executor signature, embed its output, and the
 * inputs must hash to `job.inputHash`. A model the node does not hold is fetched from its peers
 * (IPFS) under the manifest hash the receipt names, when the node runs model distribution. Then the job is re-executed and compared with
 * `compareOutputs(manifest.comparison, …)`.
 *
 * A text receipt (`receipt.text`: input, parameters and output, covered by the signed hashes) needs
 * no inputs: the model's text engine (`components.text.engineFor`) re-checks it by `method`:
 * `replay` (the prompt tokenized or chat-templated as generation does, then one teacher-forced pass
 * over the claimed tokens; near ties within the engine's tolerance count as matches) or `reexec`
 * (generate again, token ids compared exactly). Tokens, text and finish reason must all match.
 *
 * Idempotent: each attestation is stored (with the receipt it judged) before it is returned, and a
 * replay returns it unchanged. A second receipt from the same executor for the same job with
 * another output hash is equivocation: both signed receipts are stored as evidence and the answer
 * is `agree: false` with the reason, without re-executing.
 *
 * Error codes: `NODE_UNAVAILABLE` (no verifier role), `MODE_UNSUPPORTED`, `RECEIPT_INVALID`,
 * `RECEIPT_DOMAIN_MISMATCH`, `RECEIPT_SIGNER_MISMATCH` (unknown executor, or this node),
 * `INPUT_HASH_MISMATCH`, `RECEIPT_*` of the failing `verifyReceipt` check, `MODEL_NOT_FOUND`,
 * `MANIFEST_HASH_MISMATCH`, and the engine's codes.
 *
 * @example
 * ```ts
 * const verifier = createVerifier(
 *   { domain, enabled: true },
 *   { account, engine, models, peers, store, metrics, logger, signal },
 * )
 * ```
 */
export function createVerifier(options: VerifierOptions, components: VerifierComponents): Verifier {
  const { account, engine, models, peers, store, metrics, signal } = components
  const logger = components.logger.child({ module: 'verifier' })
  const locks = new Map<string, Promise<unknown>>()
  const running = new Set<Promise<unknown>>()

  /** Runs `body` after every earlier verification of the same job (no double execution). */
  function serialize<T>(jobId: string, body: () => Promise<T>): Promise<T> {
    const previous = locks.get(jobId) ?? Promise.resolve()
    const run = previous.then(body, body)
    const tail = run.then(
      () => {},
      () => {},
    )
    locks.set(jobId, tail)
    void tail.then(() => {
      if (locks.get(jobId) === tail) locks.delete(jobId)
    })
    return run
  }

  async function authenticate(
    receipt: Receipt,
    inputs: NamedTensors | undefined,
  ): Promise<{ model: StoredModel; executorOutputs: NamedTensors | undefined }> {
    const { job, executor } = receipt
    if (job.mode !== 'reexec')
      throw new BaseError(
        'MODE_UNSUPPORTED',
        `Job ${job.id} is in mode '${job.mode}'; verifiers re-execute 'reexec' jobs only.`,
      )
    if (receipt.quorum !== undefined)
      throw new BaseError(
        'RECEIPT_INVALID',
        `The receipt of job ${job.id} already carries a quorum section.`,
        { metaMessages: ['Send the executor-signed receipt before attestations are added.'] },
      )
    if (!sameDomain(receipt.domain as VerityDomain, options.domain))
      throw new BaseError(
        'RECEIPT_DOMAIN_MISMATCH',
        `The receipt is signed for chain ${receipt.domain.chainId} ${receipt.domain.verifyingContract ?? ''}; this verifier signs for chain ${options.domain.chainId} ${options.domain.verifyingContract ?? ''}.`.replace(
          /\s+\./g,
          '.',
        ),
        { metaMessages: ['Executor and verifiers must belong to the same network.'] },
      )
    const executorAddress = executor.address as `0x${string}`
    if (isAddressEqual(executorAddress, account.address))
      throw new BaseError(
        'RECEIPT_SIGNER_MISMATCH',
        `Job ${job.id} was executed by this node (${account.address}); a node never verifies its own jobs.`,
      )
    const executorPeer = await peers.get(executorAddress)
    // a registered node without stake (weight 0) is not an executor anyone must serve
    if (executorPeer === undefined || executorPeer.weight === 0n)
      throw new BaseError(
        'RECEIPT_SIGNER_MISMATCH',
        `Executor ${executor.address} is not a known, staked peer of this verifier.`,
        {
          metaMessages: [
            'Verifiers serve only executors in their peer directory: staked in NodeRegistry, or listed with --peer <address>@<url>.',
          ],
        },
      )
    if (receipt.text === undefined && inputs === undefined)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `Job ${job.id} is a tensor job; the verify request carries no inputs.`,
        { metaMessages: ['Send {"receipt", "inputs"} for tensor jobs.'] },
      )
    if (receipt.text !== undefined && components.text === undefined)
      throw new BaseError(
        'MODE_UNSUPPORTED',
        `Job ${job.id} is a text generation; this verifier runs no text engine.`,
        { metaMessages: ['Ask a peer that serves GGUF models.'] },
      )
    const inputHash = inputs === undefined ? job.inputHash : hashTensors(inputs)
    if (inputHash !== job.inputHash)
      throw new BaseError(
        'INPUT_HASH_MISMATCH',
        `The inputs sent hash to ${inputHash}; job ${job.id} was requested for ${job.inputHash}.`,
        { metaMessages: ['Send the exact input tensors of the job (canonical tensor encoding).'] },
      )
    const verdict = await verifyReceipt(receipt)
    // Everything up to the executor signature must pass; the quorum is what is being built.
    const failed = verdict.checks.find(
      (check) => check.status === 'fail' && check.name !== 'quorum',
    )
    if (failed)
      throw new BaseError(
        failed.code ?? 'RECEIPT_INVALID',
        `The executor's receipt for job ${job.id} does not verify: ${failed.name}: ${failed.reason}.`,
        { metaMessages: ['Nothing was executed or signed.'] },
      )
    if (receipt.text === undefined && receipt.result.output === undefined)
      throw new BaseError(
        'RECEIPT_INVALID',
        `The receipt of job ${job.id} does not embed its output; a verifier compares tensors, not hashes.`,
        {
          metaMessages: [
            'Send the receipt with result.output (the signature covers only its hash).',
          ],
        },
      )
    let notFound: unknown
    const model = await models
      .resolve(job.model.cid, { manifestHash: job.model.manifestHash as Hash, signal })
      .catch((error: unknown) => {
        if (!isBaseError(error, 'MODEL_NOT_FOUND')) throw error
        notFound = error
        return undefined
      })
    if (model === undefined || model.cid !== job.model.cid)
      throw new BaseError(
        'MODEL_NOT_FOUND',
        `This verifier does not have model ${job.model.cid} and could not fetch it.`,
        {
          metaMessages: [
            'Add the model to this node (POST /v1/models or `verity model add`), or run it with IPFS distribution so it fetches models from peers.',
          ],
          ...(notFound
            ? { cause: notFound, details: (notFound as Error).message.split('\n')[0] }
            : {}),
        },
      )
    if (model.manifestHash !== job.model.manifestHash)
      throw new BaseError(
        'MANIFEST_HASH_MISMATCH',
        `Job ${job.id} names manifest ${job.model.manifestHash} for ${model.cid}; this verifier has ${model.manifestHash}.`,
        {
          metaMessages: [
            'Both nodes must hold the same manifest (same inputs, outputs, comparison rule).',
          ],
        },
      )
    if (receipt.text !== undefined && model.manifest.format !== 'gguf')
      throw new BaseError(
        'MODE_UNSUPPORTED',
        `Job ${job.id} is a text generation, but model ${model.cid} is a ${model.manifest.format} model.`,
        { metaMessages: ['Text receipts name GGUF models.'] },
      )
    return {
      model,
      executorOutputs:
        receipt.result.output === undefined
          ? undefined
          : namedTensorsFromJson(receipt.result.output),
    }
  }

  /** Re-checks a text generation: agree iff the same tokens, text and finish reason come out. */
  async function checkText(
    section: TextSection,
    method: TextVerifyMethod,
    model: StoredModel,
    callSignal: AbortSignal,
  ): Promise<{ equal: boolean; observedOutputHash?: Hash | undefined; reason?: string }> {
    const engine: TextEngine = await (components.text as Pick<TextService, 'engineFor'>).engineFor(
      model,
    )
    const id = model.cid
    const { params, input, output } = section
    const claimed = output.tokens
    if (method === 'replay') {
      const promptTokens = await engine.promptTokens(
        'messages' in input ? { id, messages: input.messages } : { id, prompt: input.prompt },
      )
      const replay = await engine.replay({
        id,
        promptTokens,
        tokens: claimed,
        maxTokens: params.maxTokens,
        stop: params.stop,
        sampling: resolveSampling({
          temperature: params.temperature,
          topK: params.topK,
          topP: params.topP,
          seed: params.seed,
        }),
        jsonSchema: jsonSchemaOfResponseFormat(params.responseFormat),
        signal: callSignal,
      })
      if (!replay.ok) {
        const at = replay.firstMismatch
        return {
          equal: false,
          reason: at
            ? `replay: token ${at.index} is ${at.actual ?? 'missing'}; the pinned sampler chooses ${at.expected ?? 'the end of generation'}`
            : 'replay: the claimed tokens are not what the model generates',
        }
      }
      if (replay.text !== output.text)
        return { equal: false, reason: 'replay: the tokens are right but the text is not theirs' }
      if (replay.finishReason !== section.finishReason)
        return {
          equal: false,
          reason: `replay: finish reason is ${replay.finishReason}, the receipt says ${section.finishReason}`,
        }
      return { equal: true, observedOutputHash: hashTextOutput(output) }
    }
    const again = await generateWithEngine(engine, { id, input, params, signal: callSignal })
    const observedOutputHash = hashTextOutput({ tokens: again.tokens, text: again.text })
    const index = claimed.findIndex((token, i) => again.tokens[i] !== token)
    if (index >= 0 || again.tokens.length !== claimed.length) {
      const at = index >= 0 ? index : Math.min(claimed.length, again.tokens.length)
      return {
        equal: false,
        observedOutputHash,
        reason: `reexec: token ${at} is ${claimed[at] ?? 'missing'}; re-execution generated ${again.tokens[at] ?? 'the end of generation'}`,
      }
    }
    if (again.text !== output.text || again.finishReason !== section.finishReason)
      return {
        equal: false,
        observedOutputHash,
        reason: 'reexec: same tokens, but the text or finish reason differs',
      }
    return { equal: true, observedOutputHash }
  }

  async function judge(
    receipt: Receipt,
    inputs: NamedTensors | undefined,
    method: TextVerifyMethod,
    model: StoredModel,
    executorOutputs: NamedTensors | undefined,
    callSignal: AbortSignal,
  ): Promise<VerifyResult> {
    const jobId = receipt.job.id as Hash
    const outputHash = receipt.result.outputHash as Hash
    const executor = receipt.executor.address as `0x${string}`
    const log = logger.child({ jobId, executor })
    const stored = store.findAttestation({ jobId, verifier: account.address, outputHash })
    if (stored) {
      metrics.attestationsGiven.inc({ verdict: 'replayed' })
      return fromStore(stored, true)
    }
    const earlier = store
      .attestationsFor(jobId, account.address)
      .find((given) => isAddressEqual(given.executor, executor))
    if (earlier) {
      const reason = `executor ${executor} signed two receipts for job ${jobId} with different outputs (${earlier.attestation.outputHash}, then ${outputHash}): equivocation`
      const first = JSON.parse(earlier.receiptJson) as Receipt
      const evidence = store.addEvidence({
        jobId,
        kind: 'equivocation',
        accused: [executor],
        reason,
        receipts: [first, receipt],
        attestations: [],
      })
      const attestation = await signAttestation({
        account,
        jobId,
        outputHash,
        agree: false,
        domain: options.domain,
      })
      const given = store.putAttestation({
        jobId,
        executor,
        attestation,
        observedOutputHash: earlier.observedOutputHash,
        reason,
        receiptJson: canonicalJson(receipt),
      })
      metrics.attestationsGiven.inc({ verdict: 'equivocation' })
      log.warn({ evidence: evidence.id }, 'executor equivocation: both receipts kept as evidence')
      return fromStore(given, false)
    }
    const started = performance.now()
    let comparison: { equal: boolean; reason?: string | undefined }
    let observedOutputHash: Hash | undefined
    if (receipt.text !== undefined) {
      const checked = await checkText(receipt.text, method, model, callSignal)
      comparison = checked
      observedOutputHash = checked.observedOutputHash
    } else {
      await models.load(model)
      const { outputs } = await engine.run({
        id: model.cid,
        inputs: inputs as NamedTensors,
        signal: callSignal,
      })
      comparison = compareOutputs(
        model.manifest.comparison,
        executorOutputs as NamedTensors,
        outputs,
      )
      observedOutputHash = hashTensors(outputs)
    }
    const attestation = await signAttestation({
      account,
      jobId,
      outputHash,
      agree: comparison.equal,
      domain: options.domain,
    })
    const given = store.putAttestation({
      jobId,
      executor,
      attestation,
      observedOutputHash,
      reason: comparison.reason,
      receiptJson: canonicalJson(receipt),
    })
    metrics.attestationsGiven.inc({ verdict: comparison.equal ? 'agree' : 'disagree' })
    const ms = Math.round(performance.now() - started)
    if (comparison.equal)
      log.info({ agree: true, ms, ...(receipt.text ? { method } : {}) }, 'attested')
    else log.warn({ agree: false, ms, reason: comparison.reason }, 'attested: output differs')
    return fromStore(given, false)
  }

  return {
    async verify(parameters) {
      if (!options.enabled)
        throw new BaseError('NODE_UNAVAILABLE', 'This node does not verify (no verifier role).', {
          metaMessages: ['Ask another peer; this one runs without the verifier role.'],
        })
      signal.throwIfAborted()
      const run = (async () => {
        const { receipt, inputs } = parameters
        const method = parameters.method ?? 'replay'
        const { model, executorOutputs } = await authenticate(receipt, inputs)
        const callSignal = parameters.signal ? AbortSignal.any([signal, parameters.signal]) : signal
        return serialize(receipt.job.id, () =>
          judge(receipt, inputs, method, model, executorOutputs, callSignal),
        )
      })()
      running.add(run)
      const forget = () => running.delete(run)
      run.then(forget, forget)
      return run
    },

    async drain(timeoutMs) {
      if (running.size === 0) return true
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
      })
      const settled = Promise.allSettled([...running]).then(() => true as const)
      try {
        return await Promise.race([settled, timedOut])
      } finally {
        clearTimeout(timer)
      }
    },

    get inFlight() {
      return running.size
    },
  }
}
