import { type Hash, selectionSeed, selectVerifiers } from '@verity/protocol'
import { numberToHex } from 'viem'
import { type ActiveNode, nodeRoleBits } from './readActiveNodes.ts'

/**
 * The seed of a hub request's draws: protocol's `selectionSeed(bytes32(requestId), blockHash)` with
 * the hash of the block that mined the request — fixed once the request exists, unknown before,
 * the same for every node.
 *
 * @example
 * ```ts
 * const seed = hubSelectionSeed(7n, log.blockHash)
 * ```
 */
export function hubSelectionSeed(requestId: bigint, blockHash: Hash): Hash {
  return selectionSeed(numberToHex(requestId, { size: 32 }), blockHash)
}

/**
 * Who fulfils a hub request, in order: a stake-weighted draw without replacement (protocol's
 * `selectVerifiers`, weights = `NodeRegistry.selectionWeight`) over the active nodes with the
 * executor role, seeded by {@link hubSelectionSeed}. Rank 0 acts at once; rank `k` steps in
 * `k × fallbackDelayMs` later if the request is still open.
 *
 * @example
 * ```ts
 * const order = hubExecutorOrder({ requestId, blockHash, nodes })
 * const rank = order.findIndex((address) => isAddressEqual(address, me))
 * ```
 */
export function hubExecutorOrder(parameters: {
  requestId: bigint
  blockHash: Hash
  nodes: readonly ActiveNode[]
}): `0x${string}`[] {
  const candidates = parameters.nodes
    .filter((node) => (node.roles & nodeRoleBits.executor) !== 0 && node.weight > 0n)
    .map(({ address, weight }) => ({ address, weight }))
  return selectVerifiers({
    seed: hubSelectionSeed(parameters.requestId, parameters.blockHash),
    candidates,
    count: candidates.length,
  })
}

/**
 * Which nodes an executor asks to co-sign a hub request, in order: the same seeded, stake-weighted
 * draw over the active nodes with the verifier role, the executor excluded (and any node in
 * `exclude`). The first `quorum` are asked; one that refuses or fails is replaced by the next.
 *
 * @example
 * ```ts
 * const verifiers = hubVerifierOrder({ requestId, blockHash, nodes, executor: account.address })
 * ```
 */
export function hubVerifierOrder(parameters: {
  requestId: bigint
  blockHash: Hash
  nodes: readonly ActiveNode[]
  executor: `0x${string}`
}): `0x${string}`[] {
  const executor = parameters.executor.toLowerCase()
  const candidates = parameters.nodes
    .filter(
      (node) =>
        (node.roles & nodeRoleBits.verifier) !== 0 &&
        node.weight > 0n &&
        node.address.toLowerCase() !== executor,
    )
    .map(({ address, weight }) => ({ address, weight }))
  return selectVerifiers({
    seed: hubSelectionSeed(parameters.requestId, parameters.blockHash),
    candidates,
    count: candidates.length,
  })
}
