// Benchmark of verified inference on a real devnet (anvil, the contracts, 4 node processes), next
// to a bare onnxruntime-node session on the same model and input, measured in the same run; then
// the settlement gas the nodes actually paid per inference. Not a test: it prints numbers.
// Run it directly: node bench/networkBench.ts   (knobs: see networkBenchOptionsFromEnv)
import { AsyncLocalStorage } from 'node:async_hooks'
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createChainClients,
  type Devnet,
  devnetNodeFlags,
  devnetPaths,
  ensureEscrow,
  type Progress,
  resolveDevnetOptions,
  startDevnet,
} from '@verity/cli'
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
  type Tensor,
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

/**
 * One verification setting measured: a mode and its quorum (`undefined` for `none`).
 *
 * @example
 * ```ts
 * const setting: NetworkBenchMode = { mode: 'reexec', quorum: 2 }
 * ```
 */
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

/**
 * Latency percentiles (successful requests only) and throughput of one closed-loop run.
 *
 * @example
 * ```ts
 * const { p50Ms, throughputPerSecond }: LatencyStats = result.cells[0]!.stats
 * ```
 */
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

/**
 * One (mode, concurrency) cell: its numbers and its failures by `CODE (HTTP status)`.
 *
 * @example
 * ```ts
 * const failed: NetworkBenchCell[] = result.cells.filter((cell) => cell.stats.failed > 0)
 * ```
 */
export type NetworkBenchCell = NetworkBenchMode & {
  concurrency: number
  stats: LatencyStats
  errors: Record<string, number>
  /** The first message seen for each error key. */
  errorMessages: Record<string, string>
  /** CPU time per successful request, by process group (Linux `/proc`; absent elsewhere). */
  cpuMsPerRequest?: CpuTimes | undefined
}

/**
 * CPU time (user + system) in ms of the processes of a run: this process (the client: signing and
 * receipt verification), the node daemons, their engine worker processes and anvil.
 *
 * @example
 * ```ts
 * const cpu: CpuTimes = { client: 14, nodes: 33, engineWorkers: 1.4, anvil: 1.1 }
 * ```
 */
export type CpuTimes = { client: number; nodes: number; engineWorkers: number; anvil: number }

/**
 * Gas and count of one kind of settlement transaction the nodes sent.
 *
 * @example
 * ```ts
 * const commits = result.settlement.transactions.find((tx: SettlementTxStats) => tx.function === 'commitBatch')
 * ```
 */
export type SettlementTxStats = { function: string; count: number; gasUsed: bigint; feeWei: bigint }

/**
 * What settlement cost on-chain, from the chain's own receipts and events.
 *
 * @example
 * ```ts
 * const { totalGas, paidReceipts }: NetworkBenchSettlement = result.settlement
 * const gasPerInference = Number(totalGas) / paidReceipts
 * ```
 */
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

/**
 * Everything {@link benchNetwork} measured.
 *
 * @example
 * ```ts
 * const { bare, cells, settlement }: NetworkBenchResult = await benchNetwork()
 * ```
 */
export type NetworkBenchResult = {
  cpus: number
  cpuModel: string
  /** 1-minute load average before the devnet started (other tenants) and after the load. */
  loadAverage: { before: number; after: number }
  nodes: number
  target: NetworkBenchOptions['target']
  model: { name: string; cid: string }
  devnetStartupMs: number
  warmupRequests: number
  /** Each node's first request (`none`), in ms: nodes 2… fetch the model over IPFS in it. */
  firstRequestMs: number[]
  /** Bare `InferenceSession`, same pinned settings and input, concurrency 1. */
  bare: LatencyStats
  /** The bare session's outputs are byte for byte those of the verified receipts. */
  outputsMatch: boolean
  cells: NetworkBenchCell[]
  settlement: NetworkBenchSettlement
  /** Nodes that exited while the bench ran (should be empty). */
  nodeExits: string[]
  /** Warnings and errors the nodes logged while the bench ran, by level and message. */
  nodeLogIssues: { level: 'warn' | 'error' | 'fatal'; message: string; count: number }[]
}

/**
 * Bench options from the environment: `BENCH_NETWORK_SECONDS` (per cell, default 8),
 * `BENCH_NETWORK_REQUESTS` (max per cell, default 2000), `BENCH_NETWORK_CONCURRENCY` (comma list,
 * default `1,16,64`), `BENCH_NETWORK_MODES` (comma list of `mode[:quorum]`, default
 * `none,reexec:1,reexec:2`), `BENCH_NETWORK_TARGET` (`round-robin` | `gateway`),
 * `BENCH_NETWORK_BARE` (bare runs, default 2000).
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
  const modes = env.BENCH_NETWORK_MODES
  if (modes) {
    const list = modes.split(',').map((item) => {
      const [mode, quorum] = item.trim().split(':')
      return { mode: mode as Mode, quorum: quorum === undefined ? undefined : Number(quorum) }
    })
    if (list.every(({ mode, quorum }) => mode && (quorum === undefined || quorum > 0)))
      options.modes = list
    else console.error(`BENCH_NETWORK_MODES=${modes}: expected e.g. none,reexec:1,reexec:2.`)
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

/**
 * Polls `check` every 250 ms until it returns a value or `timeoutMs` passes (then `undefined`);
 * throws the signal's reason once it is aborted.
 */
async function eventually<T>(
  timeoutMs: number,
  signal: AbortSignal,
  check: () => Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    signal.throwIfAborted()
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

/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ: 100 on Linux). */
const ticksPerSecond = 100

/** CPU times now, from `/proc`; `undefined` where there is no `/proc`. */
async function readCpuTimes(dataDir: string, nodePids: number[]): Promise<CpuTimes | undefined> {
  const usage = process.cpuUsage()
  const times: CpuTimes = {
    client: (usage.user + usage.system) / 1000,
    nodes: 0,
    engineWorkers: 0,
    anvil: 0,
  }
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return undefined
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    const [stat, cmdline] = await Promise.all([
      readFile(`/proc/${entry}/stat`, 'utf8').catch(() => ''),
      readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => ''),
    ])
    // fields after "pid (comm) ": state ppid … utime (14th field) stime (15th)
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ')
    const ms = ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1000
    if (!Number.isFinite(ms)) continue
    if (nodePids.includes(pid)) times.nodes += ms
    else if (nodePids.includes(Number(fields[1])) && cmdline.includes('onnxWorker'))
      times.engineWorkers += ms
    else if (cmdline.includes(dataDir) && cmdline.includes('anvil')) times.anvil += ms
  }
  return times
}

type Load = {
  clients: Client[]
  target: NetworkBenchOptions['target']
  model: string
  inputs: NamedTensors
  /** Reads the CPU times of the devnet's processes (and this one). */
  cpu: () => Promise<CpuTimes | undefined>
  /** Stops the workers (they finish the request in flight). */
  signal: AbortSignal
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
  const cpuBefore = await load.cpu()
  const started = performance.now()
  const deadline = started + limits.seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < limits.maxRequests && performance.now() < deadline && !load.signal.aborted) {
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
              signal: load.signal,
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
  const seconds = (performance.now() - started) / 1000
  const cpuAfter = await load.cpu()
  const perRequest = (key: keyof CpuTimes) =>
    (cpuAfter![key] - cpuBefore![key]) / Math.max(1, latencies.length)
  return {
    stats: stats(latencies, failed, seconds),
    errors,
    errorMessages,
    cpuMsPerRequest:
      cpuBefore && cpuAfter
        ? {
            client: perRequest('client'),
            nodes: perRequest('nodes'),
            engineWorkers: perRequest('engineWorkers'),
            anvil: perRequest('anvil'),
          }
        : undefined,
  }
}

/**
 * Bare onnxruntime-node on the main thread: the engine's pinned session options, no validation;
 * and whether its outputs are byte for byte the verified ones.
 */
async function benchBare(
  modelBytes: Uint8Array,
  inputs: NamedTensors,
  iterations: number,
  expected: Record<string, Tensor>,
): Promise<{ stats: LatencyStats; outputsMatch: boolean }> {
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
    const measured = stats(latencies, 0, (performance.now() - started) / 1000)
    const outputs = await run()
    const bytes = (data: unknown) => {
      const view = data as ArrayBufferView
      return Buffer.from(view.buffer, view.byteOffset, view.byteLength)
    }
    const outputsMatch = Object.entries(expected).every(([name, tensor]) => {
      const value = outputs[name]
      return (
        value !== undefined &&
        value.dims.join() === tensor.shape.join() &&
        bytes(value.data).equals(bytes(tensor.data))
      )
    })
    return { stats: measured, outputsMatch }
  } finally {
    await session.release()
  }
}

function progressToLog(log: ((line: string) => void) | undefined): Progress {
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
  const loadBefore = loadavg()[0]!
  // Ctrl+C / SIGTERM: stop the load, then the devnet, and remove its folder (the finally below)
  const controller = new AbortController()
  const { signal } = controller
  const onSignal = (name: NodeJS.Signals) => {
    log?.(`${name}: stopping the bench and the devnet`)
    controller.abort(
      new BaseError('ABORTED', `The network bench was stopped (${name}).`, {
        metaMessages: ['Nothing is left running; the devnet folder is removed.'],
      }),
    )
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const dataDir = await mkdtemp(join(tmpdir(), 'verity-bench-devnet-'))
  let devnet: Devnet | undefined
  const nodeExits: string[] = []
  try {
    const paths = devnetPaths(dataDir)
    if (options.demoModelsDir)
      await cp(options.demoModelsDir, paths.demoModels, { recursive: true })
    log?.(`Starting a devnet in ${dataDir}`)
    devnet = await startDevnet(resolveDevnetOptions({ dataDir, portBase: 0 }), {
      progress: progressToLog(log),
      signal,
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
    const nodePids = devnet.nodes.flatMap((node) => (node.pid === undefined ? [] : [node.pid]))
    const load: Load = {
      clients,
      target: options.target,
      model: model.cid,
      inputs,
      cpu: () => readCpuTimes(dataDir, nodePids),
      signal,
    }
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
    const firstRequestMs: number[] = []
    let verifiedOutputs: Record<string, Tensor> = {}
    for (const client of clients) {
      const begun = performance.now()
      const first = await infer(client, { model: model.cid, inputs, mode: 'none', signal })
      verifiedOutputs = first.outputs
      firstRequestMs.push(performance.now() - begun)
      warmupRequests++
      warmupOk++
    }
    for (const setting of options.modes) {
      const warm = await closedLoop(load, setting, 8, { seconds: 3, maxRequests: 48 })
      warmupRequests += warm.stats.ok + warm.stats.failed
      warmupOk += warm.stats.ok
    }
    signal.throwIfAborted()

    log?.(`Bare onnxruntime-node baseline (${options.bareIterations} runs)`)
    const { stats: bare, outputsMatch } = await benchBare(
      modelBytes,
      inputs,
      options.bareIterations,
      verifiedOutputs,
    )

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
        signal.throwIfAborted()
        loadOk += cell.stats.ok
        cells.push({ ...setting, concurrency, ...cell })
        log?.(
          `  ${cell.stats.ok} ok, ${cell.stats.failed} failed, p50 ${cell.stats.p50Ms.toFixed(1)} ms, ${cell.stats.throughputPerSecond.toFixed(1)}/s`,
        )
      }
    const loadAfter = loadavg()[0]!

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
      signal,
    })
    const nodeLogIssues = await readLogIssues(summary.nodes.map((node) => node.logFile))
    return {
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      loadAverage: { before: loadBefore, after: loadAfter },
      nodes: summary.nodes.length,
      target: options.target,
      model: { name: model.name, cid: model.cid },
      devnetStartupMs: summary.startupMs,
      warmupRequests,
      firstRequestMs,
      bare,
      outputsMatch,
      cells,
      settlement,
      nodeExits,
      nodeLogIssues,
    }
  } finally {
    log?.('Stopping the devnet')
    await devnet?.stop()
    await rm(dataDir, { recursive: true, force: true })
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** Counts the `warn` and worse lines of the nodes' JSON logs, by level and message. */
async function readLogIssues(files: string[]): Promise<NetworkBenchResult['nodeLogIssues']> {
  const counts = new Map<string, NetworkBenchResult['nodeLogIssues'][number]>()
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '')
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue
      let entry: { level?: number; msg?: string; code?: string; err?: string; step?: string }
      try {
        entry = JSON.parse(line)
      } catch {
        continue
      }
      if ((entry.level ?? 0) < 40) continue
      const level = entry.level! >= 60 ? 'fatal' : entry.level! >= 50 ? 'error' : 'warn'
      const message = [entry.msg, entry.step, entry.code, entry.err].filter(Boolean).join(' — ')
      const key = `${level} ${message}`
      const found = counts.get(key) ?? { level, message, count: 0 }
      found.count++
      counts.set(key, found)
    }
  }
  return [...counts.values()].sort((a, b) => b.count - a.count)
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
  signal: AbortSignal
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
    (await eventually(parameters.timeoutMs, parameters.signal, async () => {
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
    await eventually(parameters.timeoutMs, parameters.signal, async () => {
      const done = await finalizedIds()
      return wanted.every((id) => done.has(id)) ? true : undefined
    })
    batches = await committed()
    const done = await finalizedIds()
    if (batches.every((event) => done.has(event.args.batchId!))) break
  }

  // 3. each node withdraws its earnings in the pass where it finalized its own batches: wait for a
  //    withdrawal by each executor at or after the block of its last finalize
  const finalizedEvents = await rpc.getContractEvents({
    address,
    abi: settlementAbi,
    eventName: 'BatchFinalized',
    fromBlock: startBlock + 1n,
  })
  const executorOf = new Map(batches.map((event) => [event.args.batchId!, event.args.executor!]))
  const lastFinalize = new Map<string, bigint>()
  for (const event of finalizedEvents) {
    const executor = executorOf.get(event.args.batchId!)
    if (executor === undefined) continue
    const key = executor.toLowerCase()
    if (event.blockNumber > (lastFinalize.get(key) ?? 0n)) lastFinalize.set(key, event.blockNumber)
  }
  log?.('Settlement: waiting for the nodes to withdraw their earnings')
  await eventually(Math.min(parameters.timeoutMs, 20_000), parameters.signal, async () => {
    const withdrawals = await rpc.getContractEvents({
      address,
      abi: settlementAbi,
      eventName: 'EarningsWithdrawn',
      fromBlock: startBlock + 1n,
    })
    return [...lastFinalize].every(([executor, block]) =>
      withdrawals.some(
        (event) => event.args.party!.toLowerCase() === executor && event.blockNumber >= block,
      ),
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
    `Network (real devnet: anvil + contracts + ${result.nodes} node processes on this machine; ${result.cpus} CPUs, ${result.cpuModel}; 1-min load average ${result.loadAverage.before.toFixed(1)} before the devnet, ${result.loadAverage.after.toFixed(1)} after the load)`,
  )
  lines.push(
    `model ${result.model.name}, one 28x28 uint8 digit; requests signed by the devnet requester key, ${
      result.target === 'gateway'
        ? 'all sent to node 1 (one gateway)'
        : `spread over the ${result.nodes} nodes (round robin)`
    }; closed loop (N workers back to back)`,
  )
  lines.push(
    `verified = SDK infer: GET /v1/models/:cid + POST /v1/infer + offline receipt verification; client in this process; devnet up in ${(result.devnetStartupMs / 1000).toFixed(1)} s; warm-up ${result.warmupRequests} requests, first request per node ${result.firstRequestMs.map((ms) => ms.toFixed(0)).join('/')} ms (nodes 2-${result.nodes} fetch the model over IPFS)`,
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
    `(bare ort = onnxruntime-node InferenceSession on the main thread, the engine’s pinned settings, same model and input, concurrency 1; same output bytes as the receipts: ${result.outputsMatch ? 'yes' : 'NO'})`,
  )
  if (result.cells.some((cell) => cell.cpuMsPerRequest)) {
    lines.push('')
    lines.push(
      `CPU time per verified request (ms, user+system from /proc; client = this process: signing and receipt verification; ceiling = ${result.cpus} CPUs / total)`,
    )
    const cpuWidths = [14, 6, 9, 9, 9, 9, 9, 12]
    const cpuRow = (cells: string[]) =>
      cells
        .map((cell, i) => (i === 0 ? cell.padEnd(cpuWidths[i]!) : cell.padStart(cpuWidths[i]!)))
        .join('')
    lines.push(
      cpuRow(['mode', 'conc', 'client', 'nodes', 'workers', 'anvil', 'total', 'ceiling/s']),
    )
    for (const cell of result.cells) {
      const cpu = cell.cpuMsPerRequest
      if (!cpu) continue
      const total = cpu.client + cpu.nodes + cpu.engineWorkers + cpu.anvil
      lines.push(
        cpuRow([
          `${cell.mode}${cell.quorum === undefined ? '' : ` q${cell.quorum}`}`,
          String(cell.concurrency),
          fmt(cpu.client, 1),
          fmt(cpu.nodes, 1),
          fmt(cpu.engineWorkers, 2),
          fmt(cpu.anvil, 2),
          fmt(total, 1),
          fmt((result.cpus * 1000) / total, 0),
        ]),
      )
    }
  }
  const failures = result.cells.filter((cell) => cell.stats.failed > 0)
  if (failures.length === 0) lines.push('failures: none')
  for (const cell of failures)
    for (const [key, count] of Object.entries(cell.errors))
      lines.push(
        `failures ${cell.mode}${cell.quorum === undefined ? '' : ` q${cell.quorum}`} c${cell.concurrency}: ${count}x ${key} — ${cell.errorMessages[key]}`,
      )
  for (const exit of result.nodeExits) lines.push(`WARNING: ${exit}`)
  if (result.nodeLogIssues.length === 0) lines.push('node logs: no warnings or errors')
  for (const issue of result.nodeLogIssues.slice(0, 8))
    lines.push(`node logs: ${issue.count}x ${issue.level} ${issue.message}`)

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
