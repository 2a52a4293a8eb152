import { BaseError, type Manifest } from '@verity/protocol'

/**
 * Options of the GGUF engine. `contextSize`, `batchSize`, `ubatchSize`, `threads`, `kvCacheType`
 * and `replayTolerance` are pinned: they are recorded in the engine descriptor (so in every
 * receipt's `settingsHash`). The others are limits and operational settings.
 *
 * @example
 * ```ts
 * const options: GgufEngineOptions = { ...defaultGgufEngineOptions, contextSize: 4096 }
 * ```
 */
export type GgufEngineOptions = {
  /** Tokens the context holds: prompt plus generated tokens never exceed it. */
  contextSize: number
  /** Tokens evaluated per llama.cpp decode call (prompt processing and replay). */
  batchSize: number
  /** llama.cpp's physical batch; node-llama-cpp always uses `batchSize`, so it must be equal. */
  ubatchSize: number
  /** CPU threads of one evaluation. */
  threads: number
  /** Element type of the KV cache. */
  kvCacheType: 'f32' | 'f16'
  /** Largest `maxTokens` a request may ask for (a manifest may lower it per model). */
  maxTokens: number
  /** Log-probability (and probability mass) slack within which a replay mismatch is a near tie. */
  replayTolerance: number
  /** Largest text prompt (or chat message total), in UTF-8 bytes, accepted before tokenizing. */
  maxPromptBytes: number
  /** Most stop strings a request may give (each 1 to 256 characters). */
  maxStopStrings: number
  /** Default (and maximum) time of one call, in ms; the manifest and the call may lower it. */
  timeoutMs: number
  /** Maximum time to start the worker process or load a model into it, in ms. */
  loadTimeoutMs: number
  /** After an abort or timeout, how long the worker may take to stop generating before it is killed, in ms. */
  abortGraceMs: number
}

/**
 * The pinned defaults. Why each value:
 *
 * - `threads: 1`: fastest on the 2-core machines here and trivially reproducible (outputs were
 *   identical with 1 and 2 threads, but the value is recorded anyway).
 * - `batchSize: 512` (= `ubatchSize`): llama.cpp's default. Batch size changes outputs, so it is
 *   pinned and part of the model's manifest.
 * - `contextSize: 2048`: room for prompt plus output on small models; manifests set their own.
 * - `kvCacheType: 'f32'`: with llama.cpp's default F16 cache, a batched forward pass (replay)
 *   and token-by-token generation disagree by up to ~0.04 in log-probability on stories260K, which
 *   flips near ties; with an F32 cache they agree within ~1e-5. Costs twice the KV memory.
 * - `replayTolerance: 1e-3`: two orders of magnitude above that residual noise.
 * - `maxTokens: 2048`, `maxPromptBytes: 1 MiB`, `maxStopStrings: 4` (OpenAI's limit), `timeoutMs:
 *   120 s`, `loadTimeoutMs: 120 s`, `abortGraceMs: 2 s`: limits for untrusted requests.
 *
 * @example
 * ```ts
 * const engine = createGgufEngine({ ...defaultGgufEngineOptions, timeoutMs: 10_000 })
 * ```
 */
export const defaultGgufEngineOptions: Readonly<GgufEngineOptions> = Object.freeze({
  contextSize: 2048,
  batchSize: 512,
  ubatchSize: 512,
  threads: 1,
  kvCacheType: 'f32',
  maxTokens: 2048,
  replayTolerance: 1e-3,
  maxPromptBytes: 1 << 20,
  maxStopStrings: 4,
  timeoutMs: 120_000,
  loadTimeoutMs: 120_000,
  abortGraceMs: 2_000,
})

/**
 * Options as callers pass them: any subset, `undefined` meaning "use the default".
 *
 * @example
 * ```ts
 * const options: GgufEngineOptionsInput = { contextSize: 4096, threads: undefined }
 * ```
 */
export type GgufEngineOptionsInput = {
  [K in keyof GgufEngineOptions]?: GgufEngineOptions[K] | undefined
}

function invalid(name: string, expected: string, value: unknown): BaseError {
  return new BaseError(
    'INVALID_ARGUMENT',
    `GGUF engine option "${name}" is ${JSON.stringify(value)}; expected ${expected}.`,
    { metaMessages: ['Omit the option to use the pinned default.'] },
  )
}

function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    throw invalid(name, `an integer from ${min} to ${max}`, value)
}

/**
 * Fills in defaults and validates GGUF engine options. Throws `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * resolveGgufEngineOptions({ contextSize: 4096 }).batchSize // 512
 * ```
 */
export function resolveGgufEngineOptions(options: GgufEngineOptionsInput = {}): GgufEngineOptions {
  const resolved: GgufEngineOptions = { ...defaultGgufEngineOptions }
  for (const [key, value] of Object.entries(options))
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value
  checkInteger('contextSize', resolved.contextSize, 16, 1 << 20)
  checkInteger('batchSize', resolved.batchSize, 1, 1 << 16)
  checkInteger('ubatchSize', resolved.ubatchSize, 1, 1 << 16)
  if (resolved.ubatchSize !== resolved.batchSize)
    throw invalid(
      'ubatchSize',
      `${resolved.batchSize} (equal to batchSize: node-llama-cpp always runs llama.cpp with n_ubatch = n_batch)`,
      resolved.ubatchSize,
    )
  checkInteger('threads', resolved.threads, 1, 256)
  if (resolved.kvCacheType !== 'f32' && resolved.kvCacheType !== 'f16')
    throw invalid('kvCacheType', '"f32" or "f16"', resolved.kvCacheType)
  checkInteger('maxTokens', resolved.maxTokens, 1, 1 << 20)
  if (
    typeof resolved.replayTolerance !== 'number' ||
    !(resolved.replayTolerance >= 0 && resolved.replayTolerance <= 1)
  )
    throw invalid('replayTolerance', 'a number from 0 to 1', resolved.replayTolerance)
  checkInteger('maxPromptBytes', resolved.maxPromptBytes, 1, 1 << 30)
  checkInteger('maxStopStrings', resolved.maxStopStrings, 0, 64)
  checkInteger('timeoutMs', resolved.timeoutMs, 1, 2 ** 31 - 1)
  checkInteger('loadTimeoutMs', resolved.loadTimeoutMs, 1, 2 ** 31 - 1)
  checkInteger('abortGraceMs', resolved.abortGraceMs, 0, 2 ** 31 - 1)
  return resolved
}

/**
 * The pinned decoding settings a manifest asks for (`gguf.decoding`), as engine options: create
 * the engine for a model with `createGgufEngine({ ...ggufEngineOptionsFromManifest(manifest) })`.
 * Returns `{}` when the manifest has no `gguf` section (the engine defaults apply).
 *
 * @example
 * ```ts
 * ggufEngineOptionsFromManifest(manifest) // { contextSize: 2048, batchSize: 512, ubatchSize: 512, threads: 1 }
 * ```
 */
export function ggufEngineOptionsFromManifest(manifest: Manifest): GgufEngineOptionsInput {
  const decoding = manifest.gguf?.decoding
  if (!decoding) return {}
  return {
    contextSize: decoding.contextSize,
    batchSize: decoding.batchSize,
    ubatchSize: decoding.ubatchSize,
    threads: decoding.threads,
  }
}
