import {
  modelRegistryAbi,
  type NetworkConfig,
  nodeRegistryAbi,
  settlementAbi,
} from '@verity/contracts'
import { BaseError } from '@verity/protocol'
import {
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  keccak256,
  type LocalAccount,
  type PublicClient,
  stringToBytes,
  type Transport,
} from 'viem'

/**
 * Roles bitmask of `NodeRegistry.register`: 1 gateway, 2 executor, 4 verifier.
 *
 * @example
 * ```ts
 * nodeRoleBits.gateway | nodeRoleBits.executor // 3
 * ```
 */
export const nodeRoleBits = { gateway: 1, executor: 2, verifier: 4, all: 7 } as const

/**
 * viem clients for a deployed Verity network.
 *
 * @example
 * ```ts
 * const chain = createChainClients(config)
 * await chain.publicClient.getBlockNumber()
 * ```
 */
export type ChainClients = {
  chain: Chain
  publicClient: PublicClient<Transport, Chain>
  config: NetworkConfig
  /** Sends one contract write from `account` and waits until it is mined (reverts throw). */
  write(
    account: LocalAccount,
    what: string,
    send: (wallet: WalletFor) => Promise<Hex>,
  ): Promise<void>
}

type WalletFor = ReturnType<typeof walletClient>

function walletClient(account: LocalAccount, chain: Chain, transport: Transport) {
  return createWalletClient({ account, chain, transport, pollingInterval: 50 })
}

/**
 * Creates the clients (50 ms polling: anvil mines on every transaction).
 *
 * @example
 * ```ts
 * const chain = createChainClients(await deployVerity({ rpcUrl, account }))
 * ```
 */
export function createChainClients(config: NetworkConfig): ChainClients {
  const chain = defineChain({
    id: config.chainId,
    name: `chain ${config.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } },
  })
  const transport = http(config.rpcUrl, { retryCount: 1 })
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 })
  return {
    chain,
    publicClient,
    config,
    async write(account, what, send) {
      let hash: Hex
      try {
        hash = await send(walletClient(account, chain, transport))
      } catch (error) {
        throw new BaseError('CHAIN_TRANSACTION_FAILED', `${what} failed.`, {
          metaMessages: [`Sender ${account.address}; is the chain at ${config.rpcUrl} running?`],
          details: (error as Error).message.split('\n')[0],
          cause: error,
        })
      }
      const receipt = await publicClient.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success')
        throw new BaseError('CHAIN_TRANSACTION_FAILED', `${what}: transaction ${hash} reverted.`)
    },
  }
}

/**
 * Parameters of {@link ensureNodeRegistered}.
 *
 * @example
 * ```ts
 * const parameters: EnsureNodeRegisteredParameters = { account, endpoint: 'http://127.0.0.1:8546', peerId, roles: 7 }
 * ```
 */
export type EnsureNodeRegisteredParameters = {
  account: LocalAccount
  endpoint: string
  peerId: string
  roles: number
  /** Default: the registry's minimum stake. */
  stake?: bigint | undefined
}

/**
 * What {@link ensureNodeRegistered} did and the node's record afterwards.
 *
 * @example
 * ```ts
 * const { action, stake }: EnsureNodeRegisteredReturnType = await ensureNodeRegistered(chain, parameters)
 * ```
 */
export type EnsureNodeRegisteredReturnType = {
  action: 'registered' | 'updated' | 'unchanged'
  stake: bigint
  active: boolean
}

/**
 * Registers and stakes a node in `NodeRegistry` (`register{value: stake}(endpoint, peerId, roles)`)
 * unless it is registered already; then only changes the endpoint, peer id or roles if they
 * differ (`updateNode`), so a restarted devnet on other ports keeps its nodes findable.
 *
 * @example
 * ```ts
 * await ensureNodeRegistered(chain, { account: nodeAccount, endpoint: url, peerId, roles: nodeRoleBits.all })
 * ```
 */
export async function ensureNodeRegistered(
  chain: ChainClients,
  parameters: EnsureNodeRegisteredParameters,
): Promise<EnsureNodeRegisteredReturnType> {
  const address = chain.config.contracts.nodeRegistry
  const read = () =>
    chain.publicClient.readContract({
      address,
      abi: nodeRegistryAbi,
      functionName: 'getNode',
      args: [parameters.account.address],
    })
  const isActive = () =>
    chain.publicClient.readContract({
      address,
      abi: nodeRegistryAbi,
      functionName: 'isActive',
      args: [parameters.account.address],
    })
  const node = await read()
  let action: EnsureNodeRegisteredReturnType['action'] = 'unchanged'
  if (node.registeredAt === 0n) {
    const value = parameters.stake ?? chain.config.parameters.minStake
    await chain.write(parameters.account, 'NodeRegistry.register', (wallet) =>
      wallet.writeContract({
        address,
        abi: nodeRegistryAbi,
        functionName: 'register',
        args: [parameters.endpoint, parameters.peerId, parameters.roles],
        value,
      }),
    )
    action = 'registered'
  } else if (
    node.endpoint !== parameters.endpoint ||
    node.peerId !== parameters.peerId ||
    node.roles !== parameters.roles
  ) {
    await chain.write(parameters.account, 'NodeRegistry.updateNode', (wallet) =>
      wallet.writeContract({
        address,
        abi: nodeRegistryAbi,
        functionName: 'updateNode',
        args: [parameters.endpoint, parameters.peerId, parameters.roles],
      }),
    )
    action = 'updated'
  }
  const [after, active] = await Promise.all([read(), isActive()])
  return { action, stake: after.stake, active }
}

/**
 * Parameters of {@link ensureModelRegistered}.
 *
 * @example
 * ```ts
 * const parameters: EnsureModelRegisteredParameters = { account: creator, name: 'digits-mlp-int8', cid, manifestHash, royaltyBps: 1000 }
 * ```
 */
export type EnsureModelRegisteredParameters = {
  account: LocalAccount
  name: string
  cid: string
  manifestHash: Hex
  royaltyBps: number
  pricePerCall?: bigint | undefined
}

/**
 * Registers a model in `ModelRegistry` (creator = `account`) unless its CID is registered already
 * (`modelByCid`); returns its id, creator and royalty as the chain has them either way.
 *
 * @example
 * ```ts
 * const { modelId } = await ensureModelRegistered(chain, { account: creator, name, cid, manifestHash, royaltyBps: 1000 })
 * ```
 */
export async function ensureModelRegistered(
  chain: ChainClients,
  parameters: EnsureModelRegisteredParameters,
): Promise<{
  modelId: bigint
  registered: boolean
  creator: `0x${string}`
  royaltyBps: number
  zkVerifier: `0x${string}`
}> {
  const address = chain.config.contracts.modelRegistry
  const lookup = async () =>
    (
      await chain.publicClient.readContract({
        address,
        abi: modelRegistryAbi,
        functionName: 'modelByCid',
        args: [keccak256(stringToBytes(parameters.cid))],
      })
    )[0]
  const record = async (modelId: bigint, registered: boolean) => {
    const model = await chain.publicClient.readContract({
      address,
      abi: modelRegistryAbi,
      functionName: 'getModel',
      args: [modelId],
    })
    return {
      modelId,
      registered,
      creator: model.creator,
      royaltyBps: model.royaltyBps,
      zkVerifier: model.zkVerifier,
    }
  }
  const existing = await lookup()
  if (existing !== 0n) return record(existing, false)
  await chain.write(
    parameters.account,
    `ModelRegistry.registerModel(${parameters.name})`,
    (wallet) =>
      wallet.writeContract({
        address,
        abi: modelRegistryAbi,
        functionName: 'registerModel',
        args: [
          parameters.name,
          parameters.cid,
          parameters.manifestHash,
          parameters.royaltyBps,
          parameters.pricePerCall ?? 0n,
          '0x0000000000000000000000000000000000000000',
        ],
      }),
  )
  return record(await lookup(), true)
}

/**
 * Tops a payer's free Settlement escrow up to `minimum` (`deposit{value}`), or does nothing when it
 * already holds that much.
 *
 * @example
 * ```ts
 * const { balance, deposited } = await ensureEscrow(chain, { account: requester, minimum: parseEther('10') })
 * ```
 */
export async function ensureEscrow(
  chain: ChainClients,
  parameters: { account: LocalAccount; minimum: bigint },
): Promise<{ balance: bigint; deposited: boolean }> {
  const read = () =>
    chain.publicClient.readContract({
      address: chain.config.contracts.settlement,
      abi: settlementAbi,
      functionName: 'balanceOf',
      args: [parameters.account.address],
    })
  const before = await read()
  if (before >= parameters.minimum) return { balance: before, deposited: false }
  await chain.write(parameters.account, 'Settlement.deposit', (wallet) =>
    wallet.writeContract({
      address: chain.config.contracts.settlement,
      abi: settlementAbi,
      functionName: 'deposit',
      value: parameters.minimum - before,
    }),
  )
  return { balance: await read(), deposited: true }
}
