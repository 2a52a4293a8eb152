import { BaseError } from '@verity/protocol'
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type ContractConstructorArgs,
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  type PublicClient,
  type TestClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts'
import { type Anvil, type StartAnvilOptions, startAnvil } from '../anvil.ts'

/** A wallet client bound to one funded dev account. */
export type TestWalletClient = WalletClient<Transport, Chain, PrivateKeyAccount>

/** A fresh anvil with viem clients around it; see {@link createTestChain}. */
export type TestChain = {
  anvil: Anvil
  chain: Chain
  publicClient: PublicClient<Transport, Chain>
  /** anvil cheat codes: `increaseTime`, `mine`, `setBalance`, `impersonateAccount`, … */
  testClient: TestClient<'anvil', Transport, Chain>
  /** One wallet client per dev account, in the order of `accounts`. */
  walletClients: TestWalletClient[]
  accounts: PrivateKeyAccount[]
  /** Deploys a contract from `from` (default account 0) and returns its address once mined. */
  deploy<const TAbi extends Abi>(
    abi: TAbi,
    bytecode: Hex,
    args: ContractConstructorArgs<TAbi>,
    from?: Account | Address,
  ): Promise<Address>
  /** Takes an EVM snapshot; pass its id to `revert` (each id can be reverted once). */
  snapshot(): Promise<Hex>
  revert(id: Hex): Promise<void>
  /** Moves the chain clock forward by `seconds` and mines a block. */
  increaseTime(seconds: number | bigint): Promise<void>
  close(): Promise<void>
}

/** Options of {@link createTestChain}. */
export type TestChainOptions = StartAnvilOptions & {
  /**
   * Let block timestamps follow the wall clock, as a real anvil does. By default they do not: each
   * block is 1 s after the one before and the clock moves only through `increaseTime`, so a test
   * that checks a window's exact edge cannot be pushed over it by a slow, loaded machine.
   */
  wallClock?: boolean | undefined
}

/**
 * Starts an anvil (≈0.2 s) and builds viem clients for it. One per test file; `close()` in
 * `after()`. Test-only: not exported from the package index. Block timestamps are deterministic
 * (see {@link TestChainOptions.wallClock}).
 *
 * @example
 * ```ts
 * const chain = await createTestChain()
 * after(() => chain.close())
 * const address = await chain.deploy(modelRegistryAbi, modelRegistryBytecode, [3000])
 * ```
 */
export async function createTestChain(options: TestChainOptions = {}): Promise<TestChain> {
  const anvil = await startAnvil(options)
  try {
    const chain = defineChain({
      id: anvil.chainId,
      name: 'Anvil',
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [anvil.rpcUrl] } },
    })
    const transport = http(anvil.rpcUrl, { retryCount: 0 })
    const pollingInterval = 20
    const publicClient = createPublicClient({ chain, transport, pollingInterval })
    const testClient = createTestClient({ chain, transport, mode: 'anvil', pollingInterval })
    const accounts = anvil.privateKeys.map((key) => privateKeyToAccount(key))
    const walletClients = accounts.map((account) =>
      createWalletClient({ account, chain, transport, pollingInterval }),
    )

    if (options.wallClock !== true) await testClient.setBlockTimestampInterval({ interval: 1 })

    const walletFor = (from: Account | Address | undefined): TestWalletClient => {
      if (from === undefined) return walletClients[0]!
      const address = (typeof from === 'string' ? from : from.address).toLowerCase()
      const wallet = walletClients.find((w) => w.account.address.toLowerCase() === address)
      if (!wallet)
        throw new BaseError('INVALID_ARGUMENT', `createTestChain: ${address} is not a dev account.`)
      return wallet
    }

    return {
      anvil,
      chain,
      publicClient,
      testClient,
      walletClients,
      accounts,
      async deploy(abi, bytecode, args, from) {
        const wallet = walletFor(from)
        const hash = await wallet.deployContract({
          abi: abi as Abi,
          bytecode,
          args: args as readonly unknown[],
        } as Parameters<TestWalletClient['deployContract']>[0])
        const receipt = await publicClient.waitForTransactionReceipt({ hash })
        if (receipt.status !== 'success' || !receipt.contractAddress) {
          throw new BaseError(
            'INTERNAL',
            `createTestChain: deployment ${hash} failed (${receipt.status}).`,
          )
        }
        return receipt.contractAddress
      },
      snapshot: () => testClient.snapshot(),
      async revert(id) {
        await testClient.revert({ id })
      },
      // From the latest block's timestamp, not anvil's wall clock: after evm_revert that clock can
      // lag a block timestamp that was pushed forward, and evm_increaseTime would then undershoot.
      async increaseTime(seconds) {
        const latest = await publicClient.getBlock({ blockTag: 'latest' })
        const target = latest.timestamp + BigInt(seconds)
        await testClient.setNextBlockTimestamp({ timestamp: target })
        await testClient.mine({ blocks: 1 })
        // With the wall clock on, anvil's clock moves too, so later blocks do not fall back behind
        // the target. (With the default interval clock, each block is simply 1 s after the last.)
        if (options.wallClock === true)
          await testClient.request({ method: 'evm_setTime', params: [Number(target)] } as never)
        const mined = await publicClient.getBlock({ blockTag: 'latest' })
        if (mined.timestamp < target)
          throw new BaseError(
            'INTERNAL',
            `anvil mined at ${mined.timestamp}, not at ${target} or later.`,
          )
      },
      close: () => anvil.stop(),
    }
  } catch (error) {
    await anvil.stop()
    throw error
  }
}
