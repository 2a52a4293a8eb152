import { BaseError, type Hash, isBaseError } from '@verity/protocol'
import type { SeedSource } from '../verification/seedSource.ts'
import type { NodeChain } from './createNodeChain.ts'

/**
 * Options of {@link createChainSeedSource}.
 *
 * @example
 * ```ts
 * const options: ChainSeedSourceOptions = { confirmations: 1 }
 * ```
 */
export type ChainSeedSourceOptions = {
  /**
   * How far below the latest block the seed block is (default 1): a block with confirmations is
   * less likely to be reorganized away, which would leave the receipt's `quorum.selection` naming
   * a block that no longer exists. 0 uses the latest block.
   */
  confirmations?: number | undefined
}

/**
 * What {@link createChainSeedSource} reads blocks from.
 *
 * @example
 * ```ts
 * const components: ChainSeedSourceComponents = { chain }
 * ```
 */
export type ChainSeedSourceComponents = {
  chain: Pick<NodeChain, 'publicClient'>
}

/**
 * A {@link SeedSource} backed by the settlement chain: the seed block is the latest block minus
 * `confirmations` (block 0 at the least), read when the job's verifiers are drawn, and the
 * receipt records it as `quorum.selection` so anyone can check that the block exists and
 * recompute the draw. Chain errors are `CHAIN_UNAVAILABLE`.
 *
 * Limit: the executor still chooses *when* it asks, so it can wait a block or two for a draw it
 * likes; a verifier or auditor can bound this by comparing the selection block's time with the
 * receipt's `executedAt`.
 *
 * @example
 * ```ts
 * const seeds = createChainSeedSource({ confirmations: 1 }, { chain })
 * const { blockHash, selection } = await seeds.seedFor({ jobId })
 * // selection = { blockNumber: 41, blockHash: '0x…' }
 * ```
 */
export function createChainSeedSource(
  options: ChainSeedSourceOptions,
  components: ChainSeedSourceComponents,
): SeedSource {
  const confirmations = options.confirmations ?? 1
  if (!Number.isInteger(confirmations) || confirmations < 0 || confirmations > 10_000)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `confirmations is ${JSON.stringify(confirmations)}; expected an integer from 0 to 10000.`,
    )
  const { publicClient } = components.chain
  return {
    async seedFor({ signal }) {
      signal?.throwIfAborted()
      try {
        const latest = await publicClient.getBlockNumber({ cacheTime: 0 })
        const number = latest > BigInt(confirmations) ? latest - BigInt(confirmations) : 0n
        const block = await publicClient.getBlock({ blockNumber: number })
        if (block.hash === null)
          throw new BaseError('CHAIN_UNAVAILABLE', `Block ${number} has no hash yet (pending).`)
        const blockHash = block.hash as Hash
        return { blockHash, selection: { blockNumber: Number(number), blockHash } }
      } catch (error) {
        if (isBaseError(error)) throw error
        throw new BaseError(
          'CHAIN_UNAVAILABLE',
          'Could not read a recent block to seed verifier selection.',
          {
            metaMessages: ['Is the RPC endpoint up? The job can be retried.'],
            details: (error as Error)?.message?.split('\n')[0],
            cause: error,
          },
        )
      }
    },
  }
}
