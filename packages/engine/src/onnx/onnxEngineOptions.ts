import { BaseError } from '@verity/protocol'
import type { InferenceSession } from 'onnxruntime-node'

/**
 * Options of the ONNX engine. The first four change outputs and are recorded in the engine
 * descriptor (and so in every receipt); the others are operational.
 *
 * @example
 * ```ts
 * const options: OnnxEngineOptions = { ...defaultOnnxEngineOptions, workers: 2, timeoutMs: 5_000 }
 * ```
 */
export type OnnxEngineOptions = {
  /** ORT graph rewrites applied at load. */
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all'
  /** Threads used inside one operator. */
  intraOpNumThreads: number
  /** Threads used across operators (only with `executionMode: 'parallel'`). */
  interOpNumThreads: number
  /** Whether independent nodes may run concurrently. */
  executionMode: 'sequential' | 'parallel'
  /** Size of the pool of worker processes; runs beyond it wait in a FIFO queue. */
  workers: number
  /** Default (and maximum) execution time of one run, in ms; the manifest may lower it. */
  timeoutMs: number
  /** Maximum time to start a worker or load a model into it, in ms. */
  loadTimeoutMs: number
}

/**
 * The pinned defaults. Why each value:
 *
 * - `graphOptimizationLevel: 'basic'`: constant folding and redundant-node elimination only,
 *   which are ISA-neutral rewrites. `'extended'`/`'all'` fuse nodes into kernels chosen for the
 *   current CPU (e.g. NCHWc layouts on AVX-512, fused GELU/attention), so the graph that runs,
 *   and its float rounding, would differ between machines. Outputs do differ between levels.
 * - `intraOpNumThreads: 1`: one thread per run is reproducible by construction and leaves
 *   parallelism to the worker pool (several runs at once). ORT's integer kernels are bit-identical
 *   across thread counts (proved in `createOnnxEngine.test.ts`); float reductions split across
 *   threads could in principle round differently, so the value is recorded in the descriptor.
 * - `interOpNumThreads: 1` and `executionMode: 'sequential'`: nodes run one after another in a
 *   fixed order; no scheduling nondeterminism.
 * - `workers: 1`: one worker process per engine; raise it to use more cores for concurrent runs
 *   (it does not change outputs).
 * - `timeoutMs: 30_000`: bounds a run of an untrusted model; `loadTimeoutMs: 120_000` bounds
 *   process start plus session creation (graph optimization of a large model can take a while).
 *
 * @example
 * ```ts
 * const engine = createOnnxEngine({ ...defaultOnnxEngineOptions, workers: 2 })
 * ```
 */
export const defaultOnnxEngineOptions: Readonly<OnnxEngineOptions> = Object.freeze({
  graphOptimizationLevel: 'basic',
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  workers: 1,
  timeoutMs: 30_000,
  loadTimeoutMs: 120_000,
})

/**
 * Options as callers pass them: any subset, `undefined` meaning "use the default".
 *
 * @example
 * ```ts
 * const options: OnnxEngineOptionsInput = { workers: 2, timeoutMs: undefined }
 * ```
 */
export type OnnxEngineOptionsInput = {
  [K in keyof OnnxEngineOptions]?: OnnxEngineOptions[K] | undefined
}

const graphOptimizationLevels = ['disabled', 'basic', 'extended', 'all'] as const
const executionModes = ['sequential', 'parallel'] as const

function invalid(name: string, expected: string, value: unknown): BaseError {
  return new BaseError(
    'INVALID_ARGUMENT',
    `ONNX engine option "${name}" is ${JSON.stringify(value)}; expected ${expected}.`,
    { metaMessages: ['Omit the option to use the pinned default.'] },
  )
}

function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    throw invalid(name, `an integer from ${min} to ${max}`, value)
}

/**
 * Fills in defaults and validates ONNX engine options. Throws `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * resolveOnnxEngineOptions({ workers: 2 }).graphOptimizationLevel // 'basic'
 * ```
 */
export function resolveOnnxEngineOptions(options: OnnxEngineOptionsInput = {}): OnnxEngineOptions {
  const resolved: OnnxEngineOptions = { ...defaultOnnxEngineOptions }
  for (const [key, value] of Object.entries(options))
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value
  if (!graphOptimizationLevels.includes(resolved.graphOptimizationLevel))
    throw invalid(
      'graphOptimizationLevel',
      graphOptimizationLevels.join(' | '),
      resolved.graphOptimizationLevel,
    )
  if (!executionModes.includes(resolved.executionMode))
    throw invalid('executionMode', executionModes.join(' | '), resolved.executionMode)
  checkInteger('intraOpNumThreads', resolved.intraOpNumThreads, 1, 256)
  checkInteger('interOpNumThreads', resolved.interOpNumThreads, 1, 256)
  checkInteger('workers', resolved.workers, 1, 256)
  checkInteger('timeoutMs', resolved.timeoutMs, 1, 2 ** 31 - 1)
  checkInteger('loadTimeoutMs', resolved.loadTimeoutMs, 1, 2 ** 31 - 1)
  return resolved
}

/**
 * The onnxruntime session options for these engine options: CPU provider only, the pinned
 * settings, and fixed session config entries that would otherwise change float results
 * (denormals are kept, not flushed to zero; no bf16 fast-math GEMM on arm64). The worker and the
 * benchmark's bare session both use this, so they run the same configuration.
 *
 * @example
 * ```ts
 * const session = await InferenceSession.create(bytes, onnxSessionOptions(defaultOnnxEngineOptions))
 * ```
 */
export function onnxSessionOptions(options: OnnxEngineOptions): InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: options.graphOptimizationLevel,
    intraOpNumThreads: options.intraOpNumThreads,
    interOpNumThreads: options.interOpNumThreads,
    executionMode: options.executionMode,
    enableCpuMemArena: true,
    enableMemPattern: true,
    // 3 = errors only: ORT's load-time warnings (unused initializers, …) are noise for operators.
    logSeverityLevel: 3,
    extra: {
      session: { set_denormal_as_zero: '0' },
      mlas: { enable_gemm_fastmath_arm64_bfloat16: '0' },
    },
  }
}
