import { join, resolve } from 'node:path'
import type { OnnxEngineOptionsInput } from '@verity/engine'
import { defaultOnnxLimits } from '@verity/hub'
import { BaseError, localDomain, type VerityDomain } from '@verity/protocol'
import { getAddress, isAddress } from 'viem'
import { type NodeFault, nodeFaults } from './faults.ts'
import { type NodePeer, normalizePeers } from './verification/peerDirectory.ts'
import {
  defaultZkOptions,
  resolveZkOptions,
  type ZkOptions,
  type ZkOptionsInput,
} from './zk/options.ts'

/**
 * What a node does: `gateway` serves the public HTTP API, `executor` runs models and signs
 * receipts, `verifier` re-executes its peers' `reexec` jobs and signs attestations
 * (`POST /v1/verify`).
 *
 * @example
 * ```ts
 * const roles: NodeRole[] = ['gateway', 'executor']
 * ```
 */
export type NodeRole = 'gateway' | 'executor' | 'verifier'

/**
 * Every role, in canonical order.
 *
 * @example
 * ```ts
 * nodeRoles.includes('verifier') // true
 * ```
 */
export const nodeRoles: readonly NodeRole[] = Object.freeze(['gateway', 'executor', 'verifier'])

/**
 * Log levels a node accepts (pino's, plus `silent`).
 *
 * @example
 * ```ts
 * const level: NodeLogLevel = 'debug'
 * ```
 */
export type NodeLogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

const logLevels: readonly NodeLogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
]

/**
 * The network a node signs for: the settlement chain's id and, once receipts settle on-chain, the
 * `Settlement` contract (the EIP-712 `verifyingContract`). Without it the node signs under
 * protocol's `localDomain`.
 *
 * @example
 * ```ts
 * const network: NodeNetworkOptions = { chainId: 31337, settlement: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }
 * ```
 */
export type NodeNetworkOptions = {
  chainId: number
  settlement?: `0x${string}` | undefined
  /**
   * The chain's JSON-RPC endpoint. With it (and `contracts`) the node is connected: peers come
   * from NodeRegistry, verifier selection is seeded by block hashes, receipts are settled, the
   * node serves InferenceHub requests and challenges fraud.
   */
  rpcUrl?: string | undefined
  /** The deployed contracts (`network.json` from `deployVerity`); `settlement` must match. */
  contracts?:
    | {
        modelRegistry: `0x${string}`
        nodeRegistry: `0x${string}`
        settlement: `0x${string}`
        inferenceHub: `0x${string}`
      }
    | undefined
  /** Block of the deployment, where event scans start. */
  deployedAt?: { block: number } | undefined
}

/**
 * How a connected node settles: batch triggers and how often it polls the chain.
 *
 * @example
 * ```ts
 * const settlement: NodeSettlementOptions = { maxBatchSize: 64, maxBatchDelayMs: 10_000, pollIntervalMs: 2_000 }
 * ```
 */
export type NodeSettlementOptions = {
  /** Commit as soon as this many receipts wait. */
  maxBatchSize: number
  /** Commit when the oldest waiting receipt is this old, in ms. */
  maxBatchDelayMs: number
  /** How often the batcher, finalizer, challenger and hub watcher look at the chain, in ms. */
  pollIntervalMs: number
}

/**
 * Options of a Verity node: plain data, every field with a default in {@link defaultNodeOptions}.
 * Secrets are never options: the key comes from `keyFile`, `$VERITY_PRIVATE_KEY` or
 * `<dataDir>/key.json` (see `loadNodeAccount`).
 *
 * @example
 * ```ts
 * const options: NodeOptions = { ...defaultNodeOptions, dataDir: '/var/lib/verity', port: 8545 }
 * ```
 */
export type NodeOptions = {
  /** Holds the job database (`node.sqlite`), the model store (`store/`) and by default the key. */
  dataDir: string
  /** Interface the HTTP API binds to; loopback unless told otherwise. */
  host: string
  /** TCP port; 0 picks a free one (`start()` returns the bound URL). */
  port: number
  roles: NodeRole[]
  /** Largest JSON request body in bytes (413 above). */
  maxBodyBytes: number
  /** Largest model file accepted by `POST /v1/models`, in bytes (413 above). */
  maxModelBytes: number
  /** Whether `POST /v1/models` is open (a node on a public network may want it off). */
  allowPublish: boolean
  /** ONNX engine options (pinned defaults from `@verity/engine`). */
  engine: OnnxEngineOptionsInput
  /** The signing domain's network; `undefined` signs under protocol's `localDomain`. */
  network?: NodeNetworkOptions | undefined
  /** Key file path (`{"version":1,"address","privateKey"}`); default `<dataDir>/key.json`. */
  keyFile?: string | undefined
  logLevel: NodeLogLevel
  /** How long `stop()` waits for running jobs before aborting them (they resume on restart). */
  drainTimeoutMs: number
  /** A job that was started this many times without finishing is marked failed, not retried. */
  maxJobAttempts: number
  /** Deadline the node gives unsigned requests that do not carry one, in seconds from now. */
  unsignedDeadlineSeconds: number
  /**
   * The other nodes: verifiers this node draws for its `reexec` jobs, and the executors whose jobs
   * it verifies. A static list for now (NodeRegistry later); it may include this node. Without
   * peers the node does not offer mode `reexec`.
   */
  peers: NodePeer[]
  /** How long the executor waits for one verifier's answer before drawing a replacement, in ms. */
  verifyTimeoutMs: number
  /**
   * Run Helia (bitswap on loopback) so missing models are fetched from peers on first use and
   * this node's models are served to them. Off by default in the library (the Helia import costs
   * seconds); the `verity node` daemon turns it on unless `--no-ipfs`.
   */
  ipfs: boolean
  /** How long one first-use model fetch may take, in ms. */
  modelFetchTimeoutMs: number
  /** Batching and polling of a connected node. */
  settlement: NodeSettlementOptions
  /** Check every other executor's committed batches, not only suspects' (costs HTTP fetches). */
  auditAll: boolean
  /** Make this node cheat, for tests and demos (needs `VERITY_ALLOW_FAULTS=1`). */
  fault?: NodeFault | undefined
  /** Mode `zk`: the artifact folder (default `<dataDir>/zk`) and the proving budget. */
  zk: ZkOptions
}

/**
 * The defaults: loopback, any free port, every role, 8 MiB JSON bodies, the hub's model size limit,
 * the engine's pinned settings, `localDomain`, `info` logs, 10 s drain, 3 attempts per job, no
 * peers, 10 s per verifier call.
 *
 * @example
 * ```ts
 * const node = await createVerityNode({ ...defaultNodeOptions, dataDir: './data' })
 * ```
 */
export const defaultNodeOptions: Readonly<Omit<NodeOptions, 'zk'>> = Object.freeze({
  dataDir: '.verity',
  host: '127.0.0.1',
  port: 0,
  roles: [...nodeRoles],
  maxBodyBytes: 8 * 1024 * 1024,
  maxModelBytes: defaultOnnxLimits.maxModelBytes,
  allowPublish: true,
  engine: {},
  logLevel: 'info',
  drainTimeoutMs: 10_000,
  maxJobAttempts: 3,
  unsignedDeadlineSeconds: 3600,
  peers: [],
  verifyTimeoutMs: 10_000,
  ipfs: false,
  modelFetchTimeoutMs: 15_000,
  settlement: { maxBatchSize: 64, maxBatchDelayMs: 10_000, pollIntervalMs: 2_000 },
  auditAll: false,
})

/**
 * Options as callers pass them: any subset; `undefined` means "the default".
 *
 * @example
 * ```ts
 * const input: NodeOptionsInput = { dataDir: './data', port: undefined }
 * ```
 */
export type NodeOptionsInput = {
  [K in Exclude<keyof NodeOptions, 'zk'>]?: NodeOptions[K] | undefined
} & {
  /** Any subset of the zk options (`dir` defaults to `<dataDir>/zk`, see `defaultZkOptions`). */
  zk?: ZkOptionsInput | undefined
}

function invalid(name: string, expected: string, value: unknown): BaseError {
  return new BaseError(
    'INVALID_ARGUMENT',
    `Node option "${name}" is ${JSON.stringify(value)}; expected ${expected}.`,
    { metaMessages: ['Omit the option to use the default.'] },
  )
}

function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max)
    throw invalid(name, `an integer from ${min} to ${max}`, value)
}

/**
 * Fills in defaults and validates node options (`INVALID_ARGUMENT` naming the bad option).
 * `dataDir` and `keyFile` become absolute paths.
 *
 * @example
 * ```ts
 * resolveNodeOptions({ dataDir: './data' }).roles // ['gateway', 'executor', 'verifier']
 * ```
 */
export function resolveNodeOptions(input: NodeOptionsInput = {}): NodeOptions {
  const options: NodeOptions = {
    ...defaultNodeOptions,
    roles: [...defaultNodeOptions.roles],
    peers: [],
    zk: { ...defaultZkOptions, dir: '', budget: { ...defaultZkOptions.budget } }, // resolved below
  }
  for (const [key, value] of Object.entries(input))
    if (value !== undefined && key !== 'zk') (options as Record<string, unknown>)[key] = value
  if (typeof options.dataDir !== 'string' || options.dataDir.trim() === '')
    throw invalid('dataDir', 'a folder path', options.dataDir)
  options.dataDir = resolve(options.dataDir)
  options.zk = resolveZkOptions(input.zk, options.dataDir)
  if (options.keyFile !== undefined) {
    if (typeof options.keyFile !== 'string' || options.keyFile === '')
      throw invalid('keyFile', 'a file path', options.keyFile)
    options.keyFile = resolve(options.keyFile)
  }
  if (typeof options.host !== 'string' || options.host === '')
    throw invalid('host', 'a host name or IP address', options.host)
  checkInteger('port', options.port, 0, 65535)
  if (
    !Array.isArray(options.roles) ||
    options.roles.length === 0 ||
    options.roles.some((role) => !nodeRoles.includes(role))
  )
    throw invalid('roles', `a non-empty list of ${nodeRoles.join(', ')}`, options.roles)
  options.roles = nodeRoles.filter((role) => options.roles.includes(role))
  checkInteger('maxBodyBytes', options.maxBodyBytes, 1024, 2 ** 31 - 1)
  checkInteger('maxModelBytes', options.maxModelBytes, 1024, 2 ** 53 - 1)
  checkInteger('drainTimeoutMs', options.drainTimeoutMs, 0, 2 ** 31 - 1)
  checkInteger('maxJobAttempts', options.maxJobAttempts, 1, 1000)
  checkInteger('unsignedDeadlineSeconds', options.unsignedDeadlineSeconds, 1, 2 ** 31 - 1)
  checkInteger('verifyTimeoutMs', options.verifyTimeoutMs, 1, 2 ** 31 - 1)
  options.peers = normalizePeers(options.peers)
  if (typeof options.allowPublish !== 'boolean')
    throw invalid('allowPublish', 'true or false', options.allowPublish)
  if (!logLevels.includes(options.logLevel))
    throw invalid('logLevel', logLevels.join(' | '), options.logLevel)
  if (options.network !== undefined) {
    const { chainId, settlement, rpcUrl, contracts } = options.network
    checkInteger('network.chainId', chainId, 1, Number.MAX_SAFE_INTEGER)
    if (settlement !== undefined && !isAddress(settlement, { strict: false }))
      throw invalid('network.settlement', 'a 0x-prefixed 20-byte address', settlement)
    if ((rpcUrl === undefined) !== (contracts === undefined))
      throw invalid('network', 'rpcUrl and contracts together (or neither)', {
        rpcUrl,
        contracts: contracts && '…',
      })
    if (rpcUrl !== undefined && contracts !== undefined) {
      if (!/^https?:\/\//.test(rpcUrl)) throw invalid('network.rpcUrl', 'an http(s) URL', rpcUrl)
      for (const [name, address] of Object.entries(contracts))
        if (!isAddress(address, { strict: false }))
          throw invalid(`network.contracts.${name}`, 'a 0x-prefixed 20-byte address', address)
      if (settlement !== undefined && getAddress(settlement) !== getAddress(contracts.settlement))
        throw invalid(
          'network.settlement',
          `the deployed Settlement ${contracts.settlement}`,
          settlement,
        )
      options.network = { ...options.network, settlement: getAddress(contracts.settlement) }
    }
  }
  if (typeof options.ipfs !== 'boolean') throw invalid('ipfs', 'true or false', options.ipfs)
  if (typeof options.auditAll !== 'boolean')
    throw invalid('auditAll', 'true or false', options.auditAll)
  options.settlement = { ...defaultNodeOptions.settlement, ...options.settlement }
  checkInteger('modelFetchTimeoutMs', options.modelFetchTimeoutMs, 1, 2 ** 31 - 1)
  checkInteger('settlement.maxBatchSize', options.settlement.maxBatchSize, 1, 10_000)
  checkInteger('settlement.maxBatchDelayMs', options.settlement.maxBatchDelayMs, 0, 2 ** 31 - 1)
  checkInteger('settlement.pollIntervalMs', options.settlement.pollIntervalMs, 10, 2 ** 31 - 1)
  if (options.fault !== undefined && !nodeFaults.includes(options.fault))
    throw invalid('fault', nodeFaults.join(' | '), options.fault)
  return options
}

/**
 * The EIP-712 domain a node signs receipts under and checks request signatures against.
 *
 * @example
 * ```ts
 * nodeDomain({ chainId: 1 }) // { name: 'Verity', version: '1', chainId: 1 }
 * nodeDomain(undefined)      // localDomain (chain 31337)
 * ```
 */
export function nodeDomain(network: NodeNetworkOptions | undefined): VerityDomain {
  if (network === undefined) return { ...localDomain }
  return {
    name: 'Verity',
    version: '1',
    chainId: network.chainId,
    ...(network.settlement === undefined
      ? {}
      : { verifyingContract: getAddress(network.settlement) }),
  }
}

/**
 * Where things live inside a node's data directory. The model store and default key file are
 * where the `verity` CLI keeps them, so `verity model add --home D` feeds `verity node --home D`.
 *
 * @example
 * ```ts
 * nodePaths('/data').database // '/data/node.sqlite'
 * ```
 */
export function nodePaths(dataDir: string) {
  return {
    database: join(dataDir, 'node.sqlite'),
    store: join(dataDir, 'store'),
    key: join(dataDir, 'key.json'),
    /** Helia blocks, datastore and the persistent libp2p key (`ipfs/peer.key`). */
    ipfs: join(dataDir, 'ipfs'),
    /** zk artifacts (circuits, keys, transcripts) by CID, and zk sections by model commitment. */
    zk: join(dataDir, 'zk'),
  }
}
