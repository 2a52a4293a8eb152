import { encodeAbiParameters, hexToBigInt, keccak256 } from 'viem'
import { BaseError } from './errors.ts'
import type { Hash } from './hash.ts'

/** A node that may be selected, with its (already capped) selection weight, e.g. stake in wei. */
export type VerifierCandidate = { address: `0x${string}`; weight: bigint }

/**
 * The selection seed `keccak256(abi.encode(jobId, blockHash))`: unknown to the executor before
 * the block exists, and checkable by anyone afterwards.
 *
 * @example
 * ```ts
 * const seed = selectionSeed(receipt.job.id, block.hash)
 * ```
 */
export function selectionSeed(jobId: Hash, blockHash: Hash): Hash {
  return keccak256(
    encodeAbiParameters([{ type: 'bytes32' }, { type: 'bytes32' }], [jobId, blockHash]),
  )
}

export type SelectVerifiersParameters = {
  seed: Hash
  candidates: readonly VerifierCandidate[]
  count: number
  /** Never selected (the executor, nodes already tried). */
  exclude?: readonly `0x${string}`[]
  /** Per-node weight cap, so no operator dominates (NodeRegistry applies the same cap). */
  weightCap?: bigint
}

/**
 * Stake-weighted sampling without replacement, deterministic given the seed: candidates in
 * ascending address order, draw `i` picks by `keccak256(abi.encode(seed, i)) mod remainingWeight`.
 * Anyone with the same candidate list (NodeRegistry at the seed block) recomputes the same verifiers.
 *
 * @example
 * ```ts
 * const verifiers = selectVerifiers({ seed, candidates, count: 2, exclude: [executor] })
 * ```
 */
export function selectVerifiers(parameters: SelectVerifiersParameters): `0x${string}`[] {
  const { seed, count } = parameters
  const excluded = new Set((parameters.exclude ?? []).map((address) => address.toLowerCase()))
  const seen = new Set<string>()
  const pool = parameters.candidates
    .map((candidate) => ({
      address: candidate.address,
      weight:
        parameters.weightCap !== undefined && candidate.weight > parameters.weightCap
          ? parameters.weightCap
          : candidate.weight,
    }))
    .filter(({ address, weight }) => {
      const key = address.toLowerCase()
      if (weight <= 0n || excluded.has(key) || seen.has(key)) return false
      seen.add(key)
      return true
    })
    .sort((a, b) => (a.address.toLowerCase() < b.address.toLowerCase() ? -1 : 1))
  if (!Number.isInteger(count) || count < 0)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `Verifier count ${count} must be a non-negative integer.`,
    )
  if (count > pool.length)
    throw new BaseError(
      'SELECTION_INVALID',
      `${count} verifiers requested but only ${pool.length} eligible node(s) are staked.`,
      { metaMessages: ['Lower the quorum, or wait for more verifiers to register.'] },
    )
  let total = pool.reduce((sum, candidate) => sum + candidate.weight, 0n)
  const selected: `0x${string}`[] = []
  for (let draw = 0; draw < count; draw++) {
    const random = hexToBigInt(
      keccak256(
        encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256' }], [seed, BigInt(draw)]),
      ),
    )
    let target = random % total
    const index = pool.findIndex((candidate) => {
      if (target < candidate.weight) return true
      target -= candidate.weight
      return false
    })
    const [picked] = pool.splice(index, 1)
    selected.push(picked!.address)
    total -= picked!.weight
  }
  return selected
}
