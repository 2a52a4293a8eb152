import type { ErrorCode } from '@verity/protocol'
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
 * Requests from the engine to a worker process (IPC, V8-serialized). Each carries a `requestId`
 * echoed in its events and reply; `cancel` has none of its own: it asks the worker to stop the
 * generation or replay `target` at the next token (the reply then has `cancelled: true`).
 *
 * @example
 * ```ts
 * child.send({ type: 'tokenize', requestId: 3, id: 'stories', text: 'Once upon a time' })
 * ```
 */
export type GgufWorkerRequest =
  | { type: 'load'; requestId: number; id: string; path: string }
  | ({ type: 'generate'; requestId: number } & GgufGenerateCall)
  | {
      type: 'replay'
      requestId: number
      id: string
      promptTokens: number[]
      tokens: number[]
      maxTokens: number
      stop: string[]
      sampling: TextSampling
      jsonSchema: Readonly<Record<string, unknown>> | null
    }
  | { type: 'tokenize'; requestId: number; id: string; text: string }
  | { type: 'promptTokens'; requestId: number; id: string; prompt: GgufGenerateCall['prompt'] }
  | { type: 'unload'; requestId: number; id: string }
  | { type: 'cancel'; requestId: number; target: number }

/**
 * A `BaseError` flattened for the IPC channel.
 *
 * @example
 * ```ts
 * const error: GgufWorkerError = { code: 'ENGINE_LOAD_FAILED', message: 'llama.cpp could not load model "m".' }
 * ```
 */
export type GgufWorkerError = {
  code: ErrorCode
  message: string
  details?: string | undefined
  metaMessages?: readonly string[] | undefined
}

/**
 * Messages from a worker process: `ready` once llama.cpp is loaded (with its CPU feature line),
 * `token` events while generating (only when streaming), then one `result` per request.
 *
 * @example
 * ```ts
 * process.send({ type: 'token', requestId: 7, index: 0, token: 432, text: ',' })
 * ```
 */
export type GgufWorkerReply =
  | { type: 'ready'; systemInfo: string }
  | { type: 'token'; requestId: number; index: number; token: number; text: string }
  | { type: 'result'; requestId: number; ok: true; value: unknown }
  | { type: 'result'; requestId: number; ok: false; error: GgufWorkerError }
