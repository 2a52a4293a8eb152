import { nodeRegistryAbi } from '@verity/contracts'
import type { PublicClient } from 'viem'
import { chainUnavailable } from './readHubRequest.ts'

/**
 * Role bits of `NodeRegistry` (`INodeRegistry.sol`).
 *
 * @example
 * ```ts
 * const executes = (node.roles & nodeRoleBits.executor) !== 0
 * ```
 */
export const nodeRoleBits = { gateway: 1, executor: 2, verifier: 4 } as const

/**
 * An active node of `NodeRegistry`: its address, role bits and selection weight (stake capped at
 * the registry's `WEIGHT_CAP`).
 *
 * @example
 * ```ts
 * const executors = (await readActiveNodes({ publicClient, nodeRegistry })).filter((n) => n.roles & nodeRoleBits.executor)
 * ```
 */
export type ActiveNode = { address: `0x${string}`; roles: number; weight: bigint }

/**
 * Reads every active node of `NodeRegistry` (paged `activeNodes`, then `getNode` and
 * `selectionWeight` of each), at `blockNumber` when given (so that every node computing a draw for
 * a request sees the same set) or at the latest block. Throws `CHAIN_UNAVAILABLE`.
 *
 * @example
 * ```ts
 * const nodes = await readActiveNodes({ publicClient, nodeRegistry: contracts.nodeRegistry, blockNumber: 12n })
 * ```
 */
export async function readActiveNodes(parameters: {
  publicClient: PublicClient
  nodeRegistry: `0x${string}`
  blockNumber?: bigint | undefined
}): Promise<ActiveNode[]> {
  const { publicClient, nodeRegistry: address } = parameters
  const at = parameters.blockNumber === undefined ? {} : { blockNumber: parameters.blockNumber }
  try {
    const count = await publicClient.readContract({
      address,
      abi: nodeRegistryAbi,
      functionName: 'activeNodeCount',
      ...at,
    })
    const addresses: `0x${string}`[] = []
    const page = 100n
    for (let offset = 0n; offset < count; offset += page)
      addresses.push(
        ...(await publicClient.readContract({
          address,
          abi: nodeRegistryAbi,
          functionName: 'activeNodes',
          args: [offset, page],
          ...at,
        })),
      )
    return await Promise.all(
      addresses.map(async (node) => {
        const [info, weight] = await Promise.all([
          publicClient.readContract({
            address,
            abi: nodeRegistryAbi,
            functionName: 'getNode',
            args: [node],
            ...at,
          }),
          publicClient.readContract({
            address,
            abi: nodeRegistryAbi,
            functionName: 'selectionWeight',
            args: [node],
            ...at,
          }),
        ])
        return { address: node, roles: info.roles, weight }
      }),
    )
  } catch (cause) {
    throw chainUnavailable('reading the active nodes of NodeRegistry', cause)
  }
}
