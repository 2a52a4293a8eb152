import type { privateKeyToProtobuf } from '@libp2p/crypto/keys'

/** A libp2p private key (`generateKeyPair('Ed25519')` from `@libp2p/crypto/keys`). */
export type PeerPrivateKey = Parameters<typeof privateKeyToProtobuf>[0]

/**
 * Options of {@link createModelNetwork} (plain data; the CLI takes its defaults from
 * {@link defaultModelNetworkOptions}).
 *
 * Layout under `dataDir`:
 *
 * ```
 * <dataDir>/blocks/      the blockstore (blockstore-fs): every block of every provided or fetched model
 * <dataDir>/datastore/   the datastore (datastore-fs): pins, the peer store, Helia's bookkeeping
 * <dataDir>/peer.key     the node's libp2p private key (protobuf, mode 0600) unless `privateKey` is given
 * ```
 */
export type ModelNetworkOptions = {
  /** Folder that holds the blockstore, the datastore and the peer key; created if missing. */
  dataDir: string
  /** libp2p listen multiaddrs (default: loopback, any free port). */
  listen?: readonly string[] | undefined
  /**
   * The node's libp2p identity. When absent, an Ed25519 key is created once and kept in
   * `<dataDir>/peer.key`, so the peer id is stable across restarts.
   */
  privateKey?: PeerPrivateKey | undefined
  /**
   * Default for `fetch`'s `timeoutMs`: the longest a fetch waits without receiving a block before
   * it fails with `MODEL_NOT_FOUND`. An idle timeout, so large models are not cut off while data
   * flows; pass an `AbortSignal.timeout(…)` for an overall limit.
   */
  fetchTimeoutMs?: number | undefined
  /** How long `dial` waits for a connection before it fails. */
  dialTimeoutMs?: number | undefined
  /**
   * Blocks of one DAG level requested at once while fetching. Bounds what a hostile DAG can make
   * the node hold in memory beyond `maxBytes` (at most this many blocks of ≤ 4 MiB, bitswap's
   * message limit) while keeping transfers fast.
   */
  blockReadConcurrency?: number | undefined
}

/** {@link ModelNetworkOptions} with every default filled in. */
export type ResolvedModelNetworkOptions = {
  dataDir: string
  listen: readonly string[]
  privateKey: PeerPrivateKey | undefined
  fetchTimeoutMs: number
  dialTimeoutMs: number
  blockReadConcurrency: number
}

/**
 * Defaults of {@link ModelNetworkOptions}: loopback only. There is no bootstrap list, DHT, mDNS or
 * delegated routing: peers are the nodes of the on-chain `NodeRegistry`, dialled explicitly.
 *
 * @example
 * ```ts
 * defaultModelNetworkOptions.listen // ['/ip4/127.0.0.1/tcp/0']
 * ```
 */
export const defaultModelNetworkOptions = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  fetchTimeoutMs: 30_000,
  dialTimeoutMs: 10_000,
  blockReadConcurrency: 16,
} as const satisfies Omit<ResolvedModelNetworkOptions, 'dataDir' | 'privateKey'>

/** File and folder names under `dataDir`. */
export const modelNetworkLayout = {
  blocks: 'blocks',
  datastore: 'datastore',
  peerKey: 'peer.key',
} as const
