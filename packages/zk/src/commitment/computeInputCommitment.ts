/**
 * Field elements absorbed per Poseidon(5) call of the commitment chain (the 5th input is the chain).
 *
 * @example
 * ```ts
 * Math.ceil(26 / commitmentElementsPerHash) // 7 calls for a 28×28 image
 * ```
 */
export const commitmentElementsPerHash = 4

// The commitment is the protocol's: verifiers recompute it without this package.
export { computeInputCommitment } from '@verity/protocol'
