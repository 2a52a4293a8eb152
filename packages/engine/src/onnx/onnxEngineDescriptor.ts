import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { BaseError, type EngineDescriptor } from '@verity/protocol'
import { detectCpuIsa } from '../detectCpuIsa.ts'
import type { OnnxEngineOptions } from './onnxEngineOptions.ts'

let cachedVersion: string | undefined

/**
 * The installed onnxruntime-node version, read from its `package.json` at run time (so the
 * descriptor always names the runtime that actually executes, not the one the code was written
 * for). Reading it does not load the native library.
 *
 * @example
 * ```ts
 * onnxRuntimeVersion() // '1.30.0'
 * ```
 */
export function onnxRuntimeVersion(): string {
  if (cachedVersion) return cachedVersion
  try {
    const path = createRequire(import.meta.url).resolve('onnxruntime-node/package.json')
    const version = (JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown }).version
    if (typeof version !== 'string' || version.length === 0)
      throw new TypeError('no "version" string')
    cachedVersion = version
    return version
  } catch (cause) {
    throw new BaseError('ENGINE_LOAD_FAILED', 'Cannot read the onnxruntime-node version.', {
      metaMessages: ['Install onnxruntime-node (a dependency of @verity/engine).'],
      details: cause instanceof Error ? cause.message : String(cause),
      cause,
    })
  }
}

/**
 * The engine descriptor of an ONNX engine: runtime name and version, and every setting that can
 * change an output (see `defaultOnnxEngineOptions` for why each value is pinned):
 * `executionProvider` (always `cpu`: GPU kernels round differently), the graph optimization
 * level, thread counts, execution mode and the CPU's ISA class (see `detectCpuIsa`). Operational
 * options (workers, timeouts) are left out: they do not change outputs.
 *
 * @example
 * ```ts
 * createOnnxEngineDescriptor(defaultOnnxEngineOptions)
 * // { name: 'onnxruntime-node', version: '1.30.0', settings: { executionProvider: 'cpu',
 * //   graphOptimizationLevel: 'basic', intraOpNumThreads: 1, interOpNumThreads: 1,
 * //   executionMode: 'sequential', isa: 'x86_64-avx512f-vnni' } }
 * ```
 */
export function createOnnxEngineDescriptor(
  options: OnnxEngineOptions,
  isa: string = detectCpuIsa(),
): EngineDescriptor {
  return {
    name: 'onnxruntime-node',
    version: onnxRuntimeVersion(),
    settings: {
      executionProvider: 'cpu',
      graphOptimizationLevel: options.graphOptimizationLevel,
      intraOpNumThreads: options.intraOpNumThreads,
      interOpNumThreads: options.interOpNumThreads,
      executionMode: options.executionMode,
      isa,
    },
  }
}
