import type { Hash } from '@verity/protocol'
import { bytesToHex, concat, keccak256 } from 'viem'

/**
 * What seeds a job's verifier selection: the `blockHash` that goes into protocol's
 * `selectionSeed(jobId, blockHash)`, and — when it really is a block of the settlement chain — the
 * `selection` a receipt records so anyone can recompute the draw.
 *
 * @example
 * ```ts
 * const { blockHash, selection }: SelectionBlock = await seeds.seedFor({ jobId })
 * ```
 */
export type SelectionBlock = {
  blockHash: Hash
  /** Present only for a chain block; receipts carry it as `quorum.selection`. */
  selection?: { blockNumber: number; blockHash: Hash } | undefined
}

/**
 * Gives the block hash that seeds verifier selection for a job. The chain-backed source (a recent
 * block, unknown to the executor when it accepted the job) slots in here; without a chain,
 * {@link createLocalSeedSource}.
 *
 * @example
 * ```ts
 * const seeds: SeedSource = createLocalSeedSource()
 * const seed = selectionSeed(jobId, (await seeds.seedFor({ jobId })).blockHash)
 * ```
 */
export type SeedSource = {
  seedFor(parameters: { jobId: Hash; signal?: AbortSignal | undefined }): Promise<SelectionBlock>
}

/**
 * The seed source of a node without a chain: `blockHash = keccak256(jobId ‖ nonce)` with a nonce
 * drawn when the node starts (or given, for reproducible tests). No `selection` is recorded, so the
 * receipts it seeds carry none.
 *
 * Weakness, by construction: the executor knows the nonce, so it can predict — and, by restarting
 * until it likes the draw, grind — which verifiers it gets. Only a seed it cannot know in advance
 * (a block hash after the job is fixed) makes the selection unbiased; that is the chain-backed
 * source's job. Until then, quorum receipts prove that distinct, known peers re-executed and
 * agreed, not that they were drawn fairly.
 *
 * @example
 * ```ts
 * const seeds = createLocalSeedSource({ nonce: `0x${'00'.repeat(32)}` })
 * const { blockHash, selection } = await seeds.seedFor({ jobId }) // selection === undefined
 * ```
 */
export function createLocalSeedSource(options: { nonce?: Hash | undefined } = {}): SeedSource & {
  readonly nonce: Hash
} {
  const nonce = options.nonce ?? bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
  return {
    nonce,
    async seedFor({ jobId }) {
      return { blockHash: keccak256(concat([jobId, nonce])) }
    },
  }
}
