/**
 * A node's view of model distribution over IPFS: it serves the models it holds to connected peers
 * and fetches models by CID from them (bitswap over libp2p). Peers are not discovered here: the
 * node reads them from the on-chain `NodeRegistry` and passes their multiaddrs to `dial`.
 *
 * Every CID is a Kubo-compatible CIDv1 (see `computeCid`): `provide` imports with the pinned Kubo
 * settings and `fetch` recomputes the CID of what it received before returning it.
 *
 * @example
 * ```ts
 * const network: ModelNetwork = await createModelNetwork({ dataDir: '.verity/ipfs' })
 * await network.start()
 * await network.dial('/ip4/10.0.0.7/tcp/4001/p2p/12D3KooW…')
 * const bytes = await network.fetch(cid, { maxBytes: 100 * 1024 * 1024 })
 * await network.stop()
 * ```
 */
export type ModelNetwork = {
  /** The libp2p peer id (base58btc, `12D3KooW…`); known before `start`. */
  readonly peerId: string
  /** Opens the stores and starts listening. Idempotent. */
  start(): Promise<void>
  /** Aborts fetches in flight, closes connections and stores. Idempotent. */
  stop(): Promise<void>
  /** The addresses peers can dial, each ending in `/p2p/<peerId>`; empty until started. */
  multiaddrs(): string[]
  /** Connects to a peer (a multiaddr from `NodeRegistry`); resolves with its peer id. */
  dial(multiaddr: string, options?: DialOptions): Promise<DialReturnType>
  /**
   * Imports a model file with the pinned Kubo settings into the persistent blockstore, pins it and
   * serves it to peers from now on (also after a restart). Idempotent; resolves with its CID.
   */
  provide(bytes: Uint8Array, options?: ProvideOptions): Promise<string>
  /**
   * The file behind `cid`, from the local store or from connected peers. Refuses files larger than
   * `maxBytes` before downloading them, checks the CID of the result and pins it (so this node
   * serves it too).
   *
   * Errors: `INVALID_ARGUMENT` (not a CIDv1 / bad options), `MODEL_TOO_LARGE`, `MODEL_INVALID`
   * (not a UnixFS file), `MODEL_CID_MISMATCH`, `MODEL_NOT_FOUND` (no peer sent data for
   * `timeoutMs`), `ABORTED` (signal or `stop`).
   */
  fetch(cid: string, options: FetchModelOptions): Promise<Uint8Array>
  /** Whether the whole model is stored and pinned locally (provided or fetched before). */
  has(cid: string): Promise<boolean>
}

export type DialOptions = {
  signal?: AbortSignal | undefined
}

export type DialReturnType = {
  /** The remote peer id, authenticated by the Noise handshake. */
  peerId: string
}

export type ProvideOptions = {
  signal?: AbortSignal | undefined
}

/** Progress of a {@link ModelNetwork.fetch}; `bytes` only grows. */
export type FetchProgressEvent = {
  cid: string
  /** File bytes received so far. */
  bytes: number
  /** The file size the DAG's root declares, once the root is known. */
  totalBytes?: number | undefined
}

export type FetchModelOptions = {
  signal?: AbortSignal | undefined
  /** Largest file accepted; larger files are refused before their blocks are requested. */
  maxBytes: number
  /**
   * Longest wait without receiving a block (default `fetchTimeoutMs` of the network options).
   * Then the fetch fails with `MODEL_NOT_FOUND`.
   */
  timeoutMs?: number | undefined
  onProgress?: ((event: FetchProgressEvent) => void) | undefined
}

/**
 * The structured logger the network writes to (a pino logger fits). Only ids, CIDs, sizes and
 * durations are logged, never keys.
 */
export type ModelNetworkLogger = {
  debug(fields: Record<string, unknown>, message: string): void
  info(fields: Record<string, unknown>, message: string): void
  warn(fields: Record<string, unknown>, message: string): void
}

/** What {@link ModelNetwork} needs from its surroundings; all optional. */
export type ModelNetworkComponents = {
  logger?: ModelNetworkLogger | undefined
}
