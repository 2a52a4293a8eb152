import { BaseError } from '@verity/protocol'
import { deterministicCos, deterministicLog, deterministicSin } from './deterministicMath.ts'

/** A seeded pseudo-random source. Same seed, same sequence, on every JavaScript engine. */
export type Random = {
  /** Next 32-bit unsigned integer. */
  nextUint32(): number
  /** Uniform float in [0, 1) with 32 random bits. */
  next(): number
  /** Uniform float in [min, max). */
  uniform(min: number, max: number): number
  /** Uniform integer in [0, n). */
  int(n: number): number
  /** Standard normal variate (Box-Muller, using portable log and cos). */
  normal(): number
  /** Shuffles an array in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[]
}

function assertSeed(seed: number, name: string): void {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `${name} must be a non-negative safe integer; got ${String(seed)}.`,
      { metaMessages: ['Pass an integer such as 1 or 20240601.'] },
    )
}

/** One splitmix32 step: the output function is a strong 32-bit mixer. */
function mix32(state: number): number {
  let z = state
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
  return (z ^ (z >>> 15)) >>> 0
}

/**
 * Derives an independent 32-bit seed for a named stream (for example `'train'` or `'init'`) from a
 * recipe seed, so that changing how many numbers one stream draws never shifts another stream.
 *
 * @example
 * ```ts
 * const trainSeed = deriveSeed(1, 'train')
 * ```
 */
export function deriveSeed(seed: number, stream: string): number {
  assertSeed(seed, 'seed')
  // FNV-1a over the stream name, folded with both 32-bit halves of the seed
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(stream)) hash = Math.imul(hash ^ byte, 0x01000193)
  const low = seed >>> 0
  const high = Math.floor(seed / 0x1_0000_0000) >>> 0
  return mix32((mix32(hash ^ low) + mix32(high ^ 0x9e3779b9)) | 0)
}

/**
 * A splitmix32 generator seeded with a non-negative integer.
 *
 * @example
 * ```ts
 * const random = createRandom(42)
 * random.next() // always the same float in [0, 1)
 * random.normal() // always the same standard normal variate
 * ```
 */
export function createRandom(seed: number): Random {
  assertSeed(seed, 'seed')
  let state = (seed >>> 0) ^ mix32(Math.floor(seed / 0x1_0000_0000) >>> 0)
  let spare: number | undefined
  const nextUint32 = (): number => {
    state = (state + 0x9e3779b9) | 0
    return mix32(state)
  }
  const next = (): number => nextUint32() / 0x1_0000_0000
  const random: Random = {
    nextUint32,
    next,
    uniform: (min, max) => min + (max - min) * next(),
    int: (n) => Math.floor(next() * n),
    normal: () => {
      if (spare !== undefined) {
        const value = spare
        spare = undefined
        return value
      }
      const u1 = 1 - next() // (0, 1]
      const u2 = next()
      const radius = Math.sqrt(-2 * deterministicLog(u1))
      const angle = 2 * Math.PI * u2
      spare = radius * deterministicSin(angle)
      return radius * deterministicCos(angle)
    },
    shuffle: (items) => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1))
        const swap = items[i] as (typeof items)[number]
        items[i] = items[j] as (typeof items)[number]
        items[j] = swap
      }
      return items
    },
  }
  return random
}
