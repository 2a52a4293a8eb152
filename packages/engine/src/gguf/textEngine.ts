import type { EngineDescriptor, Hash, Manifest } from '@verity/protocol'

/**
 * What {@link TextEngine.load} takes: the id the caller will use (usually the model's CID), the
 * manifest, and the GGUF file either as a path (read in place, memory-mapped) or as bytes (written
 * to a private temporary file for the engine's lifetime).
 *
 * @example
 * ```ts
 * const parameters: TextEngineLoadParameters = { id: manifest.cid, path: './stories260K.gguf', manifest }
 * ```
 */
export type TextEngineLoadParameters = {
  id: string
  manifest: Manifest
} & ({ path: string; bytes?: undefined } | { bytes: Uint8Array; path?: undefined })

/**
 * How the next token is chosen, as a caller may ask for it (every field optional). See
 * {@link TextSampling} for the resolved form and the defaults.
 *
 * @example
 * ```ts
 * const sampling: TextSamplingInput = { temperature: 0.8, seed: 42 }
 * ```
 */
export type TextSamplingInput = {
  temperature?: number | undefined
  topK?: number | undefined
  topP?: number | undefined
  minP?: number | undefined
  seed?: number | undefined
}

/**
 * The resolved sampling of one request: every value that changes which token is chosen. It is
 * returned with each result so a receipt can record it, and {@link TextEngine.replay} takes it back.
 *
 * The chain is llama.cpp's, as node-llama-cpp builds it: `temperature === 0` is greedy (the
 * highest logit; on a tie the lowest token id). Otherwise top-k (`topK`; 0 = off) → top-p
 * (`topP`; 1 = off) → min-p (`minP`; 0 = off) → temperature → a draw from the remaining
 * distribution with a per-request mt19937 generator seeded with `seed` (one draw per token).
 *
 * @example
 * ```ts
 * const sampling: TextSampling = { temperature: 0, topK: 40, topP: 0.95, minP: 0, seed: 0 }
 * ```
 */
export type TextSampling = {
  /** 0 (greedy) to 2. Default 0. */
  temperature: number
  /** 0 (off) to the vocabulary size. Default 40. */
  topK: number
  /** (0, 1]; 1 = off. Default 0.95. */
  topP: number
  /** [0, 1]; 0 = off. Default 0. */
  minP: number
  /** An integer in [0, 2^32 - 2] (2^32 - 1 means "random" to llama.cpp, so it is refused). Default 0. */
  seed: number
}

/**
 * A prompt: text (tokenized the way llama.cpp tokenizes a completion prompt: the model's BOS token
 * when it adds one, then the text with special-token syntax left as plain text) or token ids
 * (used as they are, nothing prepended).
 *
 * @example
 * ```ts
 * const prompt: TextPrompt = 'Once upon a time'
 * const same: TextPrompt = [1, 403, 407, 261, 378]
 * ```
 */
export type TextPrompt = string | readonly number[]

/**
 * One generated token as it streams: its position in the output, its id, and the text it
 * releases. Text is released in order and only once it is final: a token may release `''` (an
 * incomplete UTF-8 character, or text that could be the start of a stop string) and a later one
 * more than its own piece. The concatenated `text` of all events equals the result's `text`.
 *
 * @example
 * ```ts
 * const onToken = (event: TextTokenEvent) => process.stdout.write(event.text)
 * ```
 */
export type TextTokenEvent = { index: number; token: number; text: string }

/**
 * Token counts of one request, OpenAI-style.
 *
 * @example
 * ```ts
 * const usage: TextUsage = { promptTokens: 5, completionTokens: 32, totalTokens: 37 }
 * ```
 */
export type TextUsage = { promptTokens: number; completionTokens: number; totalTokens: number }

/**
 * Why generation ended: `stop` (the model produced an end-of-generation token, or the text
 * reached a stop string) or `length` (`maxTokens` tokens were generated). An aborted call has no
 * finish reason: it rejects with `ENGINE_ABORTED` (the tokens streamed so far are all there is).
 *
 * @example
 * ```ts
 * const reason: TextFinishReason = 'length'
 * ```
 */
export type TextFinishReason = 'stop' | 'length'

/**
 * What {@link TextEngine.complete} takes. `maxTokens` defaults to the model's limit (the smallest
 * of the engine's `maxTokens`, the manifest's `gguf.decoding.maxTokens` and what the context has
 * left after the prompt); `stop` strings end generation when the text contains one (the text is
 * cut before it). `timeoutMs` can only lower the engine's and the manifest's limit; `signal`
 * cancels the call.
 *
 * @example
 * ```ts
 * const parameters: TextCompleteParameters = { id, prompt: 'Once upon a time', maxTokens: 32 }
 * ```
 */
export type TextCompleteParameters = {
  id: string
  prompt: TextPrompt
  maxTokens?: number | undefined
  stop?: readonly string[] | undefined
  onToken?: ((event: TextTokenEvent) => void) | undefined
  signal?: AbortSignal | undefined
  timeoutMs?: number | undefined
  /**
   * Constrains every token to JSON matching this schema (the subset `parseResponseJsonSchema`
   * accepts; `{ type: 'object', additionalProperties: true }` for any object) with a llama.cpp
   * grammar. Generation stops when the JSON value is complete (the text is the JSON alone).
   */
  jsonSchema?: Readonly<Record<string, unknown>> | undefined
} & TextSamplingInput

/**
 * The result of a completion or chat call. `tokens` are all the generated ids, including a final
 * end-of-generation token and the token that completed a stop string; `text` is their decoded
 * text (special tokens left out), cut before a stop string. Everything that decided the tokens is
 * here (`promptTokens`, `maxTokens`, `stop`, `sampling`), so `replay({ id, ...result })` checks it.
 *
 * @example
 * ```ts
 * const { tokens, text, finishReason, usage } = await engine.complete({ id, prompt: 'Hi' })
 * ```
 */
export type TextCompletion = {
  promptTokens: number[]
  tokens: number[]
  text: string
  finishReason: TextFinishReason
  maxTokens: number
  stop: string[]
  sampling: TextSampling
  /** The schema the output was constrained to, when it was. */
  jsonSchema?: Readonly<Record<string, unknown>> | undefined
  usage: TextUsage
  /** Wall-clock time of the call, in ms (including waiting for the engine). */
  durationMs: number
  /** From the start of the call to the first generated token, in ms. */
  timeToFirstTokenMs: number
}

/**
 * One chat message. Roles are OpenAI's (`system`, `user`, `assistant`); content is plain text.
 *
 * @example
 * ```ts
 * const message: TextChatMessage = { role: 'user', content: 'Tell me a story.' }
 * ```
 */
export type TextChatMessage = { role: 'system' | 'user' | 'assistant'; content: string }

/**
 * What {@link TextEngine.chat} takes: the messages instead of a prompt; everything else as in
 * {@link TextCompleteParameters}.
 *
 * @example
 * ```ts
 * const parameters: TextChatParameters = { id, messages: [{ role: 'user', content: 'Hi' }] }
 * ```
 */
export type TextChatParameters = Omit<TextCompleteParameters, 'prompt'> & {
  messages: readonly TextChatMessage[]
}

/**
 * A chat result: a completion plus how the messages became the prompt: `jinja` (the model's own
 * `tokenizer.chat_template`, rendered by node-llama-cpp's JinjaTemplateChatWrapper) or `none`
 * (the model has no template: the message contents joined by `\n`, tokenized like a completion
 * prompt).
 *
 * @example
 * ```ts
 * const { text, chatTemplate } = await engine.chat({ id, messages })
 * ```
 */
export type TextChatCompletion = TextCompletion & { chatTemplate: 'jinja' | 'none' }

/**
 * What {@link TextEngine.replay} checks: a claimed output (`tokens`) for a prompt, with the
 * request's `maxTokens`, `stop` and `sampling`: exactly the fields of a {@link TextCompletion}, so
 * `replay({ id, ...completion })` works.
 *
 * @example
 * ```ts
 * const verdict = await engine.replay({ id, promptTokens, tokens, maxTokens: 32, stop: [], sampling })
 * ```
 */
export type TextReplayParameters = {
  id: string
  promptTokens: readonly number[]
  tokens: readonly number[]
  maxTokens: number
  stop?: readonly string[] | undefined
  sampling: TextSampling
  /** The grammar of a constrained generation (a replay then regenerates: see `method`). */
  jsonSchema?: Readonly<Record<string, unknown>> | undefined
  signal?: AbortSignal | undefined
  timeoutMs?: number | undefined
}

/**
 * A token the replay chose differently from the claim. `index` is the position in `tokens`;
 * `expected` is what the pinned sampler yields there (`null`: generation must have ended before
 * this token); `actual` is the claimed token (`null`: the claim ended too early).
 *
 * @example
 * ```ts
 * const mismatch: TextReplayMismatch = { index: 7, expected: 315, actual: 316 }
 * ```
 */
export type TextReplayMismatch = { index: number; expected: number | null; actual: number | null }

/**
 * The verdict of a replay. `ok` when every claimed token is what the pinned sampler chooses and the
 * claim ends where generation ends; otherwise `firstMismatch` says where it goes wrong.
 * `nearTies` lists tokens that differ from the replay's choice only within `replayTolerance`
 * (float noise between a batched pass and token-by-token generation): they count as matches, and
 * a caller that wants certainty re-executes (`complete`) instead. `text` and `finishReason` are
 * recomputed from the tokens the way `complete` computes them, for comparison with the claim.
 *
 * @example
 * ```ts
 * const { ok, firstMismatch } = await engine.replay({ id, ...completion })
 * ```
 */
export type TextReplayResult = {
  ok: boolean
  firstMismatch?: TextReplayMismatch | undefined
  nearTies: TextReplayMismatch[]
  text: string
  finishReason: TextFinishReason
  /** How many sampler choices were compared. */
  checkedTokens: number
  /**
   * `teacher-forcing`: one batched forward pass over prompt + claimed tokens. `regeneration`: a
   * grammar-constrained output (`jsonSchema`) is regenerated token by token under the same grammar
   * and compared, because the grammar's state is not available to a batched pass.
   */
  method: 'teacher-forcing' | 'regeneration'
  durationMs: number
}

/**
 * What {@link TextEngine.promptTokens} takes: a completion prompt or chat messages.
 *
 * @example
 * ```ts
 * const parameters: TextPromptTokensParameters = { id, messages: [{ role: 'user', content: 'Hi' }] }
 * ```
 */
export type TextPromptTokensParameters = { id: string } & (
  | { prompt: TextPrompt; messages?: undefined }
  | { messages: readonly TextChatMessage[]; prompt?: undefined }
)

/**
 * Facts about a loaded model, as llama.cpp reads them.
 *
 * @example
 * ```ts
 * const { vocabSize, contextSize } = engine.modelInfo(id)
 * ```
 */
export type TextModelInfo = {
  architecture: string
  vocabSize: number
  trainContextSize: number
  /** The pinned context size (prompt + generated tokens never exceed it). */
  contextSize: number
  /** The largest `maxTokens` a request may ask for. */
  maxTokens: number
  bosTokenId: number | null
  eosTokenId: number | null
  addBosToken: boolean
  chatTemplate: string | null
}

/**
 * A text-generation (LLM) runtime: GGUF models through llama.cpp (`createGgufEngine`).
 *
 * - `descriptor` pins everything that can change a token (llama.cpp build, threads, batch sizes,
 *   context size, KV-cache type, sampler chain, seed handling, CPU ISA class); `settingsHash` is
 *   its canonical hash, for receipts. Per-request values (prompt tokens, sampling, `maxTokens`,
 *   `stop`) come back in each result.
 * - `load` is idempotent per id; `unload` forgets a model (a no-op for unknown ids); `close`
 *   stops the engine, after which every call throws `ENGINE_CLOSED`.
 * - `complete`/`chat` generate (streaming through `onToken`); `replay` checks a claimed output in
 *   one batched forward pass (teacher forcing); `tokenize` turns text into prompt tokens.
 *
 * Error codes: `INVALID_ARGUMENT`, `MODEL_NOT_FOUND`, `MANIFEST_INVALID`, `TENSOR_TOO_LARGE`
 * (prompt plus `maxTokens` do not fit the context), `ENGINE_LOAD_FAILED`, `ENGINE_RUN_FAILED`,
 * `ENGINE_TIMEOUT`, `ENGINE_ABORTED`, `ENGINE_CLOSED`.
 *
 * @example
 * ```ts
 * const engine: TextEngine = createGgufEngine()
 * await engine.load({ id: manifest.cid, path, manifest })
 * const completion = await engine.complete({ id: manifest.cid, prompt: 'Once upon a time' })
 * const { ok } = await engine.replay({ id: manifest.cid, ...completion })
 * await engine.close()
 * ```
 */
export type TextEngine = {
  readonly descriptor: EngineDescriptor
  readonly settingsHash: Hash
  load(parameters: TextEngineLoadParameters): Promise<TextModelInfo>
  modelInfo(id: string): TextModelInfo
  tokenize(parameters: { id: string; text: string }): Promise<number[]>
  /**
   * The prompt tokens `complete` (given `prompt`) or `chat` (given `messages`) would evaluate:
   * what {@link TextEngine.replay} needs to check a result whose prompt was sent as text.
   */
  promptTokens(parameters: TextPromptTokensParameters): Promise<number[]>
  complete(parameters: TextCompleteParameters): Promise<TextCompletion>
  chat(parameters: TextChatParameters): Promise<TextChatCompletion>
  replay(parameters: TextReplayParameters): Promise<TextReplayResult>
  unload(id: string): Promise<void>
  close(): Promise<void>
}
