import type {
  TextChatMessage,
  TextFinishReason,
  TextReplayMismatch,
  TextSampling,
} from './textEngine.ts'

/**
 * The pinned settings a worker process runs every model with (its argv, as JSON).
 *
 * @example
 * ```ts
 * const settings: GgufWorkerSettings = { contextSize: 2048, batchSize: 512, threads: 1, kvCacheType: 'f32', replayTolerance: 1e-3 }
 * ```
 */
export type GgufWorkerSettings = {
  contextSize: number
  batchSize: number
  threads: number
  kvCacheType: 'f32' | 'f16'
  replayTolerance: number
}

/**
 * What a worker reports after loading a model: its GGUF header facts as llama.cpp reads them.
 *
 * @example
 * ```ts
 * const { vocabSize, chatTemplate } = await worker.request<GgufLoadReply>({ type: 'load', id, path }, options).result
 * ```
 */
export type GgufLoadReply = {
  architecture: string
  vocabSize: number
  trainContextSize: number
  bosTokenId: number | null
  eosTokenId: number | null
  addBosToken: boolean
  chatTemplate: string | null
  ggufVersion: number | null
  fileType: number | null
  embeddingLength: number | null
  blockCount: number | null
}

/**
 * One generation as the worker runs it (the prompt already checked against the limits the engine
 * can know without the tokenizer).
 *
 * @example
 * ```ts
 * const call: GgufGenerateCall = { id, prompt: { kind: 'text', text: 'Hi' }, maxTokens: 16, fitMaxTokens: false, stop: [], sampling, stream: false }
 * ```
 */
export type GgufGenerateCall = {
  id: string
  prompt:
    | { kind: 'text'; text: string }
    | { kind: 'tokens'; tokens: number[] }
    | { kind: 'chat'; messages: TextChatMessage[] }
  /** Upper bound; the worker lowers it to what the context has left after the prompt, if asked to. */
  maxTokens: number
  /** The request gave no `maxTokens`: use what the context has left, up to `maxTokens`. */
  fitMaxTokens: boolean
  stop: string[]
  sampling: TextSampling
  /** Grammar-constrained JSON output (null: free text). */
  jsonSchema: Readonly<Record<string, unknown>> | null
  /** Send a `token` event per generated token. */
  stream: boolean
}

/**
 * What a worker reports after a generation (`cancelled` when it stopped early on a cancel).
 *
 * @example
 * ```ts
 * const { tokens, text, finishReason } = await worker.request<GgufGenerateReply>({ type: 'generate', ...call }, options).result
 * ```
 */
export type GgufGenerateReply = {
  promptTokens: number[]
  tokens: number[]
  text: string
  finishReason: TextFinishReason
  maxTokens: number
  chatTemplate: 'jinja' | 'none' | null
  /** From receiving the request to the first generated token, in ms (worker clock). */
  firstTokenMs: number
  cancelled: boolean
}

/**
 * What a worker reports after a replay (see `TextReplayResult`).
 *
 * @example
 * ```ts
 * const { ok, firstMismatch } = await worker.request<GgufReplayReply>({ type: 'replay', ...call }, options).result
 * ```
 */
export type GgufReplayReply = {
  ok: boolean
  firstMismatch?: TextReplayMismatch | undefined
  nearTies: TextReplayMismatch[]
  text: string
  finishReason: TextFinishReason
  checkedTokens: number
  method: 'teacher-forcing' | 'regeneration'
  cancelled: boolean
}

/**
 * What a GGUF worker reports when it is ready: llama.cpp's CPU feature line in that process.
 *
 * @example
 * ```ts
 * const ready: GgufWorkerReady = { systemInfo: 'CPU : SSE3 = 1 | AVX2 = 1 | ' }
 * ```
 */
export type GgufWorkerReady = { systemInfo: string }

/**
 * A token event of a streaming generation (sent only when the call has `stream: true`).
 *
 * @example
 * ```ts
 * const event: GgufWorkerTokenEvent = { index: 0, token: 432, text: ',' }
 * ```
 */
export type GgufWorkerTokenEvent = { index: number; token: number; text: string }

/**
 * Calls from the engine to a GGUF worker process (sent inside the shared `WorkerRequest` envelope,
 * V8-serialized). A generation or replay stops early, with `cancelled: true` in its reply, when
 * the engine cancels it (a timeout or abort with grace).
 *
 * @example
 * ```ts
 * worker.request<number[]>({ type: 'tokenize', id: 'stories', text: 'Once upon a time' }, options)
 * ```
 */
export type GgufWorkerRequest =
  | { type: 'load'; id: string; path: string }
  | ({ type: 'generate' } & GgufGenerateCall)
  | {
      type: 'replay'
      id: string
      promptTokens: number[]
      tokens: number[]
      maxTokens: number
      stop: string[]
      sampling: TextSampling
      jsonSchema: Readonly<Record<string, unknown>> | null
    }
  | { type: 'tokenize'; id: string; text: string }
  | { type: 'promptTokens'; id: string; prompt: GgufGenerateCall['prompt'] }
  | { type: 'unload'; id: string }
