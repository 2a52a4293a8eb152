import { join } from 'node:path'
import { defaultOnnxLimits } from '@verity/hub'
import { BaseError } from '@verity/protocol'

/**
 * Options of {@link createModelDistribution} (plain data; the node fills them from `NodeOptions`).
 *
 * @example
 * ```ts
 * const options: ModelDistributionOptions = { dataDir: '/var/lib/verity', maxModelBytes: 64 << 20 }
 * ```
 */
export type ModelDistributionOptions = {
  /** The node's data directory; IPFS data and the peer key live in `<dataDir>/ipfs`. */
  dataDir: string
  /**
   * libp2p listen multiaddrs. Default loopback on a free port (`/ip4/127.0.0.1/tcp/0`); a node on
   * a real network listens on a public interface (e.g. `/ip4/0.0.0.0/tcp/4001`). There is no
   * public bootstrap list: peers come from the peer directory.
   */
  listen?: readonly string[] | undefined
  /** Largest model file fetched, in bytes (the node's `maxModelBytes`). */
  maxModelBytes?: number | undefined
  /** Longest wait without receiving a block from a peer before the next peer is tried, in ms. */
  fetchTimeoutMs?: number | undefined
  /** How long one libp2p dial may take, in ms. */
  dialTimeoutMs?: number | undefined
  /** How long one HTTP call to a peer (`/v1/network`, `/v1/models/:cid`) may take, in ms. */
  httpTimeoutMs?: number | undefined
  /** Peers asked at once over HTTP whether they hold a model. */
  httpConcurrency?: number | undefined
}

/**
 * {@link ModelDistributionOptions} with every default filled in.
 *
 * @example
 * ```ts
 * const resolved: ResolvedModelDistributionOptions = resolveModelDistributionOptions({ dataDir })
 * ```
 */
export type ResolvedModelDistributionOptions = {
  dataDir: string
  /** `<dataDir>/ipfs`: blockstore, datastore and `peer.key`. */
  ipfsDir: string
  listen: readonly string[]
  maxModelBytes: number
  fetchTimeoutMs: number
  dialTimeoutMs: number
  httpTimeoutMs: number
  httpConcurrency: number
}

/**
 * Defaults of {@link ModelDistributionOptions}: loopback listening, the hub's model size limit,
 * 15 s without a block before the next peer is tried, 5 s per dial and per HTTP call, 8 peers
 * asked at once.
 *
 * @example
 * ```ts
 * defaultModelDistributionOptions.listen // ['/ip4/127.0.0.1/tcp/0']
 * ```
 */
export const defaultModelDistributionOptions = Object.freeze({
  listen: Object.freeze(['/ip4/127.0.0.1/tcp/0']),
  maxModelBytes: defaultOnnxLimits.maxModelBytes,
  fetchTimeoutMs: 15_000,
  dialTimeoutMs: 5_000,
  httpTimeoutMs: 5_000,
  httpConcurrency: 8,
})

/**
 * Where the distribution keeps its data inside a node's data directory. `peer.key` is the libp2p
 * identity the devnet registers in `NodeRegistry`.
 *
 * @example
 * ```ts
 * modelDistributionPaths('/data').peerKey // '/data/ipfs/peer.key'
 * ```
 */
export function modelDistributionPaths(dataDir: string): { ipfs: string; peerKey: string } {
  const ipfs = join(dataDir, 'ipfs')
  return { ipfs, peerKey: join(ipfs, 'peer.key') }
}

function invalid(name: string, expected: string, value: unknown): BaseError {
  return new BaseError(
    'INVALID_ARGUMENT',
    `Model distribution option "${name}" is ${JSON.stringify(value)}; expected ${expected}.`,
    { metaMessages: ['Omit the option to use the default.'] },
  )
}

/**
 * Fills in {@link defaultModelDistributionOptions} and checks every value (`INVALID_ARGUMENT`
 * naming the bad option). Listen multiaddrs are checked when the network starts.
 *
 * @example
 * ```ts
 * resolveModelDistributionOptions({ dataDir: '/data' }).ipfsDir // '/data/ipfs'
 * ```
 */
export function resolveModelDistributionOptions(
  options: ModelDistributionOptions,
): ResolvedModelDistributionOptions {
  if (typeof options?.dataDir !== 'string' || options.dataDir === '')
    throw invalid('dataDir', 'a folder path', options?.dataDir)
  const listen = options.listen ?? defaultModelDistributionOptions.listen
  if (!Array.isArray(listen) || listen.some((address) => typeof address !== 'string'))
    throw invalid('listen', 'a list of multiaddr strings', listen)
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const result = value ?? fallback
    if (!Number.isSafeInteger(result) || result <= 0)
      throw invalid(name, 'a positive integer', result)
    return result
  }
  const d = defaultModelDistributionOptions
  return {
    dataDir: options.dataDir,
    ipfsDir: modelDistributionPaths(options.dataDir).ipfs,
    listen: [...listen],
    maxModelBytes: positive('maxModelBytes', options.maxModelBytes, d.maxModelBytes),
    fetchTimeoutMs: positive('fetchTimeoutMs', options.fetchTimeoutMs, d.fetchTimeoutMs),
    dialTimeoutMs: positive('dialTimeoutMs', options.dialTimeoutMs, d.dialTimeoutMs),
    httpTimeoutMs: positive('httpTimeoutMs', options.httpTimeoutMs, d.httpTimeoutMs),
    httpConcurrency: positive('httpConcurrency', options.httpConcurrency, d.httpConcurrency),
  }
}
