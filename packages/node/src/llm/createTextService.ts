import {
  createGgufEngine,
  ggufEngineOptionsFromManifest,
  type TextCompletion,
  type TextEngine,
} from '@verity/engine'
import type { ModelStore, StoredModel } from '@verity/hub'
import {
  BaseError,
  createInferenceRequest,
  createReceipt,
  type GenerationParams,
  type Hash,
  type InferenceRequestMessage,
  isBaseError,
  type Receipt,
  type TextInput,
  type TextSection,
  type VerityDomain,
} from '@verity/protocol'
import { Counter, Histogram, type Registry } from 'prom-client'
import type { LocalAccount } from 'viem'
import type { NodeLogger } from '../logger.ts'
import type { ReexecVerification } from '../verification/createReexecVerification.ts'
import type { TextVerifyMethod } from '../verification/parseVerifyBody.ts'

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
  /** Verify the output before answering (default: mode `none`, the executor's signature only). */
  verification?: TextVerificationRequest | undefined
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
export type TextResult = { receipt: Receipt; completion: TextCompletion; model: StoredModel }

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
      if (call.params.responseFormat !== 'text')
        throw new BaseError(
          'INVALID_ARGUMENT',
          `response_format ${call.params.responseFormat} is not supported yet: this node cannot constrain generation to JSON.`,
          { details: 'response_format', metaMessages: ['Send {"type": "text"} or leave it out.'] },
        )
      const limit = model.manifest.gguf.decoding.maxTokens
      if (call.params.maxTokens > limit)
        throw new BaseError(
          'INVALID_ARGUMENT',
          `max_tokens ${call.params.maxTokens} is over this model's limit of ${limit}.`,
          { details: 'max_tokens', metaMessages: [`Ask for at most ${limit} tokens.`] },
        )
      const { verification } = call
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
      const request: InferenceRequestMessage = createInferenceRequest({
        modelCid: model.cid,
        manifestHash: model.manifestHash as Hash,
        text: { input: call.input, params: call.params },
        ...(verification ? { mode: verification.mode, quorum: verification.quorum } : {}),
        deadline: BigInt(Math.floor(now() / 1000) + options.unsignedDeadlineSeconds),
        now,
      })
      if (verification && reexec?.check) await reexec.check({ request, model })
      const engine = await load(model)
      const { params } = call
      const common = {
        id: model.cid,
        maxTokens: params.maxTokens,
        stop: params.stop,
        temperature: params.temperature,
        topP: params.topP,
        topK: params.topK,
        seed: params.seed,
        signal: call.signal,
        onToken: call.onToken ? (event: { text: string }) => call.onToken?.(event.text) : undefined,
      }
      let completion: TextCompletion
      try {
        completion =
          'messages' in call.input
            ? await engine.chat({ ...common, messages: call.input.messages })
            : await engine.complete({ ...common, prompt: call.input.prompt })
      } catch (error) {
        generations.inc({ status: call.signal?.aborted ? 'aborted' : 'failed' })
        if (isBaseError(error, 'TENSOR_TOO_LARGE') && /context/i.test(error.shortMessage))
          throw new BaseError('CONTEXT_OVERFLOW', error.shortMessage, {
            details: 'messages',
            metaMessages: [
              `The model's pinned context is ${model.manifest.gguf.decoding.contextSize} tokens: shorten the prompt or lower max_tokens.`,
            ],
            cause: error,
          })
        throw error
      }
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
        requester: '0x0000000000000000000000000000000000000000',
        request,
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
      logger.info(
        { jobId: receipt.job.id, cid: model.cid, tokens: completion.tokens.length },
        'text generation done',
      )
      return { receipt, completion, model }
    },
  }
}
