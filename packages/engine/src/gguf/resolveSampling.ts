import { BaseError } from '@verity/protocol'
import type { TextSampling, TextSamplingInput } from './textEngine.ts'

/**
 * The sampling used when a request leaves a field out: greedy decoding, and node-llama-cpp's
 * defaults for the rest (they only matter when `temperature > 0`).
 *
 * @example
 * ```ts
 * resolveSampling({}) // equals defaultTextSampling
 * ```
 */
export const defaultTextSampling: Readonly<TextSampling> = Object.freeze({
  temperature: 0,
  topK: 40,
  topP: 0.95,
  minP: 0,
  seed: 0,
})

/**
 * The largest seed: llama.cpp treats 0xFFFFFFFF (`LLAMA_DEFAULT_SEED`) as "pick a random one".
 *
 * @example
 * ```ts
 * resolveSampling({ seed: maxTextSeed }).seed // 4294967294
 * ```
 */
export const maxTextSeed = 0xffff_fffe

function invalid(name: string, expected: string, value: unknown): BaseError {
  return new BaseError(
    'INVALID_ARGUMENT',
    `Sampling parameter "${name}" is ${JSON.stringify(value)}; expected ${expected}.`,
    { metaMessages: ['Omit it to use the default.'] },
  )
}

function pick(input: TextSamplingInput, name: keyof TextSampling): number {
  const value = input[name]
  return value === undefined ? defaultTextSampling[name] : value
}

/**
 * Fills in the defaults of a request's sampling and validates it: `temperature` in [0, 2],
 * `topK` an integer in [0, 1_000_000], `topP` in (0, 1], `minP` in [0, 1], `seed` an integer in
 * [0, 2^32 - 2]. Throws `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * resolveSampling({ temperature: 0.8, seed: 42 }) // { temperature: 0.8, topK: 40, topP: 0.95, minP: 0, seed: 42 }
 * ```
 */
export function resolveSampling(input: TextSamplingInput): TextSampling {
  const sampling: TextSampling = {
    temperature: pick(input, 'temperature'),
    topK: pick(input, 'topK'),
    topP: pick(input, 'topP'),
    minP: pick(input, 'minP'),
    seed: pick(input, 'seed'),
  }
  const { temperature, topK, topP, minP, seed } = sampling
  if (typeof temperature !== 'number' || !(temperature >= 0 && temperature <= 2))
    throw invalid('temperature', 'a number from 0 (greedy) to 2', temperature)
  if (!Number.isInteger(topK) || topK < 0 || topK > 1_000_000)
    throw invalid('topK', 'an integer from 0 (off) to 1000000', topK)
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1))
    throw invalid('topP', 'a number above 0 and at most 1 (off)', topP)
  if (typeof minP !== 'number' || !(minP >= 0 && minP <= 1))
    throw invalid('minP', 'a number from 0 (off) to 1', minP)
  if (!Number.isInteger(seed) || seed < 0 || seed > maxTextSeed)
    throw invalid('seed', `an integer from 0 to ${maxTextSeed}`, seed)
  return sampling
}
