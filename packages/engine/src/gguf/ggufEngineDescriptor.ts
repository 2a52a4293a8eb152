import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { BaseError, type EngineDescriptor } from '@verity/protocol'
import { detectCpuIsa } from '../detectCpuIsa.ts'
import type { GgufEngineOptions } from './ggufEngineOptions.ts'

/**
 * The node-llama-cpp build that runs GGUF models: the package version and the llama.cpp release
 * its binaries were built from.
 *
 * @example
 * ```ts
 * const runtime: LlamaRuntimeVersion = { nodeLlamaCpp: '3.21.1', llamaCpp: 'ggml-org/llama.cpp@v0.4.0' }
 * ```
 */
export type LlamaRuntimeVersion = { nodeLlamaCpp: string; llamaCpp: string }

let cached: LlamaRuntimeVersion | undefined

function readJson(url: URL): Record<string, unknown> {
  return JSON.parse(readFileSync(fileURLToPath(url), 'utf8')) as Record<string, unknown>
}

/**
 * Reads the installed node-llama-cpp version and its llama.cpp release from the package's files
 * (so the descriptor names the runtime that actually executes). Does not load the native library.
 * Throws `ENGINE_LOAD_FAILED` when node-llama-cpp is not installed.
 *
 * @example
 * ```ts
 * llamaRuntimeVersion() // { nodeLlamaCpp: '3.21.1', llamaCpp: 'ggml-org/llama.cpp@v0.4.0' }
 * ```
 */
export function llamaRuntimeVersion(): LlamaRuntimeVersion {
  if (cached) return cached
  try {
    // The package does not export its package.json: find it from the entry point (dist/index.js).
    const entry = new URL(import.meta.resolve('node-llama-cpp'))
    const pkg = readJson(new URL('../package.json', entry))
    const info = readJson(new URL('../llama/llama.cpp.info.json', entry))
    if (typeof pkg.version !== 'string' || typeof info.tag !== 'string')
      throw new TypeError('no "version" in package.json or no "tag" in llama.cpp.info.json')
    const repo = typeof info.llamaCppGithubRepo === 'string' ? info.llamaCppGithubRepo : 'unknown'
    cached = { nodeLlamaCpp: pkg.version, llamaCpp: `${repo}@${info.tag}` }
    return cached
  } catch (cause) {
    throw new BaseError('ENGINE_LOAD_FAILED', 'Cannot read the node-llama-cpp version.', {
      metaMessages: ['Install node-llama-cpp (a dependency of @verity/engine).'],
      details: cause instanceof Error ? cause.message : String(cause),
      cause,
    })
  }
}

/**
 * How tokens are chosen, as recorded in the descriptor (the per-request values are in each
 * result's `sampling`).
 *
 * @example
 * ```ts
 * engine.descriptor.settings.samplerChain === ggufSamplerChain // true
 * ```
 */
export const ggufSamplerChain =
  'temperature=0: greedy (max logit, lowest id on ties); else top-k > top-p > min-p > temperature > dist(mt19937(seed), one draw per token)'

/**
 * The engine descriptor of a GGUF engine: `llama.cpp` run through node-llama-cpp (version and
 * llama.cpp release), CPU only, and every setting that can change a token: context size, batch
 * and micro-batch size, threads, KV-cache type, flash attention (off), context shift (off: a
 * request that does not fit is refused), how prompts are tokenized, the sampler chain, how seeds
 * are used, the replay tolerance and the CPU's ISA class (see `detectCpuIsa`). Limits and
 * timeouts are left out: they do not change tokens.
 *
 * @example
 * ```ts
 * createGgufEngineDescriptor(defaultGgufEngineOptions).settings.batchSize // 512
 * ```
 */
export function createGgufEngineDescriptor(
  options: GgufEngineOptions,
  isa: string = detectCpuIsa(),
): EngineDescriptor {
  const runtime = llamaRuntimeVersion()
  return {
    name: 'llama.cpp',
    version: runtime.nodeLlamaCpp,
    settings: {
      bindings: 'node-llama-cpp',
      llamaCpp: runtime.llamaCpp,
      binary: 'prebuilt-cpu',
      gpu: false,
      isa,
      contextSize: options.contextSize,
      batchSize: options.batchSize,
      ubatchSize: options.ubatchSize,
      threads: options.threads,
      kvCacheType: options.kvCacheType,
      flashAttention: false,
      contextShift: false,
      sequences: 1,
      tokenizer: 'bos-if-model-adds-it + text (special tokens not parsed)',
      chat: 'tokenizer.chat_template via JinjaTemplateChatWrapper; without one: contents joined by \\n',
      samplerChain: ggufSamplerChain,
      seed: 'per request, uint32 below 2^32-1, default 0',
      replayTolerance: options.replayTolerance,
    },
  }
}
