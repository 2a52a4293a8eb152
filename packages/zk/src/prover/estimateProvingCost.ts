import { type R1csHeader, readR1csHeader } from '../circom/readR1csHeader.ts'
import { requiredPtauPower } from '../setup/assertPtauFits.ts'

/** A pre-flight estimate of what proving a circuit will cost (Groth16, snarkjs 0.7.6). */
export type ProvingCostEstimate = {
  constraints: number
  wires: number
  publicSignals: number
  /** The smallest powers-of-tau power the circuit needs (`2^k > constraints + publicSignals`). */
  ptauPower: number
  /** Expected peak resident memory of the proving process, in bytes. */
  peakMemoryBytes: number
  /** Expected wall time of one `prove` call (worker start, witness, prover), in ms. */
  proveMs: number
}

/**
 * The linear model behind {@link estimateProvingCost}, with `size = constraints + wires`.
 *
 * Calibrated with `packages/zk/src/testing/calibrateProvingCost.ts` on this project's build
 * machines (2 cores, Node 24, snarkjs 0.7.6 multi-threaded inside a worker), chain circuits of
 * 2k–64k constraints, 2–3 runs each; one whole `prove` call including the fresh worker (~0.4 s):
 *
 * | constraints | prove call (ms) | peak RSS (MB) |
 * |---|---|---|
 * | 2,000 | 900–980 | 305–337 |
 * | 8,000 | 1,110–1,800 | 443–465 |
 * | 32,000 | 2,150–3,130 | 503–553 |
 * | 64,000 | 3,460–3,530 | 686–714 |
 *
 * Fit: `proveMs ≈ 800 + 0.025·size`, `peakMemoryBytes ≈ 350 MB + 3.2 KB·size`; expect ±40%
 * (the machine was shared; more cores prove faster but start more helper threads, each with its
 * own memory). Circuits with many more wires than constraints are extrapolations.
 *
 * @example
 * ```ts
 * PROVING_COST_MODEL.proveMsPerSizeUnit // 0.025
 * ```
 */
export const PROVING_COST_MODEL = {
  proveMsBase: 800,
  proveMsPerSizeUnit: 0.025,
  memoryBytesBase: 350 * 1024 * 1024,
  memoryBytesPerSizeUnit: 3.2 * 1024,
} as const

/**
 * Estimates, before any setup or proving, the constraints, wires, required ptau power, peak
 * memory and prove time of a circuit from its `.r1cs` (only the header is read). See
 * {@link PROVING_COST_MODEL} for the measurements behind the numbers.
 *
 * @throws BaseError `ZK_CIRCUIT_INVALID` when the bytes are not an r1cs.
 *
 * @example
 * ```ts
 * const estimate = estimateProvingCost(compiled.r1cs)
 * assertWithinBudget(estimate, { maxConstraints: 1 << 16, maxMemoryBytes: 2 ** 31, maxProveMs: 30_000 })
 * ```
 */
export function estimateProvingCost(r1cs: Uint8Array | R1csHeader): ProvingCostEstimate {
  const header = r1cs instanceof Uint8Array ? readR1csHeader(r1cs) : r1cs
  const publicSignals = header.publicOutputs + header.publicInputs
  const size = header.constraints + header.wires
  const m = PROVING_COST_MODEL
  return {
    constraints: header.constraints,
    wires: header.wires,
    publicSignals,
    ptauPower: requiredPtauPower({ constraints: header.constraints, publicSignals }),
    peakMemoryBytes: Math.round(m.memoryBytesBase + m.memoryBytesPerSizeUnit * size),
    proveMs: Math.round(m.proveMsBase + m.proveMsPerSizeUnit * size),
  }
}
