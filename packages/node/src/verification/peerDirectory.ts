import { BaseError } from '@verity/protocol'
import { getAddress, isAddress } from 'viem'

/**
 * Another node: its signing address (what its receipts and attestations recover to), the base URL
 * of its HTTP API and its selection weight (stake once it comes from `NodeRegistry`; default 1).
 *
 * @example
 * ```ts
 * const peer: NodePeer = { address: '0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A', url: 'http://127.0.0.1:8081' }
 * ```
 */
export type NodePeer = {
  url: string
  address: `0x${string}`
  /** Selection weight (> 0); default 1. */
  weight?: bigint | undefined
}

/**
 * Where a node learns who its peers are. The executor draws verifiers from `list()`; the verifier
 * role accepts jobs only from executors `get()` knows. Today a static list
 * ({@link createStaticPeerDirectory}); later `NodeRegistry` on the settlement chain (staked nodes,
 * their endpoints and capped stakes) behind the same interface.
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
    metaMessages: ['A peer is { address: "0x<20 bytes>", url: "http://host:port", weight?: 1n }.'],
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
    return {
      address,
      url: url.href.replace(/\/+$/, ''),
      ...(peer.weight === undefined ? {} : { weight: peer.weight }),
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
