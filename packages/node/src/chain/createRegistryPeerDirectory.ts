import { nodeRegistryAbi } from '@verity/contracts'
import { BaseError, isBaseError } from '@verity/protocol'
import { getAddress, isAddress } from 'viem'
import type { NodeLogger } from '../logger.ts'
import { type NodePeer, normalizePeers, type PeerDirectory } from '../verification/peerDirectory.ts'
import type { NodeChain } from './createNodeChain.ts'

/**
 * Options of {@link createRegistryPeerDirectory} (plain data).
 *
 * @example
 * ```ts
 * const options: RegistryPeerDirectoryOptions = { ttlMs: 5_000, pageSize: 100 }
 * ```
 */
export type RegistryPeerDirectoryOptions = {
  /** How long a read of the active set is reused before `list()` reads it again (default 5 000 ms). */
  ttlMs?: number | undefined
  /** Addresses per `activeNodes(offset, limit)` call (default 100). */
  pageSize?: number | undefined
}

/**
 * The defaults of {@link RegistryPeerDirectoryOptions}.
 *
 * @example
 * ```ts
 * const directory = createRegistryPeerDirectory({ ...defaultRegistryPeerDirectoryOptions }, { chain, logger })
 * ```
 */
export const defaultRegistryPeerDirectoryOptions = { ttlMs: 5_000, pageSize: 100 } as const

/**
 * What {@link createRegistryPeerDirectory} needs: the chain (its public client and the
 * NodeRegistry address) and a logger for skipped entries.
 *
 * @example
 * ```ts
 * const components: RegistryPeerDirectoryComponents = { chain, logger }
 * ```
 */
export type RegistryPeerDirectoryComponents = {
  chain: Pick<NodeChain, 'publicClient' | 'contracts'>
  logger: NodeLogger
  /** Clock in Unix milliseconds (default `Date.now`), for the cache. */
  now?: (() => number) | undefined
}

/**
 * A {@link PeerDirectory} read from NodeRegistry, plus `refresh()` to drop the cache.
 *
 * @example
 * ```ts
 * const peers: RegistryPeerDirectory = createRegistryPeerDirectory({}, { chain, logger })
 * await peers.refresh()
 * ```
 */
export type RegistryPeerDirectory = PeerDirectory & {
  /** Reads the active set now (whatever the cache holds) and caches it. */
  refresh(options?: { signal?: AbortSignal | undefined }): Promise<NodePeer[]>
}

type NodeRecord = {
  endpoint: string
  peerId: string
  roles: number
  registeredAt: bigint
}

function checkPositiveInteger(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `${name} is ${JSON.stringify(value)}; expected an integer from 1 to ${max}.`,
    )
}

/**
 * The peers NodeRegistry knows: every active node (`activeNodes`, paged) with its endpoint,
 * libp2p peer id, roles and selection weight (`selectionWeight` = stake capped at `weightCap`),
 * all read at one block so the list is consistent. The list is cached for `ttlMs` (one read at a
 * time; concurrent callers share it). A node whose endpoint is not an `http(s)` URL is skipped with
 * a warning (a bad peer id is dropped, the node kept). `get(address)` answers from a fresh cache
 * and otherwise reads the node itself (and keeps what it found for `ttlMs`), so a node
 * registered since the last read is found; a registered node that is not active comes back with
 * `weight: 0n`; an unregistered address is read again on every call. Chain errors are
 * `CHAIN_UNAVAILABLE`; nothing older than `ttlMs` is served.
 *
 * @example
 * ```ts
 * const chain = createNodeChain(chainOptions, { account })
 * const peers = createRegistryPeerDirectory({ ttlMs: 5_000 }, { chain, logger })
 * const node = await createVerityNode(options, { account, peers })
 * ```
 */
export function createRegistryPeerDirectory(
  options: RegistryPeerDirectoryOptions,
  components: RegistryPeerDirectoryComponents,
): RegistryPeerDirectory {
  const ttlMs = options.ttlMs ?? defaultRegistryPeerDirectoryOptions.ttlMs
  const pageSize = options.pageSize ?? defaultRegistryPeerDirectoryOptions.pageSize
  if (!Number.isInteger(ttlMs) || ttlMs < 0)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `ttlMs is ${JSON.stringify(ttlMs)}; expected a non-negative integer (milliseconds).`,
    )
  checkPositiveInteger('pageSize', pageSize, 10_000)
  const { publicClient, contracts } = components.chain
  const registry = contracts.nodeRegistry
  const now = components.now ?? Date.now
  const logger = components.logger.child({ module: 'peers' })
  let cached: { at: number; peers: NodePeer[]; byAddress: Map<string, NodePeer> } | undefined
  let reading: Promise<NodePeer[]> | undefined
  // nodes found by `get` outside the list (registered since, or not active), for ttlMs
  const found = new Map<string, { at: number; peer: NodePeer }>()

  function unavailable(what: string, error: unknown): BaseError {
    if (isBaseError(error)) return error
    return new BaseError(
      'CHAIN_UNAVAILABLE',
      `Could not read ${what} from NodeRegistry ${registry}.`,
      {
        metaMessages: [
          'Is the RPC endpoint up and the NodeRegistry address right (network.json)?',
          'The peer list is read again on the next call.',
        ],
        details: (error as Error)?.message?.split('\n')[0],
        cause: error,
      },
    )
  }

  async function readNode(address: `0x${string}`, blockNumber?: bigint) {
    const at = blockNumber === undefined ? {} : { blockNumber }
    const [node, weight] = await Promise.all([
      publicClient.readContract({
        address: registry,
        abi: nodeRegistryAbi,
        functionName: 'getNode',
        args: [address],
        ...at,
      }) as Promise<NodeRecord>,
      publicClient.readContract({
        address: registry,
        abi: nodeRegistryAbi,
        functionName: 'selectionWeight',
        args: [address],
        ...at,
      }),
    ])
    return { node, weight }
  }

  /** The registry entry as a peer, or undefined (with a warning) when its endpoint is unusable. */
  function toPeer(address: `0x${string}`, node: NodeRecord, weight: bigint): NodePeer | undefined {
    let peerId: string | undefined = node.peerId === '' ? undefined : node.peerId
    if (peerId !== undefined && (peerId.length > 256 || /\s/.test(peerId))) {
      logger.warn({ node: address }, 'registered peer id is malformed: ignoring it')
      peerId = undefined
    }
    try {
      const [peer] = normalizePeers(
        [{ address, url: node.endpoint, peerId, roles: node.roles }],
        `NodeRegistry node ${address}`,
      )
      return { ...(peer as NodePeer), weight }
    } catch (error) {
      logger.warn(
        {
          node: address,
          endpoint: node.endpoint.slice(0, 200),
          code: isBaseError(error) ? error.code : 'INTERNAL',
        },
        'registered node has a malformed endpoint: skipping it',
      )
      return undefined
    }
  }

  async function read(): Promise<NodePeer[]> {
    try {
      const blockNumber = await publicClient.getBlockNumber()
      const addresses: `0x${string}`[] = []
      for (let offset = 0n; ; offset += BigInt(pageSize)) {
        const page = await publicClient.readContract({
          address: registry,
          abi: nodeRegistryAbi,
          functionName: 'activeNodes',
          args: [offset, BigInt(pageSize)],
          blockNumber,
        })
        addresses.push(...page)
        if (page.length < pageSize) break
      }
      const entries = await Promise.all(
        addresses.map(async (address) => ({ address, ...(await readNode(address, blockNumber)) })),
      )
      const peers: NodePeer[] = []
      const seen = new Set<string>()
      for (const { address, node, weight } of entries) {
        if (weight <= 0n || seen.has(address.toLowerCase())) continue
        seen.add(address.toLowerCase())
        const peer = toPeer(getAddress(address), node, weight)
        if (peer) peers.push(peer)
      }
      cached = {
        at: now(),
        peers,
        byAddress: new Map(peers.map((peer) => [peer.address.toLowerCase(), peer])),
      }
      logger.debug({ peers: peers.length, blockNumber }, 'peer list read from NodeRegistry')
      return peers
    } catch (error) {
      throw unavailable('the active nodes', error)
    }
  }

  function fresh() {
    return cached !== undefined && now() - cached.at < ttlMs ? cached : undefined
  }

  function refresh(): Promise<NodePeer[]> {
    reading ??= read().finally(() => {
      reading = undefined
    })
    return reading
  }

  const copy = (peer: NodePeer): NodePeer => ({ ...peer })

  return {
    async refresh({ signal } = {}) {
      signal?.throwIfAborted()
      return (await refresh()).map(copy)
    },
    async list({ signal } = {}) {
      signal?.throwIfAborted()
      return (fresh()?.peers ?? (await refresh())).map(copy)
    },
    async get(address, { signal } = {}) {
      signal?.throwIfAborted()
      if (typeof address !== 'string' || !isAddress(address, { strict: false })) return undefined
      const key = address.toLowerCase()
      const known = fresh()?.byAddress.get(key)
      if (known) return copy(known)
      const recent = found.get(key)
      if (recent && now() - recent.at < ttlMs) return copy(recent.peer)
      let entry: Awaited<ReturnType<typeof readNode>>
      try {
        entry = await readNode(getAddress(address))
      } catch (error) {
        throw unavailable(`node ${address}`, error)
      }
      // unknown addresses are not remembered: a node that registers next is found at once
      if (entry.node.registeredAt === 0n) return undefined
      const peer = toPeer(getAddress(address), entry.node, entry.weight)
      if (peer) {
        if (found.size >= 1024) found.clear()
        found.set(key, { at: now(), peer })
      }
      return peer && copy(peer)
    },
  }
}
