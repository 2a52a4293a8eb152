// Entry point of a GGUF worker process (forked by `spawnGgufWorker`; not imported by anything).
// It owns llama.cpp (through node-llama-cpp): one model, one context and one sequence per model
// id, and answers the engine's requests one at a time. It is a process so that the engine can
// kill it in the middle of a native llama.cpp call (a timeout, or an abort that does not stop at
// the next token) without taking the host down, and so that a native crash on a hostile file
// stays here.
//
// Only node-llama-cpp and the engine's own pure helpers are imported at run time (protocol types
// are erased): failures are plain `WorkerError` records that the engine turns into `BaseError`s.
import {
  type ChatHistoryItem,
  getLlama,
  JinjaTemplateChatWrapper,
  type LlamaContextSequence,
  type LlamaGrammar,
  LlamaGrammarEvaluationState,
  LlamaLogLevel,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp'
import { serveWorkerRequests, type WorkerRequestContext } from '../worker/serveWorkerRequests.ts'
import { WorkerFailure, workerFailure } from '../worker/workerFailure.ts'
import type { WorkerOutcome } from '../worker/workerProtocol.ts'
import { createMt19937 } from './createMt19937.ts'
import { createStopTracker } from './createStopTracker.ts'
import type {
  GgufGenerateCall,
  GgufGenerateReply,
  GgufLoadReply,
  GgufReplayReply,
  GgufWorkerReady,
  GgufWorkerRequest,
  GgufWorkerSettings,
  GgufWorkerTokenEvent,
} from './ggufWorkerProtocol.ts'
import { isReplayNearTie } from './isReplayNearTie.ts'
import type { TextChatMessage, TextReplayMismatch, TextSampling } from './textEngine.ts'

const settings = JSON.parse(process.argv[2] ?? '{}') as GgufWorkerSettings
// How many preceding tokens give the detokenizer its context (leading spaces, merged pieces).
const detokenizerContext = 16
// Most near ties examined (with a second pass) before a replay gives up on a claim.
const maxNearTies = 16

type Loaded = {
  model: LlamaModel
  sequence: LlamaContextSequence
  info: GgufLoadReply
  /** Built on the first chat call (the wrapper probes the template once). */
  chatWrapper?: JinjaTemplateChatWrapper | undefined
}
type Context = WorkerRequestContext<GgufWorkerTokenEvent>

const llama = await getLlama({
  gpu: false,
  build: 'never',
  usePrebuiltBinaries: true,
  skipDownload: true,
  progressLogs: false,
  maxThreads: settings.threads,
  logLevel: LlamaLogLevel.error,
  logger: (_level, message) => process.stderr.write(`${message}\n`),
})
const models = new Map<string, Loaded>()
// Grammars by canonical schema text (building one parses the schema into GBNF: reuse them).
const grammars = new Map<string, Promise<LlamaGrammar>>()
const maxGrammars = 64
// node-llama-cpp's JSON-schema grammars end a complete value with this (then only newlines):
// generation stops there, and the text is the JSON alone.
const jsonTerminator = '\n\n\n\n'

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null
}

async function release(id: string): Promise<void> {
  const loaded = models.get(id)
  models.delete(id)
  if (!loaded) return
  await loaded.sequence.context.dispose()
  await loaded.model.dispose()
}

async function load(id: string, path: string): Promise<WorkerOutcome> {
  await release(id)
  let model: LlamaModel | undefined
  try {
    model = await llama.loadModel({ modelPath: path, gpuLayers: 0 })
    const context = await model.createContext({
      contextSize: settings.contextSize,
      batchSize: settings.batchSize,
      threads: { ideal: settings.threads, min: settings.threads },
      sequences: 1,
      flashAttention: false,
      experimentalKvCacheKeyType: settings.kvCacheType === 'f32' ? 'F32' : 'F16',
      experimentalKvCacheValueType: settings.kvCacheType === 'f32' ? 'F32' : 'F16',
      failedCreationRemedy: false,
    })
    const sequence = context.getSequence({
      // Requests are sized to fit the context; shifting it would silently change the tokens.
      contextShift: {
        strategy: () => {
          throw new WorkerFailure('INTERNAL', 'The context is full (context shift is disabled).')
        },
      },
    })
    const metadata = model.fileInfo.metadata as unknown as Record<string, Record<string, unknown>>
    const architecture = String(metadata.general?.architecture ?? model.architecture ?? 'unknown')
    const archMetadata = (metadata[architecture] ?? {}) as Record<string, unknown>
    const tokenizer = (metadata.tokenizer ?? {}) as Record<string, unknown>
    const ggml = (tokenizer.ggml ?? {}) as Record<string, unknown>
    const tokens = ggml.tokens
    const info: GgufLoadReply = {
      architecture,
      vocabSize: Array.isArray(tokens) ? tokens.length : 0,
      trainContextSize: model.trainContextSize,
      bosTokenId: model.tokens.bos,
      eosTokenId: model.tokens.eos,
      addBosToken: model.tokens.shouldPrependBosToken,
      chatTemplate: typeof tokenizer.chat_template === 'string' ? tokenizer.chat_template : null,
      ggufVersion: numberOrNull(model.fileInfo.version),
      fileType: numberOrNull(metadata.general?.file_type),
      embeddingLength: numberOrNull(archMetadata.embedding_length),
      blockCount: numberOrNull(archMetadata.block_count),
    }
    if (info.vocabSize === 0)
      throw new WorkerFailure(
        'ENGINE_LOAD_FAILED',
        `Model "${id}" has no vocabulary (tokenizer.ggml.tokens); it cannot generate text.`,
      )
    models.set(id, { model, sequence, info })
    return { ok: true, value: info }
  } catch (cause) {
    await model?.dispose().catch(() => {})
    return workerFailure('ENGINE_LOAD_FAILED', `llama.cpp could not load model "${id}".`, cause)
  }
}

function loadedModel(id: string): Loaded {
  const loaded = models.get(id)
  if (!loaded)
    throw new WorkerFailure('MODEL_NOT_FOUND', `Model "${id}" is not loaded in this worker.`)
  return loaded
}

function tokenizeText(loaded: Loaded, text: string): Token[] {
  // llama.cpp's completion tokenization: BOS when the model adds one, special tokens not parsed.
  const bos = loaded.info.addBosToken ? loaded.model.tokens.bos : null
  const tokens = loaded.model.tokenize(text, false)
  return bos === null ? tokens : [bos, ...tokens]
}

function toHistory(messages: readonly TextChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((message) =>
    message.role === 'system'
      ? { type: 'system', text: message.content }
      : message.role === 'user'
        ? { type: 'user', text: message.content }
        : { type: 'model', response: [message.content] },
  )
  history.push({ type: 'model', response: [] })
  return history
}

function chatPrompt(
  loaded: Loaded,
  messages: readonly TextChatMessage[],
): { tokens: Token[]; template: 'jinja' | 'none' } {
  const template = loaded.info.chatTemplate
  if (template === null)
    return {
      tokens: tokenizeText(loaded, messages.map((message) => message.content).join('\n')),
      template: 'none',
    }
  let wrapper: JinjaTemplateChatWrapper
  try {
    wrapper = loaded.chatWrapper ??= new JinjaTemplateChatWrapper({
      template,
      tokenizer: loaded.model.tokenizer,
    })
  } catch (cause) {
    throw new WorkerFailure(
      'ENGINE_RUN_FAILED',
      `The chat template of the model cannot be used: ${cause instanceof Error ? cause.message : String(cause)}`,
    )
  }
  const { contextText } = wrapper.generateContextState({ chatHistory: toHistory(messages) })
  return { tokens: contextText.tokenize(loaded.model.tokenizer), template: 'jinja' }
}

/**
 * Turns generated tokens into text piece by piece, the same way for generation and replay: each
 * piece is detokenized with the preceding tokens as context (so leading spaces come out right),
 * pieces that end in an incomplete UTF-8 character wait for the next token (at most 4 tokens),
 * and end-of-generation tokens add no text.
 */
function createDecoder(loaded: Loaded, promptTokens: readonly Token[]) {
  const history: Token[] = promptTokens.slice(-detokenizerContext)
  const pending: Token[] = []
  function take(): string {
    const piece = loaded.model.detokenize(pending, false, history)
    history.push(...pending)
    history.splice(0, Math.max(0, history.length - detokenizerContext))
    pending.length = 0
    return piece
  }
  return {
    push(token: Token): string {
      if (loaded.model.isEogToken(token)) return ''
      pending.push(token)
      const piece = loaded.model.detokenize(pending, false, history)
      if (piece.endsWith('\uFFFD') && pending.length < 4) return ''
      return take()
    },
    flush(): string {
      return pending.length > 0 ? take() : ''
    },
  }
}

type OutputStep = {
  release: string
  done: boolean
  finishReason: GgufGenerateReply['finishReason']
}

/**
 * Feeds generated tokens one at a time and says when generation ends and why, the same way for
 * generation and replay: an end-of-generation token or a stop string ends it (`stop`), reaching
 * `maxTokens` tokens ends it (`length`). `release` is the text that became final with this token.
 */
function createOutputTracker(
  loaded: Loaded,
  promptTokens: readonly Token[],
  stop: readonly string[],
  maxTokens: number,
) {
  const decoder = createDecoder(loaded, promptTokens)
  const tracker = createStopTracker(stop)
  let count = 0
  return {
    push(token: Token): OutputStep {
      count++
      if (loaded.model.isEogToken(token)) {
        const last = tracker.push(decoder.flush())
        return { release: last.release + tracker.finish(), done: true, finishReason: 'stop' }
      }
      const step = tracker.push(decoder.push(token))
      if (step.stopped) return { release: step.release, done: true, finishReason: 'stop' }
      if (count < maxTokens) return { release: step.release, done: false, finishReason: 'length' }
      const last = tracker.push(decoder.flush())
      const release = step.release + last.release + tracker.finish()
      return { release, done: true, finishReason: last.stopped ? 'stop' : 'length' }
    },
    get text(): string {
      return tracker.text
    },
  }
}

function checkFits(promptLength: number, maxTokens: number): void {
  if (promptLength + maxTokens > settings.contextSize)
    throw new WorkerFailure(
      'TENSOR_TOO_LARGE',
      `The prompt has ${promptLength} tokens and maxTokens is ${maxTokens}: ${promptLength + maxTokens} tokens do not fit the context of ${settings.contextSize}.`,
      ['Shorten the prompt or lower maxTokens.'],
    )
}

function checkTokens(loaded: Loaded, tokens: readonly number[], what: string): void {
  const { vocabSize } = loaded.info
  const bad = tokens.findIndex(
    (token) => !Number.isInteger(token) || token < 0 || token >= vocabSize,
  )
  if (bad >= 0)
    throw new WorkerFailure(
      'INVALID_ARGUMENT',
      `${what}[${bad}] is ${JSON.stringify(tokens[bad])}; expected a token id from 0 to ${vocabSize - 1}.`,
    )
}

function samplerOptions(sampling: TextSampling) {
  return {
    temperature: sampling.temperature,
    topK: sampling.topK,
    topP: sampling.topP,
    minP: sampling.minP,
    seed: sampling.seed,
  }
}

/** `{}`-free canonical text of a schema (sorted keys), the grammar cache key. */
function canonicalSchema(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalSchema).join(',')}]`
  if (typeof value === 'object' && value !== null)
    return `{${Object.keys(value)
      .sort()
      .map(
        (key) =>
          `${JSON.stringify(key)}:${canonicalSchema((value as Record<string, unknown>)[key])}`,
      )
      .join(',')}}`
  return JSON.stringify(value)
}

/** node-llama-cpp knows `oneOf`; `anyOf` generates the same alternatives. */
function toGbnfSchema(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toGbnfSchema)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(
    Object.entries(value).map(([key, entry]) => [
      key === 'anyOf' ? 'oneOf' : key,
      toGbnfSchema(entry),
    ]),
  )
}

function grammarFor(schema: Readonly<Record<string, unknown>>): Promise<LlamaGrammar> {
  const key = canonicalSchema(schema)
  let grammar = grammars.get(key)
  if (grammar === undefined) {
    if (grammars.size >= maxGrammars) grammars.delete(grammars.keys().next().value as string)
    grammar = llama.createGrammarForJsonSchema(toGbnfSchema(schema) as never).catch((cause) => {
      grammars.delete(key)
      throw new WorkerFailure(
        'INVALID_ARGUMENT',
        `The JSON schema cannot be turned into a grammar: ${cause instanceof Error ? cause.message : String(cause)}`,
      )
    })
    grammars.set(key, grammar)
  }
  return grammar
}

type GenerationRun = {
  tokens: Token[]
  text: string
  finishReason: GgufGenerateReply['finishReason']
  firstTokenMs: number
  cancelled: boolean
}

/**
 * Generates from `promptTokens` (the sequence is cleared first), under the sampling, stop strings,
 * token limit and optional JSON grammar of a request: what `generate` runs, and what a replay of
 * a grammar-constrained output runs again.
 */
async function runGeneration(
  context: Context,
  loaded: Loaded,
  promptTokens: Token[],
  options: {
    maxTokens: number
    stop: readonly string[]
    sampling: TextSampling
    jsonSchema: Readonly<Record<string, unknown>> | null
    stream: boolean
    started: number
  },
): Promise<GenerationRun> {
  const { maxTokens, sampling, jsonSchema, stream, started } = options
  const grammar = jsonSchema ? await grammarFor(jsonSchema) : undefined
  const stop = grammar ? [...options.stop, jsonTerminator] : options.stop
  const { sequence } = loaded
  await sequence.clearHistory()
  const output = createOutputTracker(loaded, promptTokens, stop, maxTokens)
  const tokens: Token[] = []
  let finishReason: GgufGenerateReply['finishReason'] = 'length'
  let firstTokenMs = 0
  let wasCancelled = context.cancelled()
  if (!wasCancelled) {
    const iterator = sequence.evaluate(promptTokens, {
      ...samplerOptions(sampling),
      ...(grammar
        ? {
            grammarEvaluationState: new LlamaGrammarEvaluationState({
              model: loaded.model,
              grammar,
            }),
          }
        : {}),
      yieldEogToken: true,
    })
    try {
      for await (const token of iterator) {
        if (tokens.length === 0) firstTokenMs = performance.now() - started
        tokens.push(token)
        const step = output.push(token)
        if (stream) context.emit({ index: tokens.length - 1, token, text: step.release })
        if (step.done) {
          finishReason = step.finishReason
          break
        }
        if (context.cancelled()) {
          wasCancelled = true
          break
        }
      }
    } finally {
      await iterator.return()
    }
  }
  return { tokens, text: output.text, finishReason, firstTokenMs, cancelled: wasCancelled }
}

/**
 * Checks a grammar-constrained claim by generating again under the same grammar and comparing the
 * token ids (the grammar's state cannot be fed into a batched teacher-forced pass).
 */
async function replayByRegeneration(
  context: Context,
  loaded: Loaded,
  call: ReplayCall,
): Promise<GgufReplayReply> {
  const promptTokens = call.promptTokens as Token[]
  const run = await runGeneration(context, loaded, promptTokens, {
    maxTokens: call.maxTokens,
    stop: call.stop,
    sampling: call.sampling,
    jsonSchema: call.jsonSchema,
    stream: false,
    started: performance.now(),
  })
  await loaded.sequence.clearHistory()
  if (run.cancelled) return { ...cancelledReplayValue(run.text, run.finishReason) }
  const claimed = call.tokens
  let firstMismatch: TextReplayMismatch | undefined
  const common = Math.min(claimed.length, run.tokens.length)
  for (let index = 0; index < common && !firstMismatch; index++)
    if (claimed[index] !== run.tokens[index])
      firstMismatch = { index, expected: run.tokens[index]!, actual: claimed[index]! }
  if (!firstMismatch && claimed.length !== run.tokens.length)
    firstMismatch = {
      index: common,
      expected: run.tokens[common] ?? null,
      actual: claimed[common] ?? null,
    }
  return {
    ok: firstMismatch === undefined,
    ...(firstMismatch ? { firstMismatch } : {}),
    nearTies: [],
    text: run.text,
    finishReason: run.finishReason,
    checkedTokens: run.tokens.length,
    method: 'regeneration',
    cancelled: false,
  }
}

async function generate(context: Context, call: GgufGenerateCall): Promise<WorkerOutcome> {
  const started = performance.now()
  try {
    const loaded = loadedModel(call.id)
    let promptTokens: Token[]
    let chatTemplate: 'jinja' | 'none' | null = null
    if (call.prompt.kind === 'tokens') promptTokens = call.prompt.tokens as Token[]
    else if (call.prompt.kind === 'text') promptTokens = tokenizeText(loaded, call.prompt.text)
    else {
      const rendered = chatPrompt(loaded, call.prompt.messages)
      promptTokens = rendered.tokens
      chatTemplate = rendered.template
    }
    if (promptTokens.length === 0)
      throw new WorkerFailure(
        'INVALID_ARGUMENT',
        'The prompt is empty and the model adds no BOS token: there is nothing to continue.',
        ['Send a non-empty prompt.'],
      )
    checkTokens(loaded, promptTokens, 'prompt')
    const maxTokens = call.fitMaxTokens
      ? Math.min(call.maxTokens, settings.contextSize - promptTokens.length)
      : call.maxTokens
    checkFits(promptTokens.length, Math.max(1, maxTokens))
    const run = await runGeneration(context, loaded, promptTokens, {
      maxTokens,
      stop: call.stop,
      sampling: call.sampling,
      jsonSchema: call.jsonSchema,
      stream: call.stream,
      started,
    })
    const { tokens, finishReason, firstTokenMs } = run
    const wasCancelled = run.cancelled
    const value: GgufGenerateReply = {
      promptTokens,
      tokens,
      text: run.text,
      finishReason,
      maxTokens,
      chatTemplate,
      firstTokenMs,
      cancelled: wasCancelled,
    }
    return { ok: true, value }
  } catch (cause) {
    return workerFailure(
      'ENGINE_RUN_FAILED',
      `llama.cpp failed to generate with model "${call.id}".`,
      cause,
    )
  }
}

type ReplayCall = Extract<GgufWorkerRequest, { type: 'replay' }>

async function replay(context: Context, call: ReplayCall): Promise<WorkerOutcome> {
  try {
    const loaded = loadedModel(call.id)
    const { maxTokens, sampling } = call
    const promptTokens = call.promptTokens as Token[]
    const tokens = call.tokens as Token[]
    if (promptTokens.length === 0)
      throw new WorkerFailure(
        'INVALID_ARGUMENT',
        'promptTokens is empty; a replay needs the prompt.',
      )
    checkTokens(loaded, promptTokens, 'promptTokens')
    checkTokens(loaded, tokens, 'tokens')
    checkFits(promptTokens.length, maxTokens)
    if (call.jsonSchema)
      return { ok: true, value: await replayByRegeneration(context, loaded, call) }

    // Where must generation end, given the claimed tokens? Track them as generation does.
    const output = createOutputTracker(loaded, promptTokens, call.stop, maxTokens)
    let compared = 0
    let finishReason: GgufReplayReply['finishReason'] = 'length'
    let done = false
    while (compared < tokens.length && !done) {
      const step = output.push(tokens[compared]!)
      compared++
      done = step.done
      finishReason = step.finishReason
    }
    // The claim goes on after generation ended, or ends before it does.
    let termination: TextReplayMismatch | undefined
    if (tokens.length > compared)
      termination = { index: compared, expected: null, actual: tokens[compared]! }
    const endsEarly = !done
    const sampled = compared + (endsEarly ? 1 : 0)

    const input = [...promptTokens, ...tokens.slice(0, sampled - 1)] as Token[]
    const first = promptTokens.length - 1
    const options = samplerOptions(sampling)
    const { sequence } = loaded
    if (context.cancelled()) return cancelledReplay(output.text, finishReason)
    await sequence.clearHistory()
    const outputs = await sequence.controlledEvaluate(
      input.map((token, position) =>
        position >= first ? [token, { generateNext: { token: true, options } }] : token,
      ),
    )
    const choices: (number | null)[] = []
    for (let index = 0; index < sampled; index++)
      choices.push(outputs[first + index]?.next.token ?? null)
    const mismatches: number[] = []
    for (let index = 0; index < compared; index++)
      if (choices[index] !== tokens[index]) mismatches.push(index)
    if (endsEarly) {
      const expected = choices[compared] ?? null
      termination = { index: compared, expected, actual: null }
    }

    // A second pass for the probabilities at the (first few) mismatched positions: near ties?
    const nearTies: TextReplayMismatch[] = []
    let firstMismatch: TextReplayMismatch | undefined
    const examined = mismatches.slice(0, maxNearTies)
    if (examined.length > 0) {
      if (context.cancelled()) return cancelledReplay(output.text, finishReason)
      const wanted = new Set(examined.map((index) => first + index))
      await sequence.clearHistory()
      const detailed = await sequence.controlledEvaluate(
        input.map((token, position) =>
          wanted.has(position)
            ? [token, { generateNext: { probabilities: true, options } }]
            : token,
        ),
      )
      const rng = createMt19937(sampling.seed)
      const draws: number[] = []
      for (let index = 0; index <= examined.at(-1)!; index++) draws.push(rng.nextCanonicalDouble())
      for (const index of examined) {
        const mismatch = { index, expected: choices[index] ?? null, actual: tokens[index]! }
        const probabilities = detailed[first + index]?.next.probabilities
        const nearTie =
          probabilities !== undefined &&
          isReplayNearTie({
            candidates: [...probabilities.entries()],
            claimed: tokens[index]!,
            sampling,
            draw: draws[index],
            tolerance: settings.replayTolerance,
          })
        if (!nearTie) {
          firstMismatch = mismatch
          break
        }
        nearTies.push(mismatch)
      }
      if (!firstMismatch && mismatches.length > examined.length) {
        const index = mismatches[examined.length]!
        firstMismatch = { index, expected: choices[index] ?? null, actual: tokens[index]! }
      }
    }
    if (termination && (!firstMismatch || termination.index < firstMismatch.index))
      firstMismatch = termination
    await sequence.clearHistory()
    const value: GgufReplayReply = {
      ok: firstMismatch === undefined,
      ...(firstMismatch ? { firstMismatch } : {}),
      nearTies: firstMismatch
        ? nearTies.filter((tie) => tie.index < firstMismatch.index)
        : nearTies,
      text: output.text,
      finishReason,
      checkedTokens: sampled,
      method: 'teacher-forcing',
      cancelled: false,
    }
    return { ok: true, value }
  } catch (cause) {
    return workerFailure(
      'ENGINE_RUN_FAILED',
      `llama.cpp failed to replay with model "${call.id}".`,
      cause,
    )
  }
}

function cancelledReplayValue(
  text: string,
  finishReason: GgufReplayReply['finishReason'],
): GgufReplayReply {
  return {
    ok: false,
    nearTies: [],
    text,
    finishReason,
    checkedTokens: 0,
    method: 'teacher-forcing',
    cancelled: true,
  }
}

function cancelledReplay(
  text: string,
  finishReason: GgufReplayReply['finishReason'],
): WorkerOutcome {
  return { ok: true, value: cancelledReplayValue(text, finishReason) }
}

async function handle(request: GgufWorkerRequest, context: Context): Promise<WorkerOutcome> {
  switch (request.type) {
    case 'load':
      return await load(request.id, request.path)
    case 'generate':
      return await generate(context, request)
    case 'replay':
      return await replay(context, request)
    case 'tokenize': {
      const loaded = loadedModel(request.id)
      return { ok: true, value: tokenizeText(loaded, request.text) }
    }
    case 'promptTokens': {
      const loaded = loadedModel(request.id)
      const { prompt } = request
      const tokens =
        prompt.kind === 'tokens'
          ? prompt.tokens
          : prompt.kind === 'text'
            ? tokenizeText(loaded, prompt.text)
            : chatPrompt(loaded, prompt.messages).tokens
      return { ok: true, value: [...tokens] }
    }
    case 'unload':
      await release(request.id)
      return { ok: true, value: null }
  }
}

// One llama.cpp context per model, and the order of load/generate/unload for one id must be kept:
// the shared loop runs calls one after another; a cancel reaches the running generation at its
// next token (`context.cancelled()`).
serveWorkerRequests<GgufWorkerRequest, GgufWorkerReady, GgufWorkerTokenEvent>(
  { ready: { systemInfo: llama.systemInfo }, unexpected: 'The GGUF worker failed unexpectedly.' },
  { handle },
)
