import { join, resolve } from 'node:path'
import type { VerityParameters } from '@verity/contracts'
import { BaseError } from '@verity/protocol'
import { parseEther } from 'viem'

/**
 * Contract parameters of a devnet: the defaults with windows short enough to watch a batch settle
 * (60 s challenge window; unbonding must outlast it).
 *
 * @example
 * ```ts
 * await deployVerity({ rpcUrl, account, parameters: devnetParameters })
 * ```
 */
export const devnetParameters: Partial<VerityParameters> = {
  challengeWindow: 60,
  unbondingDelay: 120,
  escrowWithdrawalDelay: 60,
  requestTimeout: 300,
}

/** What each demo model costs per call on a devnet (0.001 ETH). */
export const devnetPricePerCall = parseEther('0.001')

/** The requester's Settlement escrow is topped up to this at start (10 ETH). */
export const devnetEscrow = parseEther('10')

/**
 * Daemon flags of devnet nodes: batches commit within 3 s and the chain is polled every second,
 * so a demo sees settlement happen.
 */
export const devnetNodeFlags: readonly string[] = ['--batch-delay-ms', '3000', '--poll-ms', '1000']

/**
 * Options of a devnet: plain data, defaults in {@link defaultDevnetOptions}.
 *
 * @example
 * ```ts
 * const options: DevnetOptions = { ...defaultDevnetOptions, dataDir: '/tmp/devnet', nodes: 3 }
 * ```
 */
export type DevnetOptions = {
  /** Everything lives here: chain state, network.json, keys, node data, demo models. */
  dataDir: string
  /** Number of nodes (each registered, staked and serving the demo models). */
  nodes: number
  /**
   * anvil listens on `portBase`, node i (1-based) on `portBase + i`. 0 picks free ports (they
   * change between runs; the nodes' on-chain endpoints are updated).
   */
  portBase: number
  chainId: number
  /** Royalty of the demo models in ModelRegistry, in basis points (1000 = 10 %). */
  royaltyBps: number
  /** How long each node gets to become healthy. */
  startTimeoutMs: number
  /** How long each node gets to drain on stop before it is killed. */
  stopTimeoutMs: number
  /**
   * Set up zero-knowledge proofs for the int8 demo models (a phase-2 ceremony among the nodes on
   * the ../shared/assets/zk phase-1 files, then their verifiers on-chain); skipped with a note when
   * the phase-1 files are absent.
   */
  zk: boolean
}

/**
 * The defaults: 4 nodes, anvil on 8545 and nodes on 8546…, chain 31337, 10 % royalty.
 *
 * @example
 * ```ts
 * defaultDevnetOptions.nodes // 4
 * ```
 */
export const defaultDevnetOptions: Readonly<Omit<DevnetOptions, 'dataDir'>> = Object.freeze({
  nodes: 4,
  portBase: 8545,
  chainId: 31337,
  royaltyBps: 1000,
  startTimeoutMs: 60_000,
  stopTimeoutMs: 15_000,
  zk: true,
})

/** Largest devnet: anvil funds this many dev accounts at most (3 are not nodes). */
const maxNodes = 64

/**
 * Fills in defaults and checks ranges (`INVALID_ARGUMENT` naming the option).
 *
 * @example
 * ```ts
 * resolveDevnetOptions({ dataDir: '/tmp/devnet', nodes: 2 }).portBase // 8545
 * ```
 */
export function resolveDevnetOptions(
  input: { [K in keyof DevnetOptions]?: DevnetOptions[K] | undefined } & { dataDir: string },
): DevnetOptions {
  const options: DevnetOptions = { ...defaultDevnetOptions, dataDir: input.dataDir }
  for (const [key, value] of Object.entries(input))
    if (value !== undefined) (options as Record<string, unknown>)[key] = value
  const check = (name: string, value: number, min: number, max: number) => {
    if (!Number.isSafeInteger(value) || value < min || value > max)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `--${name} must be an integer from ${min} to ${max}; got ${value}.`,
      )
  }
  check('nodes', options.nodes, 1, maxNodes)
  check('port-base', options.portBase, 0, 65535 - options.nodes)
  if (options.portBase !== 0 && options.portBase < 1024)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `--port-base ${options.portBase} is a privileged port; use 1024 or more, or 0 for free ports.`,
    )
  check('chain-id', options.chainId, 1, Number.MAX_SAFE_INTEGER)
  check('royalty-bps', options.royaltyBps, 0, 10_000)
  if (options.dataDir.trim() === '')
    throw new BaseError('INVALID_ARGUMENT', '--data-dir must be a folder path.')
  options.dataDir = resolve(options.dataDir)
  return options
}

/**
 * Dev-account indexes (anvil's well-known mnemonic): 0 deploys (and is the treasury), 1 is the demo
 * models' creator, 2 the requester of the printed example, 3… the nodes.
 *
 * @example
 * ```ts
 * devnetAccounts.node(1) // 3
 * ```
 */
export const devnetAccounts = {
  deployer: 0,
  creator: 1,
  requester: 2,
  node: (index: number) => 2 + index,
  /** How many dev accounts anvil must fund for `nodes` nodes. */
  count: (nodes: number) => Math.max(10, 3 + nodes),
} as const

/**
 * Where things live in a devnet data directory.
 *
 * @example
 * ```ts
 * devnetPaths('/tmp/d').node(1).key // '/tmp/d/node-1/key.json'
 * ```
 */
export function devnetPaths(dataDir: string) {
  return {
    anvilState: join(dataDir, 'anvil', 'state.json'),
    network: join(dataDir, 'network.json'),
    /** What `verity devnet --json` prints, kept while the devnet runs. */
    summary: join(dataDir, 'devnet.json'),
    /** Holds the devnet's pid while it runs: one devnet per data directory. */
    lock: join(dataDir, 'devnet.pid'),
    demoModels: join(dataDir, 'demo-models'),
    /** zk artifacts (circuits, keys, transcripts) by CID: the ceremonies write them, node 1 serves
     * them over IPFS and the other nodes fetch them into their own `<node dir>/zk`. */
    zk: join(dataDir, 'zk'),
    requesterKey: join(dataDir, 'requester.key.json'),
    node: (index: number) => {
      const dir = join(dataDir, `node-${index}`)
      return {
        dir,
        key: join(dir, 'key.json'),
        log: join(dir, 'node.log'),
        peerKey: join(dir, 'ipfs', 'peer.key'),
      }
    },
  }
}
