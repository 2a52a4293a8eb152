import type { Engine } from '@verity/engine'
import type { ModelStore, StoredModel } from '@verity/hub'
import type { Hash } from '@verity/protocol'
import type { Registry } from 'prom-client'
import type { NodeLogger } from '../logger.ts'
import type { NodePeer } from '../verification/peerDirectory.ts'

/**
 * Progress of a model fetch, in order: `peers` (how many peers hold the manifest asked for),
 * `dial` (trying one), `transfer` (file bytes received so far; `bytes` only grows), `store` (the
 * bytes are complete and checked; validating, trial-loading and writing them).
 *
 * @example
 * ```ts
 * const onProgress = (event: ModelFetchProgressEvent) => {
 *   if (event.type === 'transfer') console.log(`${event.bytes}/${event.totalBytes}`)
 * }
 * ```
 */
export type ModelFetchProgressEvent =
  | { type: 'peers'; cid: string; providers: number; asked: number }
  | { type: 'dial'; cid: string; peer: `0x${string}`; peerId: string }
  | { type: 'transfer'; cid: string; bytes: number; totalBytes: number }
  | { type: 'store'; cid: string }

/**
 * What {@link ModelFetcher.fetch} takes: the model's CID, the hash of the manifest the caller
 * expects (from a signed request or receipt), the caller's signal and a progress callback.
 *
 * @example
 * ```ts
 * const parameters: FetchModelParameters = { cid, manifestHash, signal: AbortSignal.timeout(60_000) }
 * ```
 */
export type FetchModelParameters = {
  cid: string
  manifestHash: Hash
  signal?: AbortSignal | undefined
  onProgress?: ((event: ModelFetchProgressEvent) => void) | undefined
}

/**
 * Gets a model this node does not hold from its peers and stores it. The `ModelService` calls it
 * when a CID is not in the store.
 *
 * @example
 * ```ts
 * const fetcher: ModelFetcher = distribution
 * const model = await fetcher.fetch({ cid, manifestHash })
 * ```
 */
export type ModelFetcher = {
  /**
   * The model `cid` described by the manifest hashing to `manifestHash`, stored in the local model
   * store (validated and trial-loaded like a publish) and served to peers from then on.
   *
   * Errors: `INVALID_ARGUMENT`, `NOT_STARTED`, `MODEL_NOT_FOUND` (no peer has it; the message
   * lists who was asked), `PEER_UNREACHABLE` (no peer could be reached), `MANIFEST_HASH_MISMATCH`
   * (no peer has that manifest, or it does not describe the bytes), `MODEL_CID_MISMATCH`,
   * `MODEL_TOO_LARGE`, the hub's and engine's refusals (`MODEL_INVALID`, `ENGINE_LOAD_FAILED`, …),
   * `ABORTED`.
   */
  fetch(parameters: FetchModelParameters): Promise<StoredModel>
}

/**
 * The node's side of IPFS: it serves every stored model to peers over bitswap and fetches models
 * it lacks from them. Peers come from the peer directory; their libp2p addresses from their HTTP
 * API (`GET /v1/network` → `ipfs: { peerId, multiaddrs }`), their manifests from
 * `GET /v1/models/:cid`.
 *
 * @example
 * ```ts
 * const distribution: ModelDistribution = await createModelDistribution(options, components)
 * await distribution.start()
 * const model = await distribution.fetch({ cid, manifestHash })
 * await distribution.stop()
 * ```
 */
export type ModelDistribution = ModelFetcher & {
  /** The libp2p peer id (`12D3KooW…`), from `<dataDir>/ipfs/peer.key`; known before `start`. */
  readonly peerId: string
  /** Starts Helia and provides every model already in the store. Idempotent. */
  start(): Promise<void>
  /** Aborts fetches in flight and stops Helia. Idempotent. */
  stop(): Promise<void>
  /** The libp2p addresses peers dial (each ending in `/p2p/<peerId>`); empty until started. */
  multiaddrs(): string[]
  /**
   * Serves a file to peers (a model after a publish); resolves with its CID. Idempotent; the file
   * stays pinned across restarts. With `model` (the stored model these bytes are), the files this
   * node holds beside it (`attachments`) are served too.
   */
  provide(
    bytes: Uint8Array,
    options?: {
      signal?: AbortSignal | undefined
      model?: Pick<StoredModel, 'cid' | 'manifest'> | undefined
    },
  ): Promise<string>
  /**
   * Files that a model's manifest names beside the model (its zk artifacts), by CID, in the order
   * asked: from this node's IPFS store if there, else over bitswap from the peers that hold the
   * model under `manifestHash` (found as `fetch` finds them), or, where a peer's bitswap sends
   * nothing, from its API (`attachments.path`). Each is refused over `maxBytes`
   * before its blocks are requested, checked against its CID and pinned, so this node serves it
   * from then on. Nothing else is stored: the caller files them where they belong.
   *
   * Errors: `INVALID_ARGUMENT`, `NOT_STARTED`, `MODEL_NOT_FOUND` (no provider of the model sent a
   * file; the message lists who was asked), `PEER_UNREACHABLE`, `MODEL_TOO_LARGE`,
   * `MODEL_CID_MISMATCH`, `MODEL_INVALID`, `ABORTED`.
   */
  fetchFiles(parameters: FetchFilesParameters): Promise<Uint8Array[]>
}

/**
 * What {@link ModelDistribution.fetchFiles} takes.
 *
 * @example
 * ```ts
 * const parameters: FetchFilesParameters = {
 *   model: { cid: model.cid, manifestHash: model.manifestHash },
 *   cids: [manifest.zk.artifacts.wasm, manifest.zk.artifacts.zkey],
 *   maxBytes: 256 * 1024 * 1024,
 * }
 * ```
 */
export type FetchFilesParameters = {
  /** The model whose manifest names the files: its holders are asked for them. */
  model: { cid: string; manifestHash: Hash }
  cids: readonly string[]
  /** Largest file accepted, in bytes. */
  maxBytes: number
  signal?: AbortSignal | undefined
  onProgress?:
    | ((event: { cid: string; bytes: number; totalBytes?: number | undefined }) => void)
    | undefined
}

/**
 * A peer as the distribution reads it from the directory: a `NodePeer` and, when the directory
 * knows it (`NodeRegistry`), its libp2p peer id. Multiaddrs naming another id are refused.
 *
 * @example
 * ```ts
 * const peer: DistributionPeer = { address, url: 'http://127.0.0.1:8081', peerId: '12D3KooW…' }
 * ```
 */
export type DistributionPeer = NodePeer & { peerId?: string | undefined }

/**
 * What {@link createModelDistribution} needs from the node.
 *
 * @example
 * ```ts
 * const components: ModelDistributionComponents = { store, engine, peers, address, registry, logger }
 * ```
 */
export type ModelDistributionComponents = {
  /** Where fetched models are stored (and what `start` provides). */
  store: ModelStore
  /** Trial-loads fetched models (as a publish does); the session is kept. */
  engine: Pick<Engine, 'load' | 'unload'>
  /** Where candidate peers come from. */
  peers: { list(options?: { signal?: AbortSignal | undefined }): Promise<DistributionPeer[]> }
  /** This node's address: never asked. */
  address?: `0x${string}` | undefined
  /** The node's metrics registry; the distribution metrics are registered in it. */
  registry: Registry
  logger: NodeLogger
  /** HTTP client for peers' APIs (default `globalThis.fetch`). */
  fetch?: typeof globalThis.fetch | undefined
  /**
   * Files beside a stored model that this node holds and serves with it from start-up on (its zk
   * artifacts), by CID; peers get them with `fetchFiles`. Default: none.
   */
  attachments?: ModelAttachments | undefined
}

/**
 * The files a node serves beside its stored models (see `ModelDistributionComponents`).
 *
 * @example
 * ```ts
 * const attachments: ModelAttachments = {
 *   held: async (model) => (model.manifest.zk ? Object.values(model.manifest.zk.artifacts) : []),
 *   read: (cid) => zkArtifacts.read(cid),
 * }
 * ```
 */
export type ModelAttachments = {
  /** The CIDs of the files this node holds for `model`. */
  held(model: Pick<StoredModel, 'cid' | 'manifest'>): Promise<string[]>
  /** One of them, checked against its CID. */
  read(cid: string): Promise<Uint8Array>
  /**
   * Where a peer's API serves such a file (`/v1/zk/artifacts/<cid>`): asked when bitswap sends
   * nothing of it; the bytes are held to the CID all the same. Absent: bitswap only.
   */
  path?(cid: string): string
}
