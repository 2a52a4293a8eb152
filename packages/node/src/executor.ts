import type { Engine } from '@verity/engine'
import { validateInputs } from '@verity/engine'
import type { StoredModel } from '@verity/hub'
import {
  BaseError,
  canonicalJson,
  computeJobId,
  createInferenceRequest,
  createReceipt,
  decodeTensors,
  encodeTensors,
  type Hash,
  hashCanonicalJson,
  hashTensors,
  type InferenceRequestMessage,
  type Mode,
  modeIds,
  type NamedTensors,
  type Receipt,
  toBaseError,
  type VerityDomain,
} from '@verity/protocol'
import { isAddressEqual, type LocalAccount, zeroAddress } from 'viem'
import type { JobRecord, JobStore } from './db/createJobStore.ts'
import type { NodeLogger } from './logger.ts'
import type { NodeMetrics } from './metrics.ts'
import type { ModelService } from './models.ts'
import { requestFromJson, requestToJson } from './requestJson.ts'
import { checkRequestSignature } from './verification/checkRequestSignature.ts'

/**
 * One inference call as the gateway hands it over: the model reference, decoded input tensors and,
 * when the client signed, the request message, requester and signature.
 *
 * @example
 * ```ts
 * const call: InferCall = { model: 'digits@1.0.0', inputs: { image } }
 * ```
 */
export type InferCall = {
  /** A CID, a name or `name@version`. */
  model: string
  inputs: NamedTensors
  /** The request message (signed, or unsigned to choose nonce/deadline for idempotent retries). */
  request?: InferenceRequestMessage | undefined
  /** The signer of `request`; the zero address (or absent) for unsigned requests. */
  requester?: `0x${string}` | undefined
  signature?: Hash | undefined
  /** Embed the output tensors in the receipt (default true). */
  includeOutput?: boolean | undefined
}

/**
 * The outcome of a job: the stored receipt (object and its canonical JSON, byte for byte what is in
 * the database) and the output tensors. `replayed` is true when the job id was already known and
 * the stored receipt was returned without running again.
 *
 * @example
 * ```ts
 * const { receipt, receiptJson, outputs, replayed }: InferResult = await executor.infer(call)
 * ```
 */
export type InferResult = {
  receipt: Receipt
  receiptJson: string
  outputs: NamedTensors
  replayed: boolean
}

/**
 * The seam for verification modes other than `none`: runs after the executor has built and signed
 * its receipt and before the receipt is stored, gathers the evidence the mode needs (a quorum of
 * re-executions, a proof, an attestation) and returns the receipt to store. Until one is registered
 * for a mode, requests in that mode are refused before anything runs.
 *
 * @example
 * ```ts
 * const reexec: Verification = { mode: 'reexec', complete: async ({ receipt }) => ({ ...receipt, quorum }) }
 * ```
 */
export type Verification = {
  mode: Exclude<Mode, 'none'>
  /**
   * Refuses, before the job is stored or run, a request this mode cannot serve (a quorum out of
   * range, too few peers, inputs a circuit cannot take). Optional.
   */
  check?(parameters: {
    request: InferenceRequestMessage
    model: StoredModel
    /** The call's inputs (already validated against the manifest). */
    inputs?: NamedTensors | undefined
  }): Promise<void>
  complete(parameters: {
    job: JobRecord
    model: StoredModel
    inputs: NamedTensors
    outputs: NamedTensors
    receipt: Receipt
    signal: AbortSignal
  }): Promise<Receipt>
}

/**
 * The settlement seam: `quote` prices a job before it is accepted (refusing it with its error, or
 * `undefined` for a job that is not settled) and `record` queues its stored receipt for an on-chain
 * batch. `record` must not throw; without the quote (a job recovered after a restart) it uses the
 * one it stored at quote time.
 *
 * @example
 * ```ts
 * const settlement: ExecutorSettlement = createSettlement(options, components)
 * ```
 */
export type ExecutorSettlement = {
  quote(parameters: {
    request: InferenceRequestMessage
    requester: `0x${string}`
    model: StoredModel
  }): Promise<{ fee: bigint; modelId: bigint } | undefined>
  record(receipt: Receipt, quote?: { fee: bigint; modelId: bigint } | undefined): void
}

/**
 * What a recovery pass did with the jobs a previous run left unfinished.
 *
 * @example
 * ```ts
 * const { completed, failed }: RecoveryReport = await executor.recover()
 * ```
 */
export type RecoveryReport = { completed: number; failed: number; skipped: number }

/**
 * The executor service: validates and authorizes calls, stores each job before running it, runs
 * the engine, signs the receipt and stores it before answering; completes unfinished jobs after a
 * restart.
 *
 * @example
 * ```ts
 * const executor: Executor = createExecutor(options, components)
 * ```
 */
export type Executor = {
  infer(call: InferCall): Promise<InferResult>
  /** Re-executes jobs left `accepted`/`running` by a crash (sequentially, oldest first). */
  recover(): Promise<RecoveryReport>
  /** Refuses new calls and waits up to `timeoutMs` for running ones; true when all finished. */
  drain(timeoutMs: number): Promise<boolean>
  /** Jobs executing now. */
  readonly inFlight: number
  /** The verification modes this executor accepts (`none` plus registered verifications). */
  readonly modes: readonly Mode[]
}

/**
 * Options of {@link createExecutor} (plain data, from `NodeOptions`).
 *
 * @example
 * ```ts
 * const options: ExecutorOptions = { domain: localDomain, maxJobAttempts: 3, unsignedDeadlineSeconds: 3600, enabled: true }
 * ```
 */
export type ExecutorOptions = {
  /** The EIP-712 domain receipts are signed under and request signatures are checked against. */
  domain: VerityDomain
  /** Started-but-unfinished jobs are given up (marked failed) after this many attempts. */
  maxJobAttempts: number
  /** Deadline given to unsigned calls that bring no request, in seconds from now. */
  unsignedDeadlineSeconds: number
  /** Whether this node executes (the `executor` role); if not, every call is refused. */
  enabled: boolean
}

/**
 * What {@link createExecutor} needs from the node.
 *
 * @example
 * ```ts
 * const components: ExecutorComponents = { account, engine, models, jobs, metrics, logger, signal }
 * ```
 */
export type ExecutorComponents = {
  /** The node key: signs receipts as the executor. */
  account: LocalAccount
  engine: Engine
  models: ModelService
  jobs: JobStore
  metrics: NodeMetrics
  logger: NodeLogger
  /** The node's lifetime: when it aborts, running engine calls are killed (the jobs resume later). */
  signal: AbortSignal
  verifications?: readonly Verification[] | undefined
  /** Prices jobs before they are accepted and settles their receipts on-chain (none: all free). */
  settlement?: ExecutorSettlement | undefined
  now?: (() => number) | undefined
}

const emptyParamsHash = hashCanonicalJson({})
const modeById = Object.fromEntries(
  Object.entries(modeIds).map(([mode, id]) => [id, mode]),
) as Record<number, Mode>

function unavailable(message: string, hint: string): BaseError {
  return new BaseError('NODE_UNAVAILABLE', message, { metaMessages: [hint] })
}

/**
 * Creates the executor.
 *
 * @example
 * ```ts
 * const executor = createExecutor(
 *   { domain, maxJobAttempts: 3, unsignedDeadlineSeconds: 3600, enabled: true },
 *   { account, engine, models, jobs, metrics, logger, signal },
 * )
 * const { receipt, outputs } = await executor.infer({ model: 'digits', inputs: { image } })
 * ```
 */
export function createExecutor(options: ExecutorOptions, components: ExecutorComponents): Executor {
  const { account, engine, models, jobs, metrics, signal, settlement } = components
  const logger = components.logger.child({ module: 'executor' })
  const now = components.now ?? Date.now
  const verifications = new Map((components.verifications ?? []).map((v) => [v.mode, v]))
  const running = new Map<string, Promise<InferResult>>()
  let draining = false

  function nowSeconds(): bigint {
    return BigInt(Math.floor(now() / 1000))
  }

  function checkMode(mode: number): Mode {
    const name = modeById[mode]
    if (name === undefined || (name !== 'none' && !verifications.has(name)))
      throw new BaseError(
        'MODE_UNSUPPORTED',
        `Verification mode "${name ?? mode}" is not offered by this node.`,
        { metaMessages: [`Supported modes: ${['none', ...verifications.keys()].join(', ')}.`] },
      )
    return name
  }

  function checkDeadline(deadline: bigint): void {
    const current = nowSeconds()
    if (deadline <= current)
      throw new BaseError(
        'REQUEST_EXPIRED',
        `The request's deadline ${deadline} has passed (now ${current}).`,
        { metaMessages: ['Sign a new request with a later deadline.'] },
      )
  }

  /**
   * Checks the request against the model and inputs, and its signature; returns who asked. The
   * deadline is checked by the caller, after a finished job with the same id had its chance.
   */
  async function authorize(
    call: InferCall,
    model: StoredModel,
  ): Promise<{ request: InferenceRequestMessage; requester: `0x${string}`; signature?: Hash }> {
    if (call.request === undefined) {
      if (call.signature !== undefined)
        throw new BaseError(
          'INVALID_ARGUMENT',
          'A signature was given without the request it signs.',
          {
            metaMessages: [
              'Send the signed fields as "request" together with "requester" and "signature".',
            ],
          },
        )
      if (call.requester !== undefined && !isAddressEqual(call.requester, zeroAddress))
        throw new BaseError(
          'SIGNATURE_INVALID',
          `Requester ${call.requester} is named but nothing is signed.`,
          {
            metaMessages: [
              'Sign the request (EIP-712 InferenceRequest), or leave "requester" out.',
            ],
          },
        )
      return {
        request: createInferenceRequest({
          modelCid: model.cid,
          manifestHash: model.manifestHash,
          inputs: call.inputs,
          deadline: nowSeconds() + BigInt(options.unsignedDeadlineSeconds),
          now,
        }),
        requester: zeroAddress,
      }
    }
    const { request } = call
    if (request.modelCid !== model.cid)
      throw new BaseError(
        'MANIFEST_HASH_MISMATCH',
        `The request is for model ${request.modelCid}, but "model" resolves to ${model.cid}.`,
        { metaMessages: ['Send the CID of the model the request names as "model".'] },
      )
    if (request.manifestHash !== model.manifestHash)
      throw new BaseError(
        'MANIFEST_HASH_MISMATCH',
        `The request's manifest hash ${request.manifestHash} is not this node's manifest of ${model.cid} (${model.manifestHash}).`,
        { metaMessages: ['Fetch the manifest from GET /v1/models/<cid> and sign its hash.'] },
      )
    const inputHash = hashTensors(call.inputs)
    if (request.inputHash !== inputHash)
      throw new BaseError(
        'INPUT_HASH_MISMATCH',
        `The request's input hash ${request.inputHash} does not match the inputs sent (${inputHash}).`,
        {
          metaMessages: ['Hash the exact tensors you send (canonical tensor encoding, keccak256).'],
        },
      )
    if (request.paramsHash !== emptyParamsHash)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `The request's params hash ${request.paramsHash} is not the hash of no parameters (${emptyParamsHash}).`,
        { metaMessages: ['ONNX models take no generation parameters: hash {} as canonical JSON.'] },
      )
    if (call.signature === undefined) {
      if (call.requester !== undefined && !isAddressEqual(call.requester, zeroAddress))
        throw new BaseError(
          'SIGNATURE_INVALID',
          `Requester ${call.requester} is named but the request is not signed.`,
          {
            metaMessages: [
              'Add the EIP-712 signature, or leave "requester" out for an unsigned request.',
            ],
          },
        )
      return { request, requester: zeroAddress }
    }
    if (call.requester === undefined)
      throw new BaseError(
        'INVALID_ARGUMENT',
        'A signed request needs "requester" (the signer address).',
      )
    const requester = await checkRequestSignature({
      request,
      requester: call.requester,
      signature: call.signature,
      domain: options.domain,
    })
    return { request, requester, signature: call.signature }
  }

  function fromStore(job: JobRecord): InferResult {
    const stored = jobs.getReceipt(job.id)
    if (stored === undefined)
      throw new BaseError('INTERNAL', `Job ${job.id} is done but its receipt is missing.`)
    metrics.jobs.inc({ mode: job.mode, status: 'replayed' })
    return {
      receipt: JSON.parse(stored.receiptJson) as Receipt,
      receiptJson: stored.receiptJson,
      outputs: decodeTensors(stored.outputs),
      replayed: true,
    }
  }

  async function execute(
    job: JobRecord,
    model: StoredModel,
    inputs: NamedTensors,
    quote?: { fee: bigint; modelId: bigint } | undefined,
  ): Promise<InferResult> {
    const started = performance.now()
    const log = logger.child({ jobId: job.id })
    metrics.jobsInFlight.inc()
    try {
      const attempt = jobs.markRunning(job.id)
      log.info({ cid: model.cid, mode: job.mode, attempt }, 'job running')
      // a job recovered after a restart in a mode this node no longer offers: no evidence, no receipt
      if (job.mode !== 'none') checkMode(modeIds[job.mode])
      await models.load(model)
      signal.throwIfAborted()
      const engineStarted = performance.now()
      const { outputs } = await engine.run({ id: model.cid, inputs, signal })
      metrics.engineRun.observe((performance.now() - engineStarted) / 1000)
      const request = requestFromJson(job.request.message)
      let receipt = await createReceipt({
        account,
        requester: job.requester,
        request,
        ...(job.request.signature ? { requestSignature: job.request.signature } : {}),
        outputs,
        engine: engine.descriptor,
        includeOutput: job.request.includeOutput,
        domain: options.domain,
        now,
      })
      if (receipt.job.id !== job.id)
        throw new BaseError(
          'INTERNAL',
          `Receipt job id ${receipt.job.id} differs from the stored job ${job.id}.`,
        )
      // Verification seam: modes other than `none` complete the receipt with their evidence here.
      const verification = job.mode === 'none' ? undefined : verifications.get(job.mode)
      if (verification)
        receipt = await verification.complete({ job, model, inputs, outputs, receipt, signal })
      const receiptJson = canonicalJson(receipt)
      jobs.complete(job.id, { receiptJson, outputs: encodeTensors(outputs) })
      settlement?.record(receipt, quote)
      const seconds = (performance.now() - started) / 1000
      metrics.jobs.inc({ mode: job.mode, status: 'done' })
      metrics.jobDuration.observe({ mode: job.mode }, seconds)
      log.info({ ms: Math.round(seconds * 1000) }, 'job done')
      return { receipt, receiptJson, outputs, replayed: false }
    } catch (error) {
      if (signal.aborted) {
        // Stopped mid-job: leave it unfinished so the next start completes it.
        log.warn('job interrupted by shutdown; it resumes on restart')
        throw unavailable(
          'The node stopped before the job finished.',
          'The job is stored and completes after the node restarts: send the same signed request again to get its receipt.',
        )
      }
      const failure = toBaseError(error)
      jobs.fail(job.id, { code: failure.code, message: failure.shortMessage })
      metrics.jobs.inc({ mode: job.mode, status: 'failed' })
      log.warn({ code: failure.code }, 'job failed')
      throw failure
    } finally {
      metrics.jobsInFlight.dec()
    }
  }

  function track(id: string, run: Promise<InferResult>): Promise<InferResult> {
    running.set(id, run)
    const forget = () => {
      if (running.get(id) === run) running.delete(id)
    }
    run.then(forget, forget)
    return run
  }

  function refuseWhenClosed(): void {
    if (!options.enabled)
      throw unavailable(
        'This node does not execute inference (it runs without the executor role).',
        'Send the request to an executor node; forwarding between nodes comes later.',
      )
    if (draining || signal.aborted)
      throw unavailable(
        'The node is shutting down.',
        'Retry on another node, or here after it restarts.',
      )
  }

  async function infer(call: InferCall): Promise<InferResult> {
    refuseWhenClosed()
    let mode: Mode = 'none'
    let executing = false
    try {
      const model = await models.resolve(call.model)
      validateInputs(model.manifest, call.inputs)
      mode = call.request === undefined ? 'none' : checkMode(call.request.mode)
      const { request, requester, signature } = await authorize(call, model)
      const verification = mode === 'none' ? undefined : verifications.get(mode)
      // a finished job is answered from the store below, whatever the verifiers' state now
      const done = jobs.get(computeJobId(requester, request))?.status === 'done'
      if (verification?.check && !done)
        await verification.check({ request, model, inputs: call.inputs })
      // priced (and the payer's escrow checked) before anything is stored; refusals throw
      const quote =
        settlement && !done ? await settlement.quote({ request, requester, model }) : undefined
      refuseWhenClosed()
      const id = computeJobId(requester, request)
      // From here to `track` there is no await: a second call with the same id sees this one.
      const inFlight = running.get(id)
      if (inFlight) {
        executing = true
        const result = await inFlight
        metrics.jobs.inc({ mode, status: 'replayed' })
        return { ...result, replayed: true }
      }
      const existing = jobs.get(id)
      // A finished job is answered from the store even after its deadline: no new execution.
      if (existing?.status === 'done') return fromStore(existing)
      checkDeadline(request.deadline)
      const job = {
        id,
        requester,
        modelCid: model.cid,
        mode,
        request: {
          message: requestToJson(request),
          ...(signature ? { signature } : {}),
          includeOutput: call.includeOutput ?? true,
        },
        inputs: encodeTensors(call.inputs),
      }
      const accepted = jobs.accept(job)
      if (!accepted.inserted && accepted.existing.status === 'done')
        return fromStore(accepted.existing)
      const record = jobs.get(id) as JobRecord
      logger.info({ jobId: id, cid: model.cid, mode, requester }, 'job accepted')
      executing = true
      return await track(id, execute(record, model, call.inputs, quote))
    } catch (error) {
      // refused before anything ran (execute counts its own failures)
      if (!executing) metrics.jobs.inc({ mode, status: 'rejected' })
      throw error
    }
  }

  async function recoverJob(job: JobRecord): Promise<'completed' | 'failed' | 'skipped'> {
    const existing = running.get(job.id)
    if (existing)
      return existing.then(
        () => 'skipped' as const,
        () => 'skipped' as const,
      )
    const current = jobs.get(job.id)
    if (current === undefined || current.status === 'done' || current.status === 'failed')
      return 'skipped'
    const giveUp = (code: string, message: string) => {
      jobs.fail(job.id, { code, message })
      metrics.jobs.inc({ mode: job.mode, status: 'failed' })
      logger.warn({ jobId: job.id, code }, `recovery: ${message}`)
      return 'failed' as const
    }
    if (current.attempts >= options.maxJobAttempts)
      return giveUp('INTERNAL', `gave up after ${current.attempts} interrupted attempts`)
    let model: StoredModel
    let inputs: NamedTensors
    try {
      checkDeadline(BigInt(current.request.message.deadline))
      model = await models.resolve(current.modelCid)
      inputs = decodeTensors(current.inputs)
    } catch (error) {
      const failure = toBaseError(error)
      return giveUp(failure.code, failure.shortMessage)
    }
    // a client may have retried this job while the model resolved: never run it twice
    const retried = running.get(job.id)
    if (retried)
      return retried.then(
        () => 'skipped' as const,
        () => 'skipped' as const,
      )
    const latest = jobs.get(job.id)
    if (latest === undefined || latest.status === 'done' || latest.status === 'failed')
      return 'skipped'
    try {
      await track(job.id, execute(latest, model, inputs))
      return 'completed'
    } catch {
      return signal.aborted ? 'skipped' : 'failed'
    }
  }

  return {
    infer,

    async recover() {
      const report: RecoveryReport = { completed: 0, failed: 0, skipped: 0 }
      if (!options.enabled) return report
      const pending = jobs.unfinished()
      if (pending.length)
        logger.info({ jobs: pending.length }, 'recovery: resuming unfinished jobs')
      for (const job of pending) {
        if (draining || signal.aborted) {
          report.skipped++
          continue
        }
        report[await recoverJob(job)]++
      }
      logger.info(report, 'recovery complete')
      return report
    },

    async drain(timeoutMs) {
      draining = true
      if (running.size === 0) return true
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
      })
      const settled = Promise.allSettled([...running.values()]).then(() => true as const)
      try {
        return await Promise.race([settled, timedOut])
      } finally {
        clearTimeout(timer)
      }
    },

    get inFlight() {
      return running.size
    },

    modes: ['none', ...verifications.keys()],
  }
}
