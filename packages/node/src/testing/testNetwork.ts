import {
  deployVerity,
  modelRegistryAbi,
  type NetworkConfig,
  nodeRegistryAbi,
  settlementAbi,
  type VerityParameters,
} from '@verity/contracts'
import { createTestChain, type TestChain } from '@verity/contracts/testing'
import { BaseError, type Hash } from '@verity/protocol'
import { keccak256, parseEther, stringToBytes } from 'viem'

/**
 * A fresh anvil with the Verity contracts deployed (short windows suited to tests) and helpers to
 * put nodes, models and escrow deposits on it. Test-only.
 *
 * @example
 * ```ts
 * const network = await createTestNetwork()
 * after(() => network.close())
 * await network.registerNode(network.chain.accounts[1]!, { endpoint: 'http://127.0.0.1:1' })
 * ```
 */
export type TestNetwork = {
  chain: TestChain
  config: NetworkConfig
  /** Registers and stakes a dev account as a node (roles: all, stake: the minimum). */
  registerNode(
    account: TestChain['accounts'][number],
    parameters: { endpoint: string; peerId?: string; stake?: bigint; roles?: number },
  ): Promise<void>
  /** Registers a model from `creator`; returns its id. */
  registerModel(
    creator: TestChain['accounts'][number],
    parameters: {
      name: string
      cid: string
      manifestHash: Hash
      royaltyBps?: number
      pricePerCall?: bigint
    },
  ): Promise<bigint>
  /** Deposits `amount` into `payer`'s Settlement escrow. */
  deposit(payer: TestChain['accounts'][number], amount: bigint): Promise<void>
  close(): Promise<void>
}

/** Parameters used by {@link createTestNetwork} unless overridden: 60 s challenge window. */
export const testNetworkParameters: Partial<VerityParameters> = {
  challengeWindow: 60,
  unbondingDelay: 120,
  escrowWithdrawalDelay: 120,
  requestTimeout: 120,
}

/**
 * Starts anvil and deploys Verity with account 0 as deployer and treasury.
 *
 * @example
 * ```ts
 * const { chain, config } = await createTestNetwork({ parameters: { challengeWindow: 30 } })
 * ```
 */
export async function createTestNetwork(
  options: { parameters?: Partial<VerityParameters> } = {},
): Promise<TestNetwork> {
  const chain = await createTestChain()
  try {
    const config = await deployVerity({
      rpcUrl: chain.anvil.rpcUrl,
      account: chain.accounts[0]!,
      parameters: { ...testNetworkParameters, ...options.parameters },
      pollingInterval: 20,
    })
    const wait = async (hash: Hash) => {
      const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success')
        throw new BaseError('CHAIN_TRANSACTION_FAILED', `transaction ${hash} reverted`)
    }
    const wallet = (account: TestChain['accounts'][number]) =>
      chain.walletClients.find((w) => w.account.address === account.address)!
    return {
      chain,
      config,
      async registerNode(account, parameters) {
        await wait(
          await wallet(account).writeContract({
            address: config.contracts.nodeRegistry,
            abi: nodeRegistryAbi,
            functionName: 'register',
            args: [parameters.endpoint, parameters.peerId ?? '', parameters.roles ?? 7],
            value: parameters.stake ?? config.parameters.minStake,
          }),
        )
      },
      async registerModel(creator, parameters) {
        await wait(
          await wallet(creator).writeContract({
            address: config.contracts.modelRegistry,
            abi: modelRegistryAbi,
            functionName: 'registerModel',
            args: [
              parameters.name,
              parameters.cid,
              parameters.manifestHash,
              parameters.royaltyBps ?? 1000,
              parameters.pricePerCall ?? parseEther('0.001'),
              '0x0000000000000000000000000000000000000000',
            ],
          }),
        )
        const [modelId] = await chain.publicClient.readContract({
          address: config.contracts.modelRegistry,
          abi: modelRegistryAbi,
          functionName: 'modelByCid',
          args: [keccak256(stringToBytes(parameters.cid))],
        })
        return modelId
      },
      async deposit(payer, amount) {
        await wait(
          await wallet(payer).writeContract({
            address: config.contracts.settlement,
            abi: settlementAbi,
            functionName: 'deposit',
            value: amount,
          }),
        )
      },
      close: () => chain.close(),
    }
  } catch (error) {
    await chain.close()
    throw error
  }
}
