import { type Curve, curves } from 'snarkjs'

let users = 0
let building: Promise<Curve> | undefined
let built: Curve | undefined

/**
 * Runs `task` while snarkjs's shared multi-threaded BN254 curve is alive and terminates the
 * curve's worker threads when the last concurrent task finishes, so no handle keeps the process
 * alive. snarkjs (ffjavascript) caches the curve on `globalThis.curve_bn128`; building it first
 * here makes every snarkjs call inside `task` reuse the same instance. Building costs ≈0.2 s.
 *
 * @example
 * ```ts
 * const ok = await withBn128Curve(() => groth16.verify(vkey, publicSignals, proof))
 * ```
 */
export async function withBn128Curve<T>(task: () => Promise<T>): Promise<T> {
  users++
  try {
    building ??= curves.getCurveFromName('bn128')
    built = await building
    return await task()
  } finally {
    users--
    if (users === 0) {
      const curve = built
      building = undefined
      built = undefined
      // Synchronously clears ffjavascript's cache (so the next build is fresh), then stops the
      // helper threads (ffjavascript waits 200 ms for them).
      if (curve) void Promise.resolve(curve.terminate()).catch(() => {})
    }
  }
}

/**
 * Terminates snarkjs's cached BN254 curve (its worker threads) if one is alive, whoever built
 * it. For worker-thread entry points and shutdown hooks.
 *
 * @example
 * ```ts
 * await terminateBn128Curve()
 * ```
 */
export async function terminateBn128Curve(): Promise<void> {
  const cached = (globalThis as { curve_bn128?: Curve | null }).curve_bn128
  if (cached) await cached.terminate()
}
