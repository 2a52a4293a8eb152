import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { BaseError } from '@verity/protocol'
import {
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  type Hex,
  http,
  isAddress,
  type LocalAccount,
  type PublicClient,
  parseEther,
  type Transport,
  type WalletClient,
} from 'viem'
import {
  inferenceHubAbi,
  inferenceHubBytecode,
  modelRegistryAbi,
  modelRegistryBytecode,
  nodeRegistryAbi,
  nodeRegistryBytecode,
  settlementAbi,
  settlementBytecode,
} from './generated/index.ts'

/**
 * Protocol constants of a Verity deployment (every one is a constructor argument, readable
 * on-chain and emitted in each contract's `ParametersSet` event). Durations are seconds, amounts
 * wei, shares basis points (1/10 000).
 */
export type VerityParameters = {
  /** NodeRegistry: smallest stake of an active node. */
  minStake: bigint
  /** NodeRegistry: largest stake per node. */
  maxStake: bigint
  /** NodeRegistry: cap of a node's selection weight (so no operator dominates sampling). */
  weightCap: bigint
  /** NodeRegistry: seconds unbonded stake stays locked and slashable (≥ challengeWindow). */
  unbondingDelay: number
  /** Settlement: seconds during which a committed batch can be challenged. */
  challengeWindow: number
  /** Settlement: seconds between a payer's withdrawal request and the withdrawal. */
  escrowWithdrawalDelay: number
  /** Settlement and InferenceHub: share of each fee for the verifiers. */
  verifierBps: number
  /** Settlement and InferenceHub: share of each fee for the treasury. */
  treasuryBps: number
  /** ModelRegistry: upper bound of model royalties. */
  maxRoyaltyBps: number
  /** Settlement: wei slashed from an executor per successful challenge. */
  slashAmount: bigint
  /** Settlement: share of a slash paid to the challenger (the rest goes to the treasury). */
  challengerRewardBps: number
  /** InferenceHub: seconds after which an unfulfilled request can be refunded. */
  requestTimeout: number
  /** InferenceHub: upper bound of a consumer's callback gas limit. */
  maxCallbackGas: number
}

/**
 * The devnet preset. Royalty + verifier + treasury shares stay ≤ 55 % so the executor always keeps
 * at least 45 % of a fee; unbonding (1 day) outlasts the challenge window (1 hour), so a node
 * cannot leave before its batches are final.
 *
 * @example
 * ```ts
 * const parameters = { ...defaultVerityParameters, challengeWindow: 60 }
 * ```
 */
export const defaultVerityParameters: VerityParameters = {
  minStake: parseEther('1'),
  maxStake: parseEther('100'),
  weightCap: parseEther('10'),
  unbondingDelay: 86_400,
  challengeWindow: 3_600,
  escrowWithdrawalDelay: 86_400,
  verifierBps: 2_000,
  treasuryBps: 500,
  maxRoyaltyBps: 3_000,
  slashAmount: parseEther('1'),
  challengerRewardBps: 5_000,
  requestTimeout: 3_600,
  maxCallbackGas: 500_000,
}

/** Where a Verity network lives: chain, contract addresses, parameters. Written as JSON by {@link deployVerity}. */
export type NetworkConfig = {
  chainId: number
  rpcUrl: string
  contracts: {
    modelRegistry: Address
    nodeRegistry: Address
    settlement: Address
    inferenceHub: Address
  }
  /** Block of the first deployment transaction: where event watchers start. */
  deployedAt: { block: number }
  deployer: Address
  treasury: Address
  parameters: VerityParameters
}

export type DeployVerityParameters = {
  rpcUrl: string
  /** Deployer; also the treasury unless `treasury` is given. Needs ether for gas. */
  account: LocalAccount
  parameters?: Partial<VerityParameters> | undefined
  /** Receives the treasury shares (default: the deployer). */
  treasury?: Address | undefined
  /** JSON file to reuse (when still deployed) or (re)write. */
  configPath?: string | undefined
  /** How often to poll for receipts (default 250 ms). */
  pollingInterval?: number | undefined
}

const bigintKeys = ['minStake', 'maxStake', 'weightCap', 'slashAmount'] as const
const numberKeys = [
  'unbondingDelay',
  'challengeWindow',
  'escrowWithdrawalDelay',
  'verifierBps',
  'treasuryBps',
  'maxRoyaltyBps',
  'challengerRewardBps',
  'requestTimeout',
  'maxCallbackGas',
] as const
const contractKeys = ['modelRegistry', 'nodeRegistry', 'settlement', 'inferenceHub'] as const

function invalid(message: string, hints: string[] = []): BaseError {
  return new BaseError('INVALID_ARGUMENT', message, { metaMessages: hints })
}

/**
 * Checks the cross-contract invariants of a parameter set (the contracts check their own ranges).
 *
 * @example
 * ```ts
 * assertVerityParameters({ ...defaultVerityParameters, verifierBps: 9000 }) // throws
 * ```
 */
export function assertVerityParameters(parameters: VerityParameters): void {
  for (const key of bigintKeys) {
    if (typeof parameters[key] !== 'bigint' || parameters[key] < 0n) {
      throw invalid(`Parameter ${key} must be a non-negative bigint (wei), got ${parameters[key]}.`)
    }
  }
  for (const key of numberKeys) {
    const value = parameters[key]
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalid(`Parameter ${key} must be a non-negative integer, got ${value}.`)
    }
  }
  for (const key of [
    'verifierBps',
    'treasuryBps',
    'maxRoyaltyBps',
    'challengerRewardBps',
  ] as const) {
    if (parameters[key] > 10_000)
      throw invalid(`Parameter ${key} must be ≤ 10000 bps, got ${parameters[key]}.`)
  }
  const shares = parameters.maxRoyaltyBps + parameters.verifierBps + parameters.treasuryBps
  if (shares > 10_000) {
    throw invalid(`maxRoyaltyBps + verifierBps + treasuryBps must be ≤ 10000, got ${shares}.`, [
      'The executor is paid what is left of a fee after royalty, verifiers and treasury.',
    ])
  }
  if (parameters.minStake === 0n || parameters.minStake > parameters.maxStake) {
    throw invalid(
      `Expected 0 < minStake ≤ maxStake, got minStake ${parameters.minStake}, maxStake ${parameters.maxStake}.`,
    )
  }
  if (parameters.weightCap === 0n) throw invalid('Parameter weightCap must be > 0.')
  if (parameters.unbondingDelay < parameters.challengeWindow) {
    throw invalid(
      `unbondingDelay (${parameters.unbondingDelay} s) must be ≥ challengeWindow (${parameters.challengeWindow} s).`,
      ['Otherwise a node could withdraw its stake before a fraud proof against it lands.'],
    )
  }
}

/**
 * JSON form of a network config (bigints as decimal strings).
 *
 * @example
 * ```ts
 * writeFileSync('network.json', networkConfigToJson(config))
 * ```
 */
export function networkConfigToJson(config: NetworkConfig): string {
  return `${JSON.stringify(config, (_key, value) => (typeof value === 'bigint' ? value.toString() : value), 2)}\n`
}

/**
 * Parses and validates the JSON written by {@link networkConfigToJson}.
 *
 * @example
 * ```ts
 * const config = parseNetworkConfig(readFileSync('network.json', 'utf8'))
 * ```
 */
export function parseNetworkConfig(json: string): NetworkConfig {
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch (error) {
    throw new BaseError('INVALID_JSON', 'The network config is not valid JSON.', { cause: error })
  }
  const fail = (what: string): never => {
    throw new BaseError('SCHEMA_INVALID', `The network config is invalid: ${what}.`, {
      metaMessages: [
        'Delete it and deploy again, or restore it from the deployment that wrote it.',
      ],
    })
  }
  const object = (value: unknown, what: string): Record<string, unknown> =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : fail(`${what} must be an object`)
  const address = (value: unknown, what: string): Address =>
    typeof value === 'string' && isAddress(value, { strict: false })
      ? getAddress(value)
      : fail(`${what} must be an address`)
  const integer = (value: unknown, what: string): number =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
      ? value
      : fail(`${what} must be a non-negative integer`)

  const root = object(raw, 'the document')
  const contracts = object(root.contracts, 'contracts')
  const parameters = object(root.parameters, 'parameters')
  if (typeof root.rpcUrl !== 'string') fail('rpcUrl must be a string')
  const parsedParameters = {} as Record<string, unknown>
  for (const key of bigintKeys) {
    const value = parameters[key]
    parsedParameters[key] =
      typeof value === 'string' && /^\d+$/.test(value)
        ? BigInt(value)
        : fail(`parameters.${key} must be a decimal string`)
  }
  for (const key of numberKeys)
    parsedParameters[key] = integer(parameters[key], `parameters.${key}`)
  return {
    chainId: integer(root.chainId, 'chainId'),
    rpcUrl: root.rpcUrl as string,
    contracts: {
      modelRegistry: address(contracts.modelRegistry, 'contracts.modelRegistry'),
      nodeRegistry: address(contracts.nodeRegistry, 'contracts.nodeRegistry'),
      settlement: address(contracts.settlement, 'contracts.settlement'),
      inferenceHub: address(contracts.inferenceHub, 'contracts.inferenceHub'),
    },
    deployedAt: { block: integer(object(root.deployedAt, 'deployedAt').block, 'deployedAt.block') },
    deployer: address(root.deployer, 'deployer'),
    treasury: address(root.treasury, 'treasury'),
    parameters: parsedParameters as VerityParameters,
  }
}

function writeFileAtomic(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true })
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    writeFileSync(temporary, content, { flush: true })
    renameSync(temporary, path)
  } catch (error) {
    rmSync(temporary, { force: true })
    throw new BaseError('INTERNAL', `Could not write the network config to ${path}.`, {
      details: (error as Error).message,
      cause: error,
    })
  }
}

function readExisting(path: string): NetworkConfig | undefined {
  let json: string
  try {
    json = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new BaseError('INTERNAL', `Could not read the network config ${path}.`, { cause: error })
  }
  return parseNetworkConfig(json)
}

function sameParameters(a: VerityParameters, b: VerityParameters): boolean {
  return [...bigintKeys, ...numberKeys].every((key) => a[key] === b[key])
}

/**
 * Deploys ModelRegistry, NodeRegistry, Settlement and InferenceHub and makes Settlement and the
 * hub the registry's slashers. With `configPath`: when that file describes a deployment that is
 * still on this chain (same chain id, same parameters, code at every address), returns it without
 * sending any transaction; otherwise deploys and atomically rewrites the file.
 *
 * @example
 * ```ts
 * const config = await deployVerity({
 *   rpcUrl: anvil.rpcUrl,
 *   account: privateKeyToAccount(anvil.privateKeys[0]),
 *   configPath: '.verity/network.json',
 * })
 * console.log(config.contracts.settlement)
 * ```
 */
export async function deployVerity(options: DeployVerityParameters): Promise<NetworkConfig> {
  const parameters: VerityParameters = { ...defaultVerityParameters, ...options.parameters }
  assertVerityParameters(parameters)
  const deployer = options.account.address
  const treasury = options.treasury ?? deployer
  if (!isAddress(treasury, { strict: false }))
    throw invalid(`treasury must be an address, got ${treasury}.`)

  const transport = http(options.rpcUrl, { retryCount: 1 })
  const pollingInterval = options.pollingInterval ?? 250
  let chainId: number
  try {
    chainId = await createPublicClient({ transport }).getChainId()
  } catch (error) {
    throw new BaseError('CHAIN_UNAVAILABLE', `No Ethereum JSON-RPC answers at ${options.rpcUrl}.`, {
      metaMessages: ['Start the chain (e.g. `verity devnet`) or fix --rpc.'],
      details: (error as Error).message.split('\n')[0],
      cause: error,
    })
  }
  const chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  })
  const publicClient = createPublicClient({ chain, transport, pollingInterval })

  if (options.configPath !== undefined) {
    const existing = readExisting(options.configPath)
    if (
      existing &&
      existing.chainId === chainId &&
      sameParameters(existing.parameters, parameters) &&
      (options.treasury === undefined || getAddress(existing.treasury) === getAddress(treasury))
    ) {
      const codes = await Promise.all(
        contractKeys.map((key) => publicClient.getCode({ address: existing.contracts[key] })),
      )
      if (codes.every((code) => code !== undefined && code !== '0x')) {
        if (existing.rpcUrl === options.rpcUrl) return existing
        const moved = { ...existing, rpcUrl: options.rpcUrl }
        writeFileAtomic(options.configPath, networkConfigToJson(moved))
        return moved
      }
    }
  }

  const wallet = createWalletClient({ account: options.account, chain, transport, pollingInterval })
  const contracts = await deployAll(wallet, publicClient, parameters, treasury)
  const config: NetworkConfig = {
    chainId,
    rpcUrl: options.rpcUrl,
    contracts: contracts.addresses,
    deployedAt: { block: contracts.firstBlock },
    deployer,
    treasury: getAddress(treasury),
    parameters,
  }
  if (options.configPath !== undefined)
    writeFileAtomic(options.configPath, networkConfigToJson(config))
  return config
}

async function deployAll(
  wallet: WalletClient<Transport, Chain, LocalAccount>,
  publicClient: PublicClient<Transport, Chain>,
  p: VerityParameters,
  treasury: Address,
): Promise<{ addresses: NetworkConfig['contracts']; firstBlock: number }> {
  let firstBlock: number | undefined
  /** Waits for the transaction `send()` makes; returns the created contract, if any. */
  const step = async (what: string, send: () => Promise<Hex>): Promise<Address | undefined> => {
    let hash: Hex
    try {
      hash = await send()
    } catch (error) {
      throw new BaseError('CHAIN_TRANSACTION_FAILED', `${what} failed.`, {
        metaMessages: [
          'Check the parameters (each contract validates its own) and the deployer balance.',
        ],
        details: (error as Error).message.split('\n')[0],
        cause: error,
      })
    }
    const receipt = await publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') {
      throw new BaseError('CHAIN_TRANSACTION_FAILED', `${what}: transaction ${hash} reverted.`, {
        metaMessages: [
          'Check the parameters (each contract validates its own) and the deployer balance.',
        ],
      })
    }
    firstBlock ??= Number(receipt.blockNumber)
    return receipt.contractAddress ? getAddress(receipt.contractAddress) : undefined
  }
  const deployed = async (what: string, send: () => Promise<Hex>): Promise<Address> => {
    const address = await step(`Deploying ${what}`, send)
    if (!address)
      throw new BaseError('CHAIN_TRANSACTION_FAILED', `Deploying ${what} created no contract.`)
    return address
  }

  const modelRegistry = await deployed('ModelRegistry', () =>
    wallet.deployContract({
      abi: modelRegistryAbi,
      bytecode: modelRegistryBytecode,
      args: [p.maxRoyaltyBps],
    }),
  )
  const nodeRegistry = await deployed('NodeRegistry', () =>
    wallet.deployContract({
      abi: nodeRegistryAbi,
      bytecode: nodeRegistryBytecode,
      args: [p.minStake, p.maxStake, p.weightCap, BigInt(p.unbondingDelay)],
    }),
  )
  const settlement = await deployed('Settlement', () =>
    wallet.deployContract({
      abi: settlementAbi,
      bytecode: settlementBytecode,
      args: [
        nodeRegistry,
        modelRegistry,
        treasury,
        BigInt(p.challengeWindow),
        BigInt(p.escrowWithdrawalDelay),
        p.verifierBps,
        p.treasuryBps,
        p.slashAmount,
        p.challengerRewardBps,
      ],
    }),
  )
  const inferenceHub = await deployed('InferenceHub', () =>
    wallet.deployContract({
      abi: inferenceHubAbi,
      bytecode: inferenceHubBytecode,
      args: [
        nodeRegistry,
        modelRegistry,
        treasury,
        BigInt(p.requestTimeout),
        p.verifierBps,
        p.treasuryBps,
        p.maxCallbackGas,
      ],
    }),
  )
  await step('NodeRegistry.setSlashers', () =>
    wallet.writeContract({
      address: nodeRegistry,
      abi: nodeRegistryAbi,
      functionName: 'setSlashers',
      args: [settlement, inferenceHub],
    }),
  )
  return {
    addresses: { modelRegistry, nodeRegistry, settlement, inferenceHub },
    firstBlock: firstBlock ?? 0,
  }
}
