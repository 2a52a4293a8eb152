import { BaseError } from '@verity/protocol'
import { getAddress, isAddress } from 'viem'

/**
 * Role bits of a node, as `NodeRegistry` stores them (`roles` is their bitwise or).
 *
 * @example
 * ```ts
 * const peer: NodePeer = { address, url, roles: peerRoles.executor | peerRoles.verifier } // 6
 * ```
 */
export const peerRoles = { gateway: 1, executor: 2, verifier: 4 } as const

/**
 * Whether a peer may take `role`: true when its roles are unknown (a configured peer) or include
 * the role's bit.
 *
 * @example
 * ```ts
 * const verifiers = (await peers.list()).filter((peer) => hasPeerRole(peer, 'verifier'))
 * ```
 */
export function hasPeerRole(peer: Pick<NodePeer, 'roles'>, role: keyof typeof peerRoles): boolean {
  return peer.roles === undefined || (peer.roles & peerRoles[role]) !== 0
}

/**
 * Another node: its signing address (what its receipts and attestations recover to), the base URL
 * of its HTTP API and its selection weight (stake once it comes from `NodeRegistry`; default 1).
 * A registry-backed directory also gives its libp2p `peerId` and its `roles`.
 *
 * @example
 * ```ts
 * const peer: NodePeer = { address: '0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A', url: 'http://127.0.0.1:8081' }
 * ```
 */
export type NodePeer = {
  url: string
  address: `0x${string}`
  /**
   * Selection weight; default 1. Positive in configured lists and in a directory's `list()`; a
   * registry directory's `get()` gives 0n for a node that is registered but not active
   * (exiting or under-staked).
   */
  weight?: bigint | undefined
  /** libp2p peer id, when known (NodeRegistry). */
  peerId?: string | undefined
  /** Role bitmask ({@link peerRoles}: 1 gateway, 2 executor, 4 verifier); unknown = any role. */
  roles?: number | undefined
}

/**
 * Where a node learns who its peers are. The executor draws verifiers from `list()`; the verifier
 * role accepts jobs only from executors `get()` knows. A static list
 * ({@link createStaticPeerDirectory}) or `NodeRegistry` on the settlement chain (staked nodes,
 * their endpoints and capped stakes: `createRegistryPeerDirectory` in `chain/`).
 *
 * @example
 * ```ts
 * const peers: PeerDirectory = createStaticPeerDirectory([{ address, url }])
 * const candidates = await peers.list()
 * ```
 */
export type PeerDirectory = {
  /** Every known node (it may include this node: callers exclude themselves). */
  list(options?: { signal?: AbortSignal | undefined }): Promise<NodePeer[]>
  /** The node with this address (case-insensitive), if known. */
  get(
    address: `0x${string}`,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<NodePeer | undefined>
}

function invalid(name: string, message: string, value: unknown): BaseError {
  return new BaseError('INVALID_ARGUMENT', `${name} is ${JSON.stringify(value)}: ${message}.`, {
    metaMessages: [
      'A peer is { address: "0x<20 bytes>", url: "http://host:port", weight?: 1n, peerId?: "12D3…", roles?: 7 }.',
    ],
  })
}

/**
 * Validates a peer list (untrusted configuration): checksummed addresses, `http(s)` URLs without a
 * trailing slash, positive weights, no address twice. Throws `INVALID_ARGUMENT` naming the entry.
 *
 * @example
 * ```ts
 * normalizePeers([{ address: '0xabc…', url: 'http://127.0.0.1:8081/' }])[0].url // 'http://127.0.0.1:8081'
 * ```
 */
export function normalizePeers(peers: readonly NodePeer[], name = 'peers'): NodePeer[] {
  if (!Array.isArray(peers)) throw invalid(name, 'expected a list of peers', peers)
  const seen = new Set<string>()
  return peers.map((peer, index) => {
    const entry = `${name}[${index}]`
    if (typeof peer !== 'object' || peer === null) throw invalid(entry, 'expected an object', peer)
    if (typeof peer.address !== 'string' || !isAddress(peer.address, { strict: false }))
      throw invalid(`${entry}.address`, 'expected a 0x-prefixed 20-byte address', peer.address)
    const address = getAddress(peer.address)
    if (seen.has(address)) throw invalid(`${entry}.address`, 'listed twice', peer.address)
    seen.add(address)
    let url: URL
    try {
      url = new URL(String(peer.url))
    } catch {
      throw invalid(`${entry}.url`, 'expected an http(s) URL', peer.url)
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash)
      throw invalid(`${entry}.url`, 'expected an http(s) URL without query or fragment', peer.url)
    if (peer.weight !== undefined && (typeof peer.weight !== 'bigint' || peer.weight <= 0n))
      throw invalid(`${entry}.weight`, 'expected a positive bigint', String(peer.weight))
    if (
      peer.peerId !== undefined &&
      (typeof peer.peerId !== 'string' || peer.peerId.length > 256 || /\s/.test(peer.peerId))
    )
      throw invalid(
        `${entry}.peerId`,
        'expected a libp2p peer id (no spaces, ≤ 256 chars)',
        peer.peerId,
      )
    if (
      peer.roles !== undefined &&
      (!Number.isInteger(peer.roles) || peer.roles < 1 || peer.roles > 7)
    )
      throw invalid(
        `${entry}.roles`,
        'expected a role bitmask from 1 to 7 (1 gateway, 2 executor, 4 verifier)',
        peer.roles,
      )
    return {
      address,
      url: url.href.replace(/\/+$/, ''),
      ...(peer.weight === undefined ? {} : { weight: peer.weight }),
      ...(peer.peerId === undefined || peer.peerId === '' ? {} : { peerId: peer.peerId }),
      ...(peer.roles === undefined ? {} : { roles: peer.roles }),
    }
  })
}

/**
 * Parses the `--peer` flag form `<address>@<url>` (for example
 * `0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A@http://127.0.0.1:8081`). Throws `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * parsePeer('0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A@http://127.0.0.1:8081').url // 'http://127.0.0.1:8081'
 * ```
 */
export function parsePeer(spec: string): NodePeer {
  const at = spec.indexOf('@')
  if (at < 0)
    throw new BaseError('INVALID_ARGUMENT', `--peer "${spec}" is not <address>@<url>.`, {
      metaMessages: [
        'For example --peer 0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A@http://127.0.0.1:8081',
      ],
    })
  const [peer] = normalizePeers(
    [{ address: spec.slice(0, at) as `0x${string}`, url: spec.slice(at + 1) }],
    `--peer ${spec}`,
  )
  return peer as NodePeer
}

/**
 * A fixed peer directory (from `NodeOptions.peers` / `--peer`). The list is validated and copied.
 *
 * @example
 * ```ts
 * const peers = createStaticPeerDirectory([{ address: '0x19E7…', url: 'http://127.0.0.1:8081' }])
 * await peers.get('0x19e7…') // { address: '0x19E7…', url: 'http://127.0.0.1:8081' }
 * ```
 */
export function createStaticPeerDirectory(peers: readonly NodePeer[]): PeerDirectory {
  const list = normalizePeers(peers)
  const byAddress = new Map(list.map((peer) => [peer.address.toLowerCase(), peer]))
  return {
    async list() {
      return list.map((peer) => ({ ...peer }))
    },
    async get(address) {
      const peer = byAddress.get(String(address).toLowerCase())
      return peer && { ...peer }
    },
  }
}
