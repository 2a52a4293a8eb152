import {
  createGgufEngine,
  ggufEngineOptionsFromManifest,
  type TextCompletion,
  type TextEngine,
} from '@verity/engine'
import type { ModelStore, StoredModel } from '@verity/hub'
import {
  BaseError,
  canonicalJson,
  computeJobId,
  createInferenceRequest,
  createReceipt,
  type GenerationParams,
  type Hash,
  hashGenerationParams,
  hashTextInput,
  type InferenceRequestMessage,
  isBaseError,
  modeIds,
  type Receipt,
  type TextInput,
  type TextSection,
  type VerityDomain,
} from '@verity/protocol'
import { Counter, Histogram, type Registry } from 'prom-client'
import { type LocalAccount, zeroAddress } from 'viem'
import type { JobStore } from '../db/createJobStore.ts'
import type { ExecutorSettlement } from '../executor.ts'
import type { NodeLogger } from '../logger.ts'
import { requestToJson } from '../requestJson.ts'
import { checkRequestSignature } from '../verification/checkRequestSignature.ts'
import type { ReexecVerification } from '../verification/createReexecVerification.ts'
import type { TextVerifyMethod } from '../verification/parseVerifyBody.ts'
import { generateWithEngine } from './generateWithEngine.ts'

/**
 * How a text generation is verified: `reexec` with a quorum of `quorum` verifiers, each checking
 * the output by `method` (`replay` by default).
 *
 * @example
 * ```ts
 * const verification: TextVerificationRequest = { mode: 'reexec', quorum: 2, method: 'replay' }
 * ```
 */
export type TextVerificationRequest = {
  mode: 'reexec'
  quorum: number
  method?: TextVerifyMethod | undefined
}

/**
 * One text generation as the OpenAI routes hand it over.
 *
 * @example
 * ```ts
 * const call: TextCall = { model: 'stories260k', input: { prompt: 'Once upon a time' }, params }
 * ```
 */
export type TextCall = {
  /** A CID, a name or `name@version` of a GGUF model. */
  model: string
  input: TextInput
  /** Every generation parameter, defaults filled in (`parseOpenAiRequest`). */
  params: GenerationParams
  /** Streams each generated token's text. */
  onToken?: ((text: string) => void) | undefined
  /** Aborts the generation (a client that went away): the engine slot is freed. */
  signal?: AbortSignal | undefined
  /**
   * Verify the output before answering (default: mode `none`, the executor's signature only). For
   * a signed request the signed `mode` and `quorum` decide; only `method` is taken from here.
   */
  verification?: TextVerificationRequest | undefined
  /**
   * The requester's EIP-712 signature over the `InferenceRequest` of this generation (its
   * `inputHash` and `paramsHash` must be those of `input` and `params`). A signed job has a
   * stable id: the same signed request, streamed or not, is answered with the same stored receipt,
   * and a paid one (`maxFee`) is settled on-chain like a tensor job.
   */
  signed?: SignedTextRequest | undefined
}

/**
 * A signed text request as the OpenAI routes receive it (the body's `verity` field).
 *
 * @example
 * ```ts
 * const signed: SignedTextRequest = { request, requester: account.address, signature }
 * ```
 */
export type SignedTextRequest = {
  request: InferenceRequestMessage
  requester: `0x${string}`
  signature: Hash
}

/**
 * A finished generation: the signed receipt (its `text` section holds input, parameters and
 * output) and the engine's result.
 *
 * @example
 * ```ts
 * const { receipt, completion }: TextResult = await text.generate(call)
 * ```
 */
export type TextResult = {
  receipt: Receipt
  /** Absent when the answer is a stored receipt (`replayed`). */
  completion?: TextCompletion | undefined
  model: StoredModel
  /** The job was done before: its stored receipt is the answer, nothing was generated. */
  replayed: boolean
}

/**
 * The node's text generation: resolves a GGUF model from the store, loads it once into the text
 * engine, generates under the manifest's pinned decoding configuration and signs a receipt whose
 * hashes cover the prompt, every generation parameter, and the token ids with their text.
 *
 * @example
 * ```ts
 * const text: TextService = createTextService({ domain }, { engine, store, account, logger })
 * ```
 */
export type TextService = {
  generate(call: TextCall): Promise<TextResult>
  /** The loaded text engine of a GGUF model (loaded on first use; the id is `model.cid`). */
  engineFor(model: StoredModel): Promise<TextEngine>
  /** Stops every engine (their worker processes). */
  close(): Promise<void>
}

/**
 * Creates the text service.
 *
 * @example
 * ```ts
 * const text = createTextService({ domain, unsignedDeadlineSeconds: 3600 }, { engine, store, account, logger })
 * const { receipt, completion } = await text.generate({ model: 'stories', input: { prompt: 'Hi' }, params })
 * ```
 */
export function createTextService(
  options: { domain: VerityDomain; unsignedDeadlineSeconds: number },
  components: {
    /**
     * The engine of one model: its decoding settings are the manifest's (batch sizes change
     * llama.cpp's outputs). Default: `createGgufEngine(ggufEngineOptionsFromManifest(manifest))`.
     */
    engineFor?: ((manifest: StoredModel['manifest']) => TextEngine) | undefined
    store: ModelStore
    /**
     * Resolves a model reference (default: the store only). The node passes its model service, so
     * a model it lacks is fetched from peers on first use.
     */
    resolve?: ((reference: string, signal?: AbortSignal) => Promise<StoredModel>) | undefined
    account: LocalAccount
    logger: NodeLogger
    registry?: Registry | undefined
    now?: (() => number) | undefined
    /** Runs quorums for `verification: { mode: 'reexec' }` calls (absent: they are refused). */
    reexec?: Pick<ReexecVerification, 'check' | 'completeText'> | undefined
    /** Keeps every finished generation's job and receipt (`GET /v1/receipts/:id`). */
    jobs?: Pick<JobStore, 'get' | 'getReceipt' | 'recordFinished'> | undefined
    /** Prices signed paid requests before they run and settles their receipts. */
    settlement?: ExecutorSettlement | undefined
    /**
     * A fault (`faults.ts`, tests and demos only): changes what this node generated as executor
     * before it signs the receipt. Its regenerations as a verifier are not affected.
     */
    alterCompletion?:
      | ((completion: TextCompletion, manifest: StoredModel['manifest']) => TextCompletion)
      | undefined
  },
): TextService {
  const { store, account } = components
  const engineFor =
    components.engineFor ??
    ((manifest: StoredModel['manifest']) =>
      createGgufEngine(ggufEngineOptionsFromManifest(manifest)))
  const engines = new Map<string, TextEngine>()
  const logger = components.logger.child({ module: 'text' })
  const now = components.now ?? Date.now
  const loaded = new Map<string, Promise<TextEngine>>()
  const running = new Map<string, Promise<TextResult>>()
  const registers = components.registry ? [components.registry] : []
  const generations = new Counter({
    name: 'verity_text_generations_total',
    help: 'Text generations by outcome (done, failed, aborted).',
    labelNames: ['status'] as const,
    registers,
  })
  const tokensOut = new Counter({
    name: 'verity_text_completion_tokens_total',
    help: 'Tokens generated.',
    registers,
  })
  const firstToken = new Histogram({
    name: 'verity_text_first_token_seconds',
    help: 'Time to the first generated token.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  })

  function load(model: StoredModel): Promise<TextEngine> {
    let loading = loaded.get(model.cid)
    if (loading === undefined) {
      loading = (async () => {
        const bytes = await store.read(model.cid, { verify: true })
        const engine = engineFor(model.manifest)
        engines.set(model.cid, engine)
        try {
          await engine.load({ id: model.cid, bytes, manifest: model.manifest })
        } catch (error) {
          engines.delete(model.cid)
          await engine.close()
          throw error
        }
        logger.info({ cid: model.cid, name: model.manifest.name }, 'text model loaded')
        return engine
      })()
      loaded.set(model.cid, loading)
      loading.catch(() => loaded.delete(model.cid))
    }
    return loading
  }

  return {
    engineFor(model) {
      if (model.manifest.format !== 'gguf' || !model.manifest.gguf)
        return Promise.reject(
          new BaseError(
            'MODE_UNSUPPORTED',
            `Model ${model.manifest.name} is a ${model.manifest.format} model; text engines run GGUF models.`,
          ),
        )
      return load(model)
    },
    async close() {
      await Promise.allSettled([...engines.values()].map((engine) => engine.close()))
      engines.clear()
      loaded.clear()
    },
    async generate(call) {
      const model = await (components.resolve
        ? components.resolve(call.model, call.signal)
        : store.resolve(call.model))
      if (model.manifest.format !== 'gguf' || !model.manifest.gguf)
        throw new BaseError(
          'MODE_UNSUPPORTED',
          `Model ${model.manifest.name} is a ${model.manifest.format} model; chat and completions need a GGUF model.`,
          { metaMessages: ['Use POST /v1/infer for tensor models.'] },
        )
      const limit = model.manifest.gguf.decoding.maxTokens
      if (call.params.maxTokens > limit)
        throw new BaseError(
          'INVALID_ARGUMENT',
          `max_tokens ${call.params.maxTokens} is over this model's limit of ${limit}.`,
          { details: 'max_tokens', metaMessages: [`Ask for at most ${limit} tokens.`] },
        )
      const { signed } = call
      const verification: TextVerificationRequest | undefined = signed
        ? signedVerification(signed.request, call.verification)
        : call.verification
      const { reexec } = components
      if (verification !== undefined && reexec === undefined)
        throw new BaseError(
          'MODE_UNSUPPORTED',
          `Verification mode '${verification.mode}' is not offered by this node for text generations.`,
          {
            metaMessages: [
              'Run the node with peers (--peer <address>@<url>), or drop verity-mode.',
            ],
          },
        )
      let request: InferenceRequestMessage
      let requester: `0x${string}` = zeroAddress
      if (signed) {
        checkSignedRequest(signed.request, call, model)
        requester = await checkRequestSignature({ ...signed, domain: options.domain })
        request = signed.request
      } else
        request = createInferenceRequest({
          modelCid: model.cid,
          manifestHash: model.manifestHash as Hash,
          text: { input: call.input, params: call.params },
          ...(verification ? { mode: verification.mode, quorum: verification.quorum } : {}),
          deadline: BigInt(Math.floor(now() / 1000) + options.unsignedDeadlineSeconds),
          now,
        })
      const jobId = computeJobId(requester, request)
      const stored = storedResult(jobId, model, call)
      if (stored) return stored
      const inFlight = running.get(jobId)
      if (inFlight) {
        const result = await inFlight
        call.onToken?.(result.receipt.text?.output.text ?? '')
        return { ...result, replayed: true }
      }
      if (request.deadline <= BigInt(Math.floor(now() / 1000)))
        throw new BaseError(
          'REQUEST_EXPIRED',
          `The request's deadline ${request.deadline} has passed.`,
          { metaMessages: ['Sign a new request with a later deadline.'] },
        )
      if (verification && reexec?.check) await reexec.check({ request, model })
      // priced (and the payer's escrow checked) before anything runs; refusals throw
      const quote =
        signed && components.settlement
          ? await components.settlement.quote({ request, requester, model })
          : undefined
      const run = execute(model, call, request, requester, verification, quote)
      running.set(jobId, run)
      const forget = () => {
        if (running.get(jobId) === run) running.delete(jobId)
      }
      run.then(forget, forget)
      return await run
    },
  }

  async function execute(
    model: StoredModel,
    call: TextCall,
    request: InferenceRequestMessage,
    requester: `0x${string}`,
    verification: TextVerificationRequest | undefined,
    quote: { fee: bigint; modelId: bigint } | undefined,
  ): Promise<TextResult> {
    const { reexec } = components
    const engine = await load(model)
    const { params } = call
    let completion: TextCompletion
    try {
      completion = await generateWithEngine(engine, {
        id: model.cid,
        input: call.input,
        params,
        signal: call.signal,
        onToken: call.onToken ? (event) => call.onToken?.(event.text) : undefined,
      })
    } catch (error) {
      generations.inc({ status: call.signal?.aborted ? 'aborted' : 'failed' })
      if (isBaseError(error, 'TENSOR_TOO_LARGE') && /context/i.test(error.shortMessage))
        throw new BaseError('CONTEXT_OVERFLOW', error.shortMessage, {
          details: 'messages',
          metaMessages: [
            `The model's pinned context is ${model.manifest.gguf?.decoding.contextSize} tokens: shorten the prompt or lower max_tokens.`,
          ],
          cause: error,
        })
      throw error
    }
    if (components.alterCompletion)
      completion = components.alterCompletion(completion, model.manifest)
    generations.inc({ status: 'done' })
    tokensOut.inc(completion.tokens.length)
    firstToken.observe(completion.timeToFirstTokenMs / 1000)
    const text: TextSection = {
      input: call.input,
      params,
      output: { tokens: completion.tokens, text: completion.text },
      finishReason: completion.finishReason,
      usage: {
        promptTokens: completion.usage.promptTokens,
        completionTokens: completion.usage.completionTokens,
      },
    }
    let receipt = await createReceipt({
      account,
      requester,
      request,
      ...(call.signed ? { requestSignature: call.signed.signature } : {}),
      text,
      engine: engine.descriptor,
      domain: options.domain,
      now,
    })
    if (verification && reexec)
      receipt = await reexec.completeText({
        receipt,
        method: verification.method ?? 'replay',
        signal: call.signal ?? new AbortController().signal,
      })
    const receiptJson = canonicalJson(receipt)
    components.jobs?.recordFinished(
      {
        id: receipt.job.id as Hash,
        requester,
        modelCid: model.cid,
        mode: receipt.job.mode,
        request: {
          message: requestToJson(request),
          ...(call.signed ? { signature: call.signed.signature } : {}),
          includeOutput: false,
        },
        inputs: new TextEncoder().encode(canonicalJson(call.input)),
      },
      { receiptJson, outputs: new Uint8Array() },
    )
    if (quote) components.settlement?.record(receipt, quote)
    logger.info(
      { jobId: receipt.job.id, cid: model.cid, tokens: completion.tokens.length },
      'text generation done',
    )
    return { receipt, completion, model, replayed: false }
  }

  /** A job done before (same signed request): its stored receipt, streamed as one piece. */
  function storedResult(jobId: Hash, model: StoredModel, call: TextCall): TextResult | undefined {
    const job = components.jobs?.get(jobId)
    if (job?.status !== 'done') return undefined
    const stored = components.jobs?.getReceipt(jobId)
    if (!stored) return undefined
    const receipt = JSON.parse(stored.receiptJson) as Receipt
    call.onToken?.(receipt.text?.output.text ?? '')
    return { receipt, model, replayed: true }
  }
}

const modeById = Object.fromEntries(Object.entries(modeIds).map(([mode, id]) => [id, mode]))

/** The verification a signed request asked for: its own mode and quorum, the caller's method. */
function signedVerification(
  request: InferenceRequestMessage,
  asked: TextVerificationRequest | undefined,
): TextVerificationRequest | undefined {
  const mode = modeById[request.mode]
  if (mode === 'none') return undefined
  if (mode !== 'reexec')
    throw new BaseError(
      'MODE_UNSUPPORTED',
      `The signed request asks for mode "${mode ?? request.mode}"; text generations support none and reexec.`,
    )
  return { mode: 'reexec', quorum: request.quorum, method: asked?.method ?? 'replay' }
}

/** The signed request must be for this model and exactly this input and these parameters. */
function checkSignedRequest(
  request: InferenceRequestMessage,
  call: TextCall,
  model: StoredModel,
): void {
  if (request.modelCid !== model.cid || request.manifestHash !== model.manifestHash)
    throw new BaseError(
      'MANIFEST_HASH_MISMATCH',
      `The signed request is for model ${request.modelCid} (manifest ${request.manifestHash}); "model" resolves to ${model.cid} (manifest ${model.manifestHash}).`,
      { metaMessages: ['Sign the CID and manifest hash of the model you name.'] },
    )
  const inputHash = hashTextInput(call.input)
  if (request.inputHash !== inputHash)
    throw new BaseError(
      'INPUT_HASH_MISMATCH',
      `The signed input hash ${request.inputHash} is not the hash of the messages or prompt sent (${inputHash}).`,
      {
        metaMessages: [
          'Hash { messages } or { prompt } exactly as sent (canonical JSON, keccak256).',
        ],
      },
    )
  const paramsHash = hashGenerationParams(call.params)
  if (request.paramsHash !== paramsHash)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `The signed params hash ${request.paramsHash} is not the hash of this request's generation parameters (${paramsHash}).`,
      {
        details: 'verity',
        metaMessages: [
          'Hash every generation parameter with defaults filled in (parseOpenAiRequest, hashGenerationParams).',
        ],
      },
    )
}
