// Benchmark of verified inference on a real devnet (anvil, the contracts, 4 node processes), next
// to a bare onnxruntime-node session on the same model and input, measured in the same run; then
// the settlement gas the nodes actually paid per inference. Not a test: it prints numbers.
// Run it directly: node bench/networkBench.ts   (knobs: see networkBenchOptionsFromEnv)
import { AsyncLocalStorage } from 'node:async_hooks'
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseNetworkConfig, settlementAbi } from '@verity/contracts'
import { onnxSessionOptions, resolveOnnxEngineOptions } from '@verity/engine'
import { demoModelFiles } from '@verity/models'
import { defaultNodeOptions } from '@verity/node'
import {
  BaseError,
  isBaseError,
  type Mode,
  type NamedTensors,
  namedTensorsFromJson,
} from '@verity/protocol'
import { type Client, createClient, http, infer } from '@verity/sdk'
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node'
import {
  createPublicClient,
  createTestClient,
  decodeFunctionData,
  type Hash,
  isAddressEqual,
  http as viemHttp,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  devnetNodeFlags,
  devnetPaths,
  resolveDevnetOptions,
} from '../packages/cli/src/devnet/options.ts'
import { createChainClients, ensureEscrow } from '../packages/cli/src/devnet/registerOnChain.ts'
import { type Devnet, startDevnet } from '../packages/cli/src/devnet/startDevnet.ts'
import type { Progress } from '../packages/cli/src/progress.ts'

/** One verification setting measured: a mode and its quorum (`undefined` for `none`). */
export type NetworkBenchMode = { mode: Mode; quorum?: number | undefined }

/**
 * What {@link benchNetwork} runs. Every field has a default (see {@link defaultNetworkBenchOptions}).
 *
 * @example
 * ```ts
 * const options: NetworkBenchOptions = { secondsPerCell: 5, concurrencies: [1, 16] }
 * ```
 */
export type NetworkBenchOptions = {
  /** Verification settings, each measured at every concurrency. */
  modes: NetworkBenchMode[]
  /** Closed-loop workers (each sends its next request when the previous one is answered). */
  concurrencies: number[]
  /** How long one (mode, concurrency) cell runs, in seconds… */
  secondsPerCell: number
  /** …or until this many requests were sent, whichever comes first. */
  maxRequestsPerCell: number
  /** `round-robin` spreads requests over every node; `gateway` sends them all to node 1. */
  target: 'round-robin' | 'gateway'
  /** Runs of the bare onnxruntime-node baseline (after 10 % warm-up). */
  bareIterations: number
  /** How long to wait for the nodes to commit, finalize and withdraw, in ms (each phase). */
  settleTimeoutMs: number
  /** A folder written by `writeDemoModels`: copied into the devnet so it does not build them again. */
  demoModelsDir?: string | undefined
  /** Progress lines (devnet start-up, phases); default: none. */
  log?: ((line: string) => void) | undefined
}

/**
 * The defaults: `none`, `reexec` quorum 1 and 2, at concurrency 1, 16 and 64, 8 s or 2000 requests
 * per cell, round robin over the nodes, 2000 bare runs, 60 s per settlement phase.
 *
 * @example
 * ```ts
 * await benchNetwork({ ...defaultNetworkBenchOptions, secondsPerCell: 3 })
 * ```
 */
export const defaultNetworkBenchOptions: Readonly<NetworkBenchOptions> =
  Object.freeze<NetworkBenchOptions>({
    modes: [{ mode: 'none' }, { mode: 'reexec', quorum: 1 }, { mode: 'reexec', quorum: 2 }],
    concurrencies: [1, 16, 64],
    secondsPerCell: 8,
    maxRequestsPerCell: 2000,
    target: 'round-robin',
    bareIterations: 2000,
    settleTimeoutMs: 60_000,
  })

/** Latency percentiles (successful requests only) and throughput of one closed-loop run. */
export type LatencyStats = {
  /** Requests answered with a receipt that verified. */
  ok: number
  failed: number
  p50Ms: number
  p99Ms: number
  meanMs: number
  /** Successful requests per second of wall time. */
  throughputPerSecond: number
  seconds: number
}

/** One (mode, concurrency) cell: its numbers and its failures by `CODE (HTTP status)`. */
export type NetworkBenchCell = NetworkBenchMode & {
  concurrency: number
  stats: LatencyStats
  errors: Record<string, number>
  /** The first message seen for each error key. */
  errorMessages: Record<string, string>
}

/** Gas and count of one kind of settlement transaction the nodes sent. */
export type SettlementTxStats = { function: string; count: number; gasUsed: bigint; feeWei: bigint }

/** What settlement cost on-chain, from the chain's own receipts and events. */
export type NetworkBenchSettlement = {
  /** Receipts in committed batches (sum of `BatchCommitted.count`). */
  committedReceipts: number
  /** Receipts in finalized batches: settled and paid. */
  paidReceipts: number
  committedBatches: number
  finalizedBatches: number
  /** Every transaction the nodes sent to Settlement, by function. */
  transactions: SettlementTxStats[]
  /** Transactions that reverted (they cost gas too; included above). */
  reverted: number
  totalGas: bigint
  totalFeeWei: bigint
  /** Mean effective gas price of those transactions, in wei. */
  gasPriceWei: bigint
  /** Earnings credited to the nodes but not withdrawn yet when the bench stopped (wei). */
  unwithdrawnWei: bigint
  pricePerCallWei: bigint
  /** Wall time from the end of the load to the last finalize/withdraw, in seconds. */
  seconds: number
  blocksScanned: number
}

/** Everything {@link benchNetwork} measured. */
export type NetworkBenchResult = {
  cpus: number
  cpuModel: string
  loadAverage: number[]
  nodes: number
  target: NetworkBenchOptions['target']
  model: { name: string; cid: string }
  devnetStartupMs: number
  warmupRequests: number
  /** Bare `InferenceSession`, same pinned settings and input, concurrency 1. */
  bare: LatencyStats
  cells: NetworkBenchCell[]
  settlement: NetworkBenchSettlement
  /** Nodes that exited while the bench ran (should be empty). */
  nodeExits: string[]
}

/**
 * Bench options from the environment: `BENCH_NETWORK_SECONDS` (per cell, default 8),
 * `BENCH_NETWORK_REQUESTS` (max per cell, default 2000), `BENCH_NETWORK_CONCURRENCY` (comma list,
 * default `1,16,64`), `BENCH_NETWORK_TARGET` (`round-robin` | `gateway`), `BENCH_NETWORK_BARE`
 * (bare runs, default 2000).
 *
 * @example
 * ```ts
 * const result = await benchNetwork(networkBenchOptionsFromEnv(process.env))
 * ```
 */
export function networkBenchOptionsFromEnv(
  env: Record<string, string | undefined>,
): Partial<NetworkBenchOptions> {
  const options: Partial<NetworkBenchOptions> = {}
  const positive = (name: string): number | undefined => {
    const text = env[name]
    if (text === undefined || text === '') return undefined
    const value = Number(text)
    if (!(value > 0)) {
      console.error(`${name}=${text} is not a positive number: using the default.`)
      return undefined
    }
    return value
  }
  const seconds = positive('BENCH_NETWORK_SECONDS')
  if (seconds !== undefined) options.secondsPerCell = seconds
  const requests = positive('BENCH_NETWORK_REQUESTS')
  if (requests !== undefined) options.maxRequestsPerCell = Math.ceil(requests)
  const bare = positive('BENCH_NETWORK_BARE')
  if (bare !== undefined) options.bareIterations = Math.ceil(bare)
  const concurrency = env.BENCH_NETWORK_CONCURRENCY
  if (concurrency) {
    const list = concurrency.split(',').map(Number)
    if (list.every((value) => Number.isSafeInteger(value) && value > 0))
      options.concurrencies = list
    else console.error(`BENCH_NETWORK_CONCURRENCY=${concurrency} is not a list of integers.`)
  }
  const target = env.BENCH_NETWORK_TARGET
  if (target === 'round-robin' || target === 'gateway') options.target = target
  else if (target) console.error(`BENCH_NETWORK_TARGET=${target}: expected round-robin or gateway.`)
  return options
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN
}

function stats(latencies: number[], failed: number, seconds: number): LatencyStats {
  const sorted = latencies.toSorted((a, b) => a - b)
  return {
    ok: sorted.length,
    failed,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    meanMs: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
    throughputPerSecond: sorted.length / seconds,
    seconds,
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` every 250 ms until it returns a value or `timeoutMs` passes (then `undefined`). */
async function eventually<T>(
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined || performance.now() > deadline) return value
    await sleep(250)
  }
}

/** The HTTP status of the last response of the request running in this async context. */
const lastStatus = new AsyncLocalStorage<{ status: number }>()
const recordingFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init)
  const slot = lastStatus.getStore()
  if (slot) slot.status = response.status
  return response
}

function errorKey(error: unknown, status: number): string {
  const code = isBaseError(error) ? error.code : ((error as Error)?.name ?? 'UNKNOWN')
  return status === 0 ? code : `${code} (HTTP ${status})`
}

type Load = {
  clients: Client[]
  target: NetworkBenchOptions['target']
  model: string
  inputs: NamedTensors
}

/** N closed-loop workers, each sending its next request when the previous one is answered. */
async function closedLoop(
  load: Load,
  setting: NetworkBenchMode,
  concurrency: number,
  limits: { seconds: number; maxRequests: number },
): Promise<Omit<NetworkBenchCell, keyof NetworkBenchMode | 'concurrency'>> {
  const latencies: number[] = []
  const errors: Record<string, number> = {}
  const errorMessages: Record<string, string> = {}
  let failed = 0
  let sent = 0
  let next = 0
  const started = performance.now()
  const deadline = started + limits.seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < limits.maxRequests && performance.now() < deadline) {
        sent++
        const client =
          load.target === 'gateway' ? load.clients[0]! : load.clients[next++ % load.clients.length]!
        const slot = { status: 0 }
        const begun = performance.now()
        try {
          await lastStatus.run(slot, () =>
            infer(client, {
              model: load.model,
              inputs: load.inputs,
              mode: setting.mode,
              ...(setting.quorum === undefined ? {} : { quorum: setting.quorum }),
            }),
          )
          latencies.push(performance.now() - begun)
        } catch (error) {
          failed++
          const key = errorKey(error, slot.status === 200 ? 0 : slot.status)
          errors[key] = (errors[key] ?? 0) + 1
          errorMessages[key] ??= isBaseError(error) ? error.shortMessage : String(error)
        }
      }
    }),
  )
  return {
    stats: stats(latencies, failed, (performance.now() - started) / 1000),
    errors,
    errorMessages,
  }
}

/** Bare onnxruntime-node on the main thread: the engine's pinned session options, no validation. */
async function benchBare(
  modelBytes: Uint8Array,
  inputs: NamedTensors,
  iterations: number,
): Promise<LatencyStats> {
  const session = await InferenceSession.create(
    modelBytes,
    onnxSessionOptions(resolveOnnxEngineOptions()),
  )
  try {
    const feeds = () =>
      Object.fromEntries(
        Object.entries(inputs).map(([name, tensor]) => [
          name,
          new OrtTensor(tensor.dtype as 'uint8', tensor.data as Uint8Array, tensor.shape),
        ]),
      )
    const run = () => session.run(feeds())
    for (let i = 0; i < Math.max(20, Math.floor(iterations / 10)); i++) await run()
    const latencies: number[] = []
    const started = performance.now()
    for (let i = 0; i < iterations; i++) {
      const begun = performance.now()
      await run()
      latencies.push(performance.now() - begun)
    }
    return stats(latencies, 0, (performance.now() - started) / 1000)
  } finally {
    await session.release()
  }
}

function silentProgress(log: ((line: string) => void) | undefined): Progress {
  const step = (label: string) => {
    const started = performance.now()
    const end = (mark: string) => (detail?: string) =>
      log?.(
        `  ${mark} ${label}${detail ? ` (${detail})` : ''} ${((performance.now() - started) / 1000).toFixed(1)} s`,
      )
    return { update() {}, bytes() {}, done: end('✓'), fail: end('✗') }
  }
  return { step, note: (text) => log?.(`  ${text}`) }
}

/**
 * Starts a devnet (anvil, the contracts, 4 node processes, the demo models) in a temporary folder
 * and measures, in one run:
 * 1. verified inference through the HTTP API (SDK `infer`: `GET /v1/models/:cid`, signed
 *    `POST /v1/infer`, offline receipt verification) for each mode at each concurrency, closed
 *    loop, signed by the devnet's requester key, after a warm-up that makes every node fetch the
 *    model over IPFS;
 * 2. a bare onnxruntime-node session on the same model and input (concurrency 1);
 * 3. settlement: the nodes commit their batches, anvil's clock passes the challenge window, the
 *    nodes finalize and withdraw; the gas of every transaction they sent to Settlement is read from
 *    the chain and divided by the receipts of finalized batches.
 * The devnet is stopped and its folder removed at the end, also on error.
 *
 * @example
 * ```ts
 * const result = await benchNetwork({ secondsPerCell: 5, log: console.error })
 * console.log(formatNetworkBench(result).join('\n'))
 * ```
 */
export async function benchNetwork(
  input: Partial<NetworkBenchOptions> = {},
): Promise<NetworkBenchResult> {
  const options: NetworkBenchOptions = { ...defaultNetworkBenchOptions, ...input }
  const { log } = options
  const dataDir = await mkdtemp(join(tmpdir(), 'verity-bench-devnet-'))
  let devnet: Devnet | undefined
  const nodeExits: string[] = []
  try {
    const paths = devnetPaths(dataDir)
    if (options.demoModelsDir)
      await cp(options.demoModelsDir, paths.demoModels, { recursive: true })
    log?.(`Starting a devnet in ${dataDir}`)
    devnet = await startDevnet(resolveDevnetOptions({ dataDir, portBase: 0 }), {
      progress: silentProgress(log),
      onNodeExit: (node, code) => {
        nodeExits.push(`node ${node.index} exited (${code})`)
        log?.(`  node ${node.index} exited (${code}); its log: ${node.logFile}`)
      },
    })
    const { summary } = devnet
    const model = summary.models.find((m) => m.name === 'digits-mlp-int8')
    const requesterKey = summary.testKeys.find((k) => k.role === 'requester')
    if (!model || !requesterKey)
      throw new BaseError(
        'INTERNAL',
        'Expected the devnet to publish digits-mlp-int8 and print a requester key; one is missing.',
        {
          metaMessages: [
            'Check packages/cli/src/devnet/startDevnet.ts (summary.models, testKeys).',
          ],
        },
      )
    const account = privateKeyToAccount(requesterKey.privateKey)
    const inputs = namedTensorsFromJson(
      JSON.parse(await readFile(join(summary.samples, 'digit-7.int8.json'), 'utf8')),
    )
    const modelBytes = await readFile(join(paths.demoModels, demoModelFiles.int8Model))
    const clients = summary.nodes.map((node) =>
      createClient({
        transport: http(node.url, { timeoutMs: 60_000, fetch: recordingFetch }),
        account,
      }),
    )
    const load: Load = { clients, target: options.target, model: model.cid, inputs }
    const price = BigInt(summary.settlement.pricePerCall)

    // escrow: every request is paid (0.001 ETH); top up so that no node refuses for escrow
    const config = parseNetworkConfig(await readFile(paths.network, 'utf8'))
    const chain = createChainClients(config)
    const maxRequests =
      options.modes.length * options.concurrencies.length * options.maxRequestsPerCell + 1000
    const escrow = await ensureEscrow(chain, { account, minimum: BigInt(maxRequests) * price })
    log?.(`  requester escrow ${escrow.balance / 10n ** 15n} milli-ETH (${maxRequests} calls)`)

    const rpc = createPublicClient({ transport: viemHttp(summary.rpcUrl, { retryCount: 0 }) })
    const startBlock = await rpc.getBlockNumber({ cacheTime: 0 })

    // warm-up: each node fetches the model over IPFS on first use, then every mode runs a little
    log?.('Warming up (first use fetches the model over IPFS on each node)')
    let warmupRequests = 0
    let warmupOk = 0
    for (const client of clients) {
      await infer(client, { model: model.cid, inputs, mode: 'none' })
      warmupRequests++
      warmupOk++
    }
    for (const setting of options.modes) {
      const warm = await closedLoop(load, setting, 8, { seconds: 3, maxRequests: 48 })
      warmupRequests += warm.stats.ok + warm.stats.failed
      warmupOk += warm.stats.ok
    }

    log?.(`Bare onnxruntime-node baseline (${options.bareIterations} runs)`)
    const bare = await benchBare(modelBytes, inputs, options.bareIterations)

    const cells: NetworkBenchCell[] = []
    let loadOk = 0
    for (const setting of options.modes)
      for (const concurrency of options.concurrencies) {
        const label = `${setting.mode}${setting.quorum === undefined ? '' : ` q${setting.quorum}`}`
        log?.(`Load: ${label} at concurrency ${concurrency}`)
        const cell = await closedLoop(load, setting, concurrency, {
          seconds: options.secondsPerCell,
          maxRequests: options.maxRequestsPerCell,
        })
        loadOk += cell.stats.ok
        cells.push({ ...setting, concurrency, ...cell })
      }

    const settlement = await settle({
      rpcUrl: summary.rpcUrl,
      settlementAddress: summary.contracts.settlement,
      nodes: summary.nodes.map((node) => node.address),
      startBlock,
      expectedReceipts: warmupOk + loadOk,
      challengeWindowSeconds: summary.settlement.challengeWindowSeconds,
      timeoutMs: options.settleTimeoutMs,
      pricePerCallWei: price,
      log,
    })
    return {
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      loadAverage: loadavg(),
      nodes: summary.nodes.length,
      target: options.target,
      model: { name: model.name, cid: model.cid },
      devnetStartupMs: summary.startupMs,
      warmupRequests,
      bare,
      cells,
      settlement,
      nodeExits,
    }
  } finally {
    log?.('Stopping the devnet')
    await devnet?.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

type SettleParameters = {
  rpcUrl: string
  settlementAddress: `0x${string}`
  nodes: `0x${string}`[]
  startBlock: bigint
  expectedReceipts: number
  challengeWindowSeconds: number
  timeoutMs: number
  pricePerCallWei: bigint
  log?: ((line: string) => void) | undefined
}

/** Lets the nodes commit, passes the challenge window, waits for finalize/withdraw, reads the gas. */
async function settle(parameters: SettleParameters): Promise<NetworkBenchSettlement> {
  const { log, settlementAddress: address, startBlock, nodes } = parameters
  const started = performance.now()
  const rpc = createPublicClient({ transport: viemHttp(parameters.rpcUrl, { retryCount: 1 }) })
  const testClient = createTestClient({
    mode: 'anvil',
    transport: viemHttp(parameters.rpcUrl, { retryCount: 0 }),
  })
  const isNode = (sender: `0x${string}` | undefined) =>
    sender !== undefined && nodes.some((node) => isAddressEqual(node, sender))
  const committed = async () =>
    (
      await rpc.getContractEvents({
        address,
        abi: settlementAbi,
        eventName: 'BatchCommitted',
        fromBlock: startBlock + 1n,
      })
    ).filter((event) => isNode(event.args.executor))
  const finalizedIds = async () =>
    new Set(
      (
        await rpc.getContractEvents({
          address,
          abi: settlementAbi,
          eventName: 'BatchFinalized',
          fromBlock: startBlock + 1n,
        })
      ).map((event) => event.args.batchId!),
    )
  const countOf = (events: Awaited<ReturnType<typeof committed>>) =>
    events.reduce((sum, event) => sum + Number(event.args.count ?? 0), 0)

  // 1. the nodes commit what they served (time trigger 3 s on the devnet)
  log?.(`Settlement: waiting for the nodes to commit ${parameters.expectedReceipts} receipts`)
  const commits =
    (await eventually(parameters.timeoutMs, async () => {
      const events = await committed()
      return countOf(events) >= parameters.expectedReceipts ? events : undefined
    })) ?? (await committed())
  if (countOf(commits) < parameters.expectedReceipts)
    log?.(
      `  only ${countOf(commits)} of ${parameters.expectedReceipts} receipts were committed within ${parameters.timeoutMs} ms`,
    )

  // 2. anvil's clock passes the challenge window; the nodes finalize their batches (and again if a
  //    batch was committed late)
  let batches = commits
  for (let round = 0; round < 3; round++) {
    const latest = await rpc.getBlock({ blockTag: 'latest' })
    const due = batches.reduce(
      (max, event) => (event.args.challengeDeadline! > max ? event.args.challengeDeadline! : max),
      0n,
    )
    if (due >= latest.timestamp) {
      const target = due + 1n
      log?.(`Settlement: moving anvil's clock ${target - latest.timestamp} s forward`)
      await testClient.setNextBlockTimestamp({ timestamp: target })
      await testClient.mine({ blocks: 1 })
      await testClient.request({ method: 'evm_setTime', params: [Number(target)] } as never)
    }
    const wanted = batches.map((event) => event.args.batchId!)
    log?.(`Settlement: waiting for ${wanted.length} batches to be finalized`)
    await eventually(parameters.timeoutMs, async () => {
      const done = await finalizedIds()
      return wanted.every((id) => done.has(id)) ? true : undefined
    })
    batches = await committed()
    const done = await finalizedIds()
    if (batches.every((event) => done.has(event.args.batchId!))) break
  }

  // 3. each node withdraws its earnings after it finalized; wait until each one did once since
  const finalizedEvents = await rpc.getContractEvents({
    address,
    abi: settlementAbi,
    eventName: 'BatchFinalized',
    fromBlock: startBlock + 1n,
  })
  const lastFinalizeBlock = finalizedEvents.reduce(
    (max, event) => (event.blockNumber > max ? event.blockNumber : max),
    startBlock,
  )
  const executors = [...new Set(batches.map((event) => event.args.executor!))]
  log?.('Settlement: waiting for the nodes to withdraw their earnings')
  await eventually(Math.min(parameters.timeoutMs, 20_000), async () => {
    const withdrawals = await rpc.getContractEvents({
      address,
      abi: settlementAbi,
      eventName: 'EarningsWithdrawn',
      fromBlock: lastFinalizeBlock,
    })
    return executors.every((executor) =>
      withdrawals.some((event) => isAddressEqual(event.args.party!, executor)),
    )
      ? true
      : undefined
  })
  const seconds = (performance.now() - started) / 1000
  let unwithdrawnWei = 0n
  for (const node of nodes)
    unwithdrawnWei += await rpc.readContract({
      address,
      abi: settlementAbi,
      functionName: 'earnings',
      args: [node],
    })

  // 4. every transaction a node sent to Settlement since the load began, from the blocks
  const endBlock = await rpc.getBlockNumber({ cacheTime: 0 })
  const hashes: { hash: Hash; input: `0x${string}` }[] = []
  const numbers: bigint[] = []
  for (let n = startBlock + 1n; n <= endBlock; n++) numbers.push(n)
  for (let i = 0; i < numbers.length; i += 32) {
    const blocks = await Promise.all(
      numbers
        .slice(i, i + 32)
        .map((blockNumber) => rpc.getBlock({ blockNumber, includeTransactions: true })),
    )
    for (const block of blocks)
      for (const tx of block.transactions)
        if (tx.to && isAddressEqual(tx.to, address) && isNode(tx.from))
          hashes.push({ hash: tx.hash, input: tx.input })
  }
  const byFunction = new Map<string, SettlementTxStats>()
  let reverted = 0
  let totalGas = 0n
  let totalFeeWei = 0n
  for (let i = 0; i < hashes.length; i += 32) {
    const receipts = await Promise.all(
      hashes.slice(i, i + 32).map(({ hash }) => rpc.getTransactionReceipt({ hash })),
    )
    for (const [j, receipt] of receipts.entries()) {
      let name = 'unknown'
      try {
        name = decodeFunctionData({ abi: settlementAbi, data: hashes[i + j]!.input }).functionName
      } catch {}
      const fee = receipt.gasUsed * receipt.effectiveGasPrice
      const entry = byFunction.get(name) ?? { function: name, count: 0, gasUsed: 0n, feeWei: 0n }
      entry.count++
      entry.gasUsed += receipt.gasUsed
      entry.feeWei += fee
      byFunction.set(name, entry)
      if (receipt.status !== 'success') reverted++
      totalGas += receipt.gasUsed
      totalFeeWei += fee
    }
  }
  const finalized = await finalizedIds()
  const paid = batches.filter((event) => finalized.has(event.args.batchId!))
  const order = ['commitBatch', 'finalize', 'withdrawEarnings']
  return {
    committedReceipts: countOf(batches),
    paidReceipts: countOf(paid),
    committedBatches: batches.length,
    finalizedBatches: paid.length,
    transactions: [...byFunction.values()].sort(
      (a, b) =>
        (order.indexOf(a.function) + 1 || 99) - (order.indexOf(b.function) + 1 || 99) ||
        a.function.localeCompare(b.function),
    ),
    reverted,
    totalGas,
    totalFeeWei,
    gasPriceWei: totalGas === 0n ? 0n : totalFeeWei / totalGas,
    unwithdrawnWei,
    pricePerCallWei: parameters.pricePerCallWei,
    seconds,
    blocksScanned: numbers.length,
  }
}

/**
 * The bench's report as lines: the machine, the verified-vs-bare table, failures by code, and the
 * settlement gas.
 *
 * @example
 * ```ts
 * for (const line of formatNetworkBench(result)) console.log(line)
 * ```
 */
export function formatNetworkBench(result: NetworkBenchResult): string[] {
  const lines: string[] = []
  const fmt = (value: number, digits: number) =>
    Number.isFinite(value) ? value.toFixed(digits) : '-'
  const gwei = (wei: bigint) => (Number(wei) / 1e9).toFixed(3)
  lines.push(
    `Network (real devnet: anvil + contracts + ${result.nodes} node processes on this machine; ${result.cpus} CPUs, ${result.cpuModel}; load average ${result.loadAverage.map((v) => v.toFixed(2)).join(' ')})`,
  )
  lines.push(
    `model ${result.model.name}, one 28x28 uint8 digit; requests signed by the devnet requester key, ${
      result.target === 'gateway'
        ? 'all sent to node 1 (one gateway)'
        : `spread over the ${result.nodes} nodes (round robin)`
    }; closed loop (N workers back to back)`,
  )
  lines.push(
    `verified = SDK infer: GET /v1/models/:cid + POST /v1/infer + offline receipt verification; client in this process; devnet up in ${(result.devnetStartupMs / 1000).toFixed(1)} s, ${result.warmupRequests} warm-up requests`,
  )
  const header = [
    'mode',
    'conc',
    'ok',
    'fail',
    'p50 ms',
    'p99 ms',
    'req/s',
    'p50/bare',
    '(req/s)/bare',
  ]
  const widths = [14, 6, 7, 6, 10, 10, 9, 11, 14]
  const row = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('')
  lines.push(row(header))
  const { bare } = result
  lines.push(
    row([
      'bare ort',
      '1',
      String(bare.ok),
      '0',
      fmt(bare.p50Ms, 3),
      fmt(bare.p99Ms, 3),
      fmt(bare.throughputPerSecond, 0),
      '1x',
      '1x',
    ]),
  )
  for (const cell of result.cells) {
    const { stats: s } = cell
    lines.push(
      row([
        `${cell.mode}${cell.quorum === undefined ? '' : ` q${cell.quorum}`}`,
        String(cell.concurrency),
        String(s.ok),
        String(s.failed),
        fmt(s.p50Ms, 1),
        fmt(s.p99Ms, 1),
        fmt(s.throughputPerSecond, 1),
        `${fmt(s.p50Ms / bare.p50Ms, 0)}x`,
        `${fmt(s.throughputPerSecond / bare.throughputPerSecond, 5)}x`,
      ]),
    )
  }
  lines.push(
    '(bare ort = onnxruntime-node InferenceSession on the main thread, the engine’s pinned settings, same model and input, concurrency 1)',
  )
  const failures = result.cells.filter((cell) => cell.stats.failed > 0)
  if (failures.length === 0) lines.push('failures: none')
  for (const cell of failures)
    for (const [key, count] of Object.entries(cell.errors))
      lines.push(
        `failures ${cell.mode}${cell.quorum === undefined ? '' : ` q${cell.quorum}`} c${cell.concurrency}: ${count}x ${key} — ${cell.errorMessages[key]}`,
      )
  for (const exit of result.nodeExits) lines.push(`WARNING: ${exit}`)

  const s = result.settlement
  lines.push('')
  lines.push(
    `Settlement gas (from the chain: every transaction the nodes sent to Settlement, ${s.blocksScanned} blocks scanned; challenge window passed by moving anvil's clock)`,
  )
  const perBatch = s.committedBatches === 0 ? 0 : s.committedReceipts / s.committedBatches
  lines.push(
    `paid receipts ${s.paidReceipts} (finalized batches ${s.finalizedBatches}/${s.committedBatches}, committed receipts ${s.committedReceipts}); average batch ${perBatch.toFixed(1)} receipts; settled in ${s.seconds.toFixed(1)} s after the load`,
  )
  const txRow = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(18) : cell.padStart(14))).join('')
  lines.push(txRow(['transaction', 'count', 'gas total', 'gas / tx', 'gas / batch', 'gas / paid']))
  const per = (gas: bigint, n: number) => (n === 0 ? '-' : (Number(gas) / n).toFixed(0))
  for (const tx of s.transactions)
    lines.push(
      txRow([
        tx.function,
        String(tx.count),
        tx.gasUsed.toString(),
        per(tx.gasUsed, tx.count),
        per(tx.gasUsed, s.finalizedBatches),
        per(tx.gasUsed, s.paidReceipts),
      ]),
    )
  lines.push(
    txRow([
      'total',
      String(s.transactions.reduce((sum, tx) => sum + tx.count, 0)),
      s.totalGas.toString(),
      '',
      per(s.totalGas, s.finalizedBatches),
      per(s.totalGas, s.paidReceipts),
    ]),
  )
  const feePerInference = s.paidReceipts === 0 ? 0n : s.totalFeeWei / BigInt(s.paidReceipts)
  lines.push(
    `fee per paid inference: ${feePerInference} wei (gas x anvil's effective gas price ${gwei(s.gasPriceWei)} gwei) = ${
      s.pricePerCallWei === 0n
        ? '-'
        : ((Number(feePerInference) / Number(s.pricePerCallWei)) * 100).toFixed(4)
    } % of the ${Number(s.pricePerCallWei) / 1e18} ETH price per call`,
  )
  if (s.reverted > 0) lines.push(`WARNING: ${s.reverted} settlement transactions reverted`)
  if (s.unwithdrawnWei > 0n)
    lines.push(
      `(${s.unwithdrawnWei} wei of node earnings not withdrawn yet: credited after a node's own withdrawal, taken on its next periodic check)`,
    )
  lines.push(
    `(devnet node flags: ${devnetNodeFlags.join(' ')}; default batch size ${defaultNodeOptions.settlement.maxBatchSize} receipts)`,
  )
  return lines
}

if (import.meta.main) {
  const result = await benchNetwork({
    ...networkBenchOptionsFromEnv(process.env),
    log: (line) => console.error(line),
  })
  for (const line of formatNetworkBench(result)) console.log(line)
}
