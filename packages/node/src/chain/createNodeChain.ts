import type { NetworkConfig } from '@verity/contracts'
import { BaseError } from '@verity/protocol'
import { Counter, type Registry } from 'prom-client'
import {
  type Abi,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hash,
  http,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  BaseError as ViemError,
} from 'viem'

/**
 * Where the node's chain is: RPC endpoint, chain id and the deployed contracts (the
 * `network.json` that `deployVerity` writes, or the same fields by hand).
 *
 * @example
 * ```ts
 * const options: NodeChainOptions = { rpcUrl: 'http://127.0.0.1:8545', chainId: 31337, contracts, deployedAt: { block: 1 } }
 * ```
 */
export type NodeChainOptions = {
  rpcUrl: string
  chainId: number
  contracts: NetworkConfig['contracts']
  /** Block of the deployment: where event scans start (default 0). */
  deployedAt?: { block: number } | undefined
  /** How often viem polls for receipts and events (default 250 ms; 50 ms suits anvil). */
  pollingIntervalMs?: number | undefined
}

/**
 * One contract write: what viem's `writeContract` takes, minus account and chain.
 *
 * @example
 * ```ts
 * const call: ContractWrite = { address: contracts.settlement, abi: settlementAbi, functionName: 'finalize', args: [1n] }
 * ```
 */
export type ContractWrite = {
  address: `0x${string}`
  abi: Abi
  functionName: string
  args?: readonly unknown[] | undefined
  value?: bigint | undefined
}

/**
 * The node's view of the settlement chain: a public client for reads and events, and `write` for
 * transactions signed by the node key.
 *
 * @example
 * ```ts
 * const chain: NodeChain = createNodeChain(options, { account })
 * const receipt = await chain.write('finalize batch 1', { address, abi, functionName: 'finalize', args: [1n] })
 * ```
 */
export type NodeChain = {
  readonly chainId: number
  readonly rpcUrl: string
  readonly contracts: NetworkConfig['contracts']
  /** First block worth scanning for Verity events. */
  readonly deployedAt: number
  readonly account: LocalAccount
  readonly publicClient: PublicClient<Transport, Chain>
  /**
   * Simulates (so a revert is reported by its custom error name, and nothing is sent), sends and
   * waits for one transaction from the node key. Writes are serialized: nonces stay in order
   * whatever calls them. Throws `CHAIN_TRANSACTION_FAILED` on a revert and `CHAIN_UNAVAILABLE`
   * when the RPC cannot be reached.
   */
  write(what: string, call: ContractWrite): Promise<TransactionReceipt>
}

/**
 * What {@link createNodeChain} needs besides the options.
 *
 * @example
 * ```ts
 * const components: NodeChainComponents = { account, registry: metrics.registry }
 * ```
 */
export type NodeChainComponents = {
  account: LocalAccount
  /** Where `verity_chain_*` metrics are registered (none when absent). */
  registry?: Registry | undefined
}

/**
 * The custom error name of a reverted contract call (`InsufficientBalance`, `ChallengeWindowOpen`,
 * …), or undefined when the failure was not a revert.
 *
 * @example
 * ```ts
 * if (revertName(error) === 'ChallengeWindowOpen') return // too early, try later
 * ```
 */
export function revertName(error: unknown): string | undefined {
  let current: unknown = error
  // BaseError → cause chain
  for (let depth = 0; depth < 8 && current; depth++) {
    if (current instanceof ViemError) {
      const reverted = current.walk((e) => e instanceof ContractFunctionRevertedError)
      if (reverted instanceof ContractFunctionRevertedError)
        return reverted.data?.errorName ?? reverted.reason ?? 'reverted'
      return undefined
    }
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

function isConnectionError(error: unknown): boolean {
  const text = error instanceof Error ? `${error.name} ${error.message}` : String(error)
  return /HttpRequestError|ECONNREFUSED|fetch failed|TimeoutError|socket hang up/i.test(text)
}

/**
 * Connects a node to its chain (no request is sent until something reads or writes).
 *
 * @example
 * ```ts
 * const chain = createNodeChain(
 *   { rpcUrl: config.rpcUrl, chainId: config.chainId, contracts: config.contracts },
 *   { account },
 * )
 * const block = await chain.publicClient.getBlockNumber()
 * ```
 */
export function createNodeChain(
  options: NodeChainOptions,
  components: NodeChainComponents,
): NodeChain {
  const { account } = components
  const chain = defineChain({
    id: options.chainId,
    name: `chain ${options.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  })
  const pollingInterval = options.pollingIntervalMs ?? 250
  const transport = http(options.rpcUrl, { retryCount: 1, timeout: 15_000 })
  const publicClient = createPublicClient({ chain, transport, pollingInterval })
  const wallet = createWalletClient({ account, chain, transport, pollingInterval })
  const registers = components.registry ? [components.registry] : []
  const transactions = new Counter({
    name: 'verity_chain_transactions_total',
    help: 'Transactions sent by this node, by purpose and outcome (success, reverted, failed).',
    labelNames: ['what', 'status'] as const,
    registers,
  })
  const gasUsed = new Counter({
    name: 'verity_chain_gas_used_total',
    help: 'Gas used by mined transactions of this node, by purpose (units of gas).',
    labelNames: ['what'] as const,
    registers,
  })
  const feesPaid = new Counter({
    name: 'verity_chain_fees_paid_wei_total',
    help: 'Transaction fees paid by this node (gasUsed × effectiveGasPrice), in wei.',
    labelNames: ['what'] as const,
    registers,
  })
  let queue: Promise<unknown> = Promise.resolve()

  /** The metric label: the purpose without ids ("finalize batch 7" → "finalize"). */
  function purpose(what: string): string {
    return what.split(/\s+/)[0] ?? what
  }

  async function send(what: string, call: ContractWrite): Promise<TransactionReceipt> {
    const label = purpose(what)
    let hash: Hash
    try {
      const { request } = await publicClient.simulateContract({
        account,
        address: call.address,
        abi: call.abi,
        functionName: call.functionName,
        args: call.args ?? [],
        ...(call.value === undefined ? {} : { value: call.value }),
      } as unknown as Parameters<typeof publicClient.simulateContract>[0])
      hash = await wallet.writeContract(
        request as unknown as Parameters<typeof wallet.writeContract>[0],
      )
    } catch (error) {
      const name = revertName(error)
      transactions.inc({ what: label, status: name ? 'reverted' : 'failed' })
      if (name === undefined && isConnectionError(error))
        throw new BaseError(
          'CHAIN_UNAVAILABLE',
          `${what}: the chain at ${options.rpcUrl} does not answer.`,
          {
            metaMessages: ['Is the RPC endpoint (anvil) running?'],
            details: (error as Error).message.split('\n')[0],
            cause: error,
          },
        )
      throw new BaseError(
        'CHAIN_TRANSACTION_FAILED',
        name ? `${what} reverted with ${name}.` : `${what} failed.`,
        {
          details: (error as Error).message.split('\n')[0],
          metaMessages: [`Sender ${account.address} on chain ${options.chainId}.`],
          cause: error,
        },
      )
    }
    const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 60_000 })
    gasUsed.inc({ what: label }, Number(receipt.gasUsed))
    feesPaid.inc({ what: label }, Number(receipt.gasUsed * receipt.effectiveGasPrice))
    if (receipt.status !== 'success') {
      transactions.inc({ what: label, status: 'reverted' })
      throw new BaseError('CHAIN_TRANSACTION_FAILED', `${what}: transaction ${hash} reverted.`)
    }
    transactions.inc({ what: label, status: 'success' })
    return receipt
  }

  return {
    chainId: options.chainId,
    rpcUrl: options.rpcUrl,
    contracts: options.contracts,
    deployedAt: options.deployedAt?.block ?? 0,
    account,
    publicClient,
    write(what, call) {
      const result = queue.then(() => send(what, call))
      queue = result.catch(() => undefined)
      return result
    },
  }
}
