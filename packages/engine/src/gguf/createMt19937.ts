/**
 * A 32-bit Mersenne Twister, bit-identical to C++'s `std::mt19937`.
 *
 * @example
 * ```ts
 * const rng: Mt19937 = createMt19937(42)
 * ```
 */
export type Mt19937 = {
  /** The next 32-bit output, as an unsigned integer. */
  nextUint32(): number
  /**
   * The next `std::uniform_real_distribution<double>(0, 1)` value as libstdc++ computes it
   * (`generate_canonical<double, 53>`: two 32-bit outputs, `(a + b * 2^32) / 2^64` in double
   * arithmetic, values that round to 1 replaced by the largest double below 1). This is the draw
   * llama.cpp's `dist` sampler makes once per sampled token.
   */
  nextCanonicalDouble(): number
}

const n = 624
const m = 397
const twoTo32 = 4_294_967_296
const twoTo64 = twoTo32 * twoTo32
const belowOne = 1 - 2 ** -53

/**
 * Creates a `std::mt19937` seeded like `std::mt19937(seed)`. Used to re-derive, in a replay, the
 * uniform draw llama.cpp made for a given token, so a near tie between two candidates can be told
 * apart from a substituted token.
 *
 * @example
 * ```ts
 * const rng = createMt19937(5489)
 * rng.nextUint32() // 3499211612
 * ```
 */
export function createMt19937(seed: number): Mt19937 {
  const state = new Uint32Array(n)
  state[0] = seed >>> 0
  for (let i = 1; i < n; i++) {
    const previous = state[i - 1]! ^ (state[i - 1]! >>> 30)
    // 1812433253 * previous, modulo 2^32, without losing precision to doubles.
    state[i] = (Math.imul(1_812_433_253, previous) + i) >>> 0
  }
  let index = n

  function twist(): void {
    for (let i = 0; i < n; i++) {
      const y = (state[i]! & 0x8000_0000) | (state[(i + 1) % n]! & 0x7fff_ffff)
      state[i] = state[(i + m) % n]! ^ (y >>> 1) ^ (y & 1 ? 0x9908_b0df : 0)
    }
    index = 0
  }

  function nextUint32(): number {
    if (index >= n) twist()
    let y = state[index++]!
    y ^= y >>> 11
    y ^= (y << 7) & 0x9d2c_5680
    y ^= (y << 15) & 0xefc6_0000
    y ^= y >>> 18
    return y >>> 0
  }

  return {
    nextUint32,
    nextCanonicalDouble() {
      let sum = nextUint32()
      sum += nextUint32() * twoTo32
      const value = sum / twoTo64
      return value >= 1 ? belowOne : value
    },
  }
}
