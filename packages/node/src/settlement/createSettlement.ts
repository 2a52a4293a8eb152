import { modelRegistryAbi, settlementAbi } from '@verity/contracts'
import {
  BaseError,
  buildReceiptTree,
  canonicalJson,
  computeJobId,
  type Hash,
  hashReceiptLeaf,
  type InferenceRequestMessage,
  type Receipt,
  type ReceiptLeaf,
  type ReceiptSettlement,
  receiptLeafFromReceipt,
  toBaseError,
} from '@verity/protocol'
import type { Registry } from 'prom-client'
import {
  getAbiItem,
  getAddress,
  isAddressEqual,
  keccak256,
  parseEventLogs,
  stringToBytes,
  type TransactionReceipt,
  zeroAddress,
} from 'viem'
import { type NodeChain, revertName } from '../chain/createNodeChain.ts'
import type { JobStore } from '../db/createJobStore.ts'
import type { NodeLogger } from '../logger.ts'
import { requestFromJson } from '../requestJson.ts'
import {
  type BatchCall,
  leafToJson,
  type SettlementBatch,
  type SettlementBatchStatus,
  type SettlementItem,
  type SettlementItemStatus,
  type SettlementStore,
} from './createSettlementStore.ts'
import { createSettlementMetrics } from './settlementMetrics.ts'
import { resolveSettlementOptions, type SettlementOptionsInput } from './settlementOptions.ts'

/**
 * What the executor asks before it accepts a job: the signed request, its signer and the model.
 *
 * @example
 * ```ts
 * const parameters: QuoteParameters = { request, requester, model: { cid, manifestHash } }
 * ```
 */
export type QuoteParameters = {
  request: InferenceRequestMessage
  /** The signer; the zero address for an unsigned request (never settled). */
  requester: `0x${string}`
  model: { cid: string }
}

/**
 * The price of a job the node will settle: `fee` wei charged to `payer` for model `modelId`.
 *
 * @example
 * ```ts
 * const quote: SettlementQuote | undefined = await settlement.quote({ request, requester, model })
 * ```
 */
export type SettlementQuote = {
  jobId: Hash
  payer: `0x${string}`
  modelId: bigint
  fee: bigint
}

/**
 * What one pass of the batcher and finalizer did (batch ids are the on-chain ids).
 *
 * @example
 * ```ts
 * const { committed, finalized, withdrawnWei }: SettlementTickReport = await settlement.tick()
 * ```
 */
export type SettlementTickReport = {
  committed: bigint[]
  /** Receipts given up in this pass (escrow short or deadline passed). */
  unpaid: number
  finalized: bigint[]
  challenged: bigint[]
  disputesAnswered: number
  withdrawnWei: bigint
  /** Steps that failed (each is retried on the next pass). */
  errors: { step: string; code: string; message: string }[]
}

/**
 * One batch as {@link Settlement.status} lists it (wei as decimal strings).
 *
 * @example
 * ```ts
 * const [latest]: SettlementBatchSummary[] = settlement.status().recentBatches
 * ```
 */
export type SettlementBatchSummary = {
  batchId?: string | undefined
  root: Hash
  count: number
  totalWei: string
  status: SettlementBatchStatus
  transactionHash?: Hash | undefined
  blockNumber?: number | undefined
  /** Block timestamp of the commit (Unix seconds). */
  committedAt?: number | undefined
  /** When `finalize` becomes possible (Unix seconds, chain time). */
  challengeDeadline?: number | undefined
}

/**
 * The settlement's state for an HTTP or CLI view (JSON-safe).
 *
 * @example
 * ```ts
 * const { receipts, batches }: SettlementStatus = settlement.status()
 * ```
 */
export type SettlementStatus = {
  executor: `0x${string}`
  contract: `0x${string}`
  chainId: number
  running: boolean
  receipts: Record<SettlementItemStatus, number>
  /** Fees of receipts not yet in a committed batch (quoted, pending, committing). */
  unsettledFeesWei: string
  batches: Record<SettlementBatchStatus, number>
  /** The latest batches, newest first. */
  recentBatches: SettlementBatchSummary[]
  /** Withdrawn by this process since it started. */
  earningsWithdrawnWei: string
  /** Unix milliseconds of the last finished pass. */
  lastPassAt?: number | undefined
  lastError?: { step: string; code: string; message: string; at: number } | undefined
}

/**
 * A committed batch with everything a challenger needs to check it (`GET /v1/batches/:id`):
 * every leaf with its Merkle proof and every receipt with its `settlement` section.
 *
 * @example
 * ```ts
 * const view: SettlementBatchView | undefined = settlement.batch(3n)
 * ```
 */
export type SettlementBatchView = {
  batchId: string
  chainId: number
  contract: `0x${string}`
  executor: `0x${string}`
  root: Hash
  count: number
  totalWei: string
  status: SettlementBatchStatus
  transactionHash?: Hash | undefined
  blockNumber?: number | undefined
  committedAt?: number | undefined
  challengeDeadline?: number | undefined
  /** Leaves in leaf-index order (`proof` proves each under `root`). */
  leaves: {
    index: number
    jobId: Hash
    leaf: Omit<ReceiptLeaf, 'fee'> & { fee: string }
    leafHash: Hash
    proof: Hash[]
  }[]
  /** The stored receipts of the batch, each with its `settlement` section. */
  receipts: Receipt[]
}

/**
 * What {@link createSettlement} needs from the node.
 *
 * @example
 * ```ts
 * const components: SettlementComponents = { chain, store, jobs, logger, registry: metrics.registry }
 * ```
 */
export type SettlementComponents = {
  /** The chain connection signed by the node key (the executor of every batch). */
  chain: NodeChain
  store: SettlementStore
  /** Where receipts are read from and get their `settlement` section. */
  jobs: Pick<JobStore, 'get' | 'getReceipt' | 'replaceReceipt'>
  logger: NodeLogger
  /** Where the `verity_settlement_*` metrics are registered (none when absent). */
  registry?: Registry | undefined
  /** Clock in Unix milliseconds (batch delays, quote expiry); chain time comes from blocks. */
  now?: (() => number) | undefined
}

/**
 * The node's settlement service: prices jobs before they run, queues their receipts durably,
 * commits them in Merkle batches to the Settlement contract, attaches each receipt's settlement
 * section, answers request disputes, finalizes batches after the challenge window and withdraws
 * the node's earnings.
 *
 * @example
 * ```ts
 * const settlement: Settlement = createSettlement(options, components)
 * settlement.start()
 * ```
 */
export type Settlement = {
  /**
   * Prices a job before it is accepted: `undefined` when it is not settled (unsigned request, a
   * model unknown to the ModelRegistry or free there); refuses `FEE_TOO_LOW` when the price is
   * above the request's `maxFee` and `ESCROW_INSUFFICIENT` when the payer's free escrow, minus
   * this node's fees not yet committed for it, cannot cover it. A given quote is stored with the
   * job id, so the job is settled even if the node crashes before its receipt is recorded.
   */
  quote(parameters: QuoteParameters): Promise<SettlementQuote | undefined>
  /**
   * Queues a stored receipt for the next batch (durable when it returns). Without `quote`, the
   * quote stored for the job is used (a job recovered after a restart); a job never quoted is not
   * settled. Never throws: a failure is logged and the receipt is picked up again on the next pass.
   */
  record(receipt: Receipt, quote?: Pick<SettlementQuote, 'fee' | 'modelId'> | undefined): void
  /** Starts the timer; the first pass recovers what a previous run left (a `committing` batch). */
  start(): void
  /** Clears the timer and waits for the pass in flight (and its transaction). Idempotent. */
  stop(): Promise<void>
  /**
   * Runs one full pass now (after the one in flight): reconcile, commit when due (or whatever is
   * pending with `flush`), answer disputes, finalize, withdraw earnings.
   */
  tick(options?: { flush?: boolean | undefined }): Promise<SettlementTickReport>
  status(): SettlementStatus
  /**
   * The model's on-chain price per call in wei (decimal string), or `undefined` when the model is
   * not registered or the chain cannot be read (cached like quotes).
   */
  priceOf(cid: string): Promise<string | undefined>
  /** A committed batch by on-chain id, with leaves, proofs and receipts; undefined when unknown. */
  batch(batchId: bigint | number | string): SettlementBatchView | undefined
}

/** `Settlement.MAX_PARTIES`: cap of each of the payer, model and verifier lists of a batch. */
const maxParties = 256
/** An item whose deadline is this close (chain seconds) is not committed any more. */
const inclusionSlackSeconds = 15n
/** `Settlement.BatchStatus` */
const batchStatus = { pending: 1, reverted: 2, finalized: 3 } as const

type ModelInfo = { modelId: bigint; pricePerCall: bigint } | null
type Head = { number: bigint; timestamp: bigint }
type PassContext = { forced: boolean; flush: boolean; head?: Promise<Head>; finalized: boolean }
type OpenDispute = { batch: number; batchId: bigint; leafHash: Hash; answerBy: bigint }

const watchedEvents = [
  getAbiItem({ abi: settlementAbi, name: 'BatchReverted' }),
  getAbiItem({ abi: settlementAbi, name: 'BatchFinalized' }),
  getAbiItem({ abi: settlementAbi, name: 'RequestDisputed' }),
]

function emptyReport(): SettlementTickReport {
  return {
    committed: [],
    unpaid: 0,
    finalized: [],
    challenged: [],
    disputesAnswered: 0,
    withdrawnWei: 0n,
    errors: [],
  }
}

function commitArgs(batch: SettlementBatch) {
  return [
    batch.root,
    batch.count,
    batch.call.payers.map((p) => ({ payer: p.payer, total: BigInt(p.total) })),
    batch.call.models.map((m) => ({ modelId: BigInt(m.modelId), total: BigInt(m.total) })),
    batch.call.verifiers.map((v) => ({ verifier: v.verifier, count: v.count })),
  ] as const
}

/** Payer totals, model totals and verifier shares of a batch, in a stable order. */
function aggregate(items: readonly SettlementItem[]): { call: BatchCall; total: bigint } {
  const payers = new Map<string, bigint>()
  const models = new Map<bigint, bigint>()
  const verifiers = new Map<string, number>()
  let total = 0n
  for (const item of items) {
    payers.set(item.payer, (payers.get(item.payer) ?? 0n) + item.fee)
    models.set(item.modelId, (models.get(item.modelId) ?? 0n) + item.fee)
    for (const verifier of item.verifiers)
      verifiers.set(verifier, (verifiers.get(verifier) ?? 0) + 1)
    total += item.fee
  }
  const byKey = <K extends string | bigint>(a: [K, unknown], b: [K, unknown]) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
  return {
    total,
    call: {
      payers: [...payers]
        .sort(byKey)
        .map(([payer, sum]) => ({ payer: payer as `0x${string}`, total: sum.toString() })),
      models: [...models]
        .sort(byKey)
        .map(([modelId, sum]) => ({ modelId: modelId.toString(), total: sum.toString() })),
      verifiers: [...verifiers]
        .sort(byKey)
        .map(([verifier, count]) => ({ verifier: verifier as `0x${string}`, count })),
    },
  }
}

/**
 * Creates the settlement service (nothing runs until `start()` or `tick()`). Refuses
 * (`INVALID_ARGUMENT`) a domain that is not the chain's Settlement domain.
 *
 * @example
 * ```ts
 * const settlement = createSettlement(
 *   { domain, maxBatchSize: 100, maxBatchDelayMs: 30_000 },
 *   { chain, store: createSettlementStore({ path }), jobs, logger, registry: metrics.registry },
 * )
 * settlement.start()
 * // executor: await settlement.quote(…) before accepting, settlement.record(receipt) after storing
 * await settlement.stop()
 * ```
 */
export function createSettlement(
  input: SettlementOptionsInput,
  components: SettlementComponents,
): Settlement {
  const options = resolveSettlementOptions(input)
  const { chain, store, jobs } = components
  const { publicClient } = chain
  const logger = components.logger.child({ module: 'settlement' })
  const now = components.now ?? Date.now
  const metrics = createSettlementMetrics(components.registry)
  const contract = getAddress(chain.contracts.settlement)
  const modelRegistry = getAddress(chain.contracts.modelRegistry)
  const executor = getAddress(chain.account.address)
  const { domain } = options
  if (
    domain.chainId !== chain.chainId ||
    !isAddressEqual(domain.verifyingContract as `0x${string}`, contract)
  )
    throw new BaseError(
      'INVALID_ARGUMENT',
      `The node signs under chain ${domain.chainId} / ${domain.verifyingContract}, but settles on chain ${chain.chainId} / Settlement ${contract}.`,
      {
        metaMessages: [
          'Use the Settlement contract of the chain as the domain verifyingContract (network.settlement).',
        ],
      },
    )

  const models = new Map<string, { expires: number; value: Promise<ModelInfo> }>()
  const disputes = new Map<string, OpenDispute>()
  let challengeWindow: bigint | undefined
  let cursor: bigint | undefined
  let passes: Promise<unknown> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  let started = false
  let stopping = false
  let stopped: Promise<void> | undefined
  let lastEarningsCheck = Number.NEGATIVE_INFINITY
  let commitBackoffUntil = Number.NEGATIVE_INFINITY
  let withdrawnTotal = 0n
  let lastPassAt: number | undefined
  let lastError: SettlementStatus['lastError']

  async function read<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (error) {
      throw new BaseError(
        'CHAIN_UNAVAILABLE',
        `Cannot read ${what} from the chain at ${chain.rpcUrl}.`,
        {
          metaMessages: ['Is the RPC endpoint up and are the contract addresses right?'],
          details: (error as Error).message?.split('\n')[0],
          cause: error,
        },
      )
    }
  }

  function balanceOf(payer: `0x${string}`): Promise<bigint> {
    return read(`Settlement.balanceOf(${payer})`, () =>
      publicClient.readContract({
        address: contract,
        abi: settlementAbi,
        functionName: 'balanceOf',
        args: [payer],
      }),
    )
  }

  async function window(): Promise<bigint> {
    challengeWindow ??= BigInt(
      await read('Settlement.CHALLENGE_WINDOW', () =>
        publicClient.readContract({
          address: contract,
          abi: settlementAbi,
          functionName: 'CHALLENGE_WINDOW',
        }),
      ),
    )
    return challengeWindow
  }

  function head(context: PassContext): Promise<Head> {
    context.head ??= read('the latest block', async () => {
      const block = await publicClient.getBlock({ blockTag: 'latest' })
      return { number: block.number, timestamp: block.timestamp }
    })
    return context.head
  }

  function lookupModel(cid: string): Promise<ModelInfo> {
    const cached = models.get(cid)
    if (cached && cached.expires > now()) return cached.value
    const value = (async (): Promise<ModelInfo> => {
      const [modelId] = await read(`ModelRegistry.modelByCid(${cid})`, () =>
        publicClient.readContract({
          address: modelRegistry,
          abi: modelRegistryAbi,
          functionName: 'modelByCid',
          args: [keccak256(stringToBytes(cid))],
        }),
      )
      if (modelId === 0n) return null
      const model = await read(`ModelRegistry.getModel(${modelId})`, () =>
        publicClient.readContract({
          address: modelRegistry,
          abi: modelRegistryAbi,
          functionName: 'getModel',
          args: [modelId],
        }),
      )
      return { modelId, pricePerCall: model.pricePerCall }
    })()
    if (models.size >= 1024) models.delete(models.keys().next().value as string)
    models.set(cid, { expires: now() + options.modelCacheMs, value })
    value.catch(() => {
      if (models.get(cid)?.value === value) models.delete(cid)
    })
    return value
  }

  function updatePending(): void {
    metrics.pendingReceipts.set(store.pendingSummary().count)
  }

  // ------------------------------------------------------------------ quote and record

  async function quote(parameters: QuoteParameters): Promise<SettlementQuote | undefined> {
    const { request, requester } = parameters
    const jobId = computeJobId(requester, request)
    const cid = request.modelCid
    if (isAddressEqual(requester, zeroAddress)) {
      logger.info({ jobId, cid }, 'unsigned request: served free, not settled')
      return undefined
    }
    const payer = getAddress(requester)
    const known = store.get(jobId)
    if (known && known.status !== 'quoted')
      return { jobId, payer, modelId: known.modelId, fee: known.fee }
    const model = await lookupModel(cid)
    if (model === null) {
      if (options.unregisteredModels === 'refuse')
        throw new BaseError(
          'MODEL_NOT_REGISTERED',
          `Model ${cid} is not registered in the ModelRegistry, and this node only serves registered models to signed requests.`,
          {
            metaMessages: [
              'Register the model on-chain (verity model publish), or ask another node.',
            ],
          },
        )
      logger.info({ jobId, cid }, 'model not registered on-chain: served free, not settled')
      return undefined
    }
    const fee = model.pricePerCall
    if (fee === 0n) {
      logger.info(
        { jobId, cid, modelId: model.modelId.toString() },
        'model is free on-chain: not settled',
      )
      return undefined
    }
    if (fee > request.maxFee)
      throw new BaseError(
        'FEE_TOO_LOW',
        `Model ${cid} costs ${fee} wei per call; the request allows at most ${request.maxFee} wei (maxFee).`,
        {
          metaMessages: [
            `Sign a new request with maxFee ≥ ${fee} (model ${model.modelId} in the ModelRegistry).`,
          ],
        },
      )
    const balance = await balanceOf(payer)
    // From here to the insert there is no await: concurrent quotes for one payer see each other.
    const owed = store.outstanding(payer, jobId)
    const available = balance > owed ? balance - owed : 0n
    if (available < fee)
      throw new BaseError(
        'ESCROW_INSUFFICIENT',
        `Payer ${payer} has ${available} wei of escrow left for this node; the call costs ${fee} wei.`,
        {
          metaMessages: [
            `Free balance in Settlement ${contract}: ${balance} wei, of which ${owed} wei are owed to this node for receipts not yet committed.`,
            `Deposit more: Settlement.deposit() (or depositFor(${payer})) on chain ${chain.chainId}.`,
          ],
        },
      )
    store.putQuote({
      jobId,
      payer,
      modelId: model.modelId,
      modelCid: cid,
      fee,
      deadline: request.deadline,
    })
    logger.debug({ jobId, payer, fee: fee.toString() }, 'job priced')
    return { jobId, payer, modelId: model.modelId, fee }
  }

  /** Distinct verifiers other than the executor whose attestations agree with the output. */
  function agreeingVerifiers(receipt: Receipt): `0x${string}`[] {
    const verifiers: `0x${string}`[] = []
    for (const attestation of receipt.quorum?.attestations ?? []) {
      if (!attestation.agree || attestation.outputHash !== receipt.result.outputHash) continue
      const verifier = getAddress(attestation.verifier)
      if (isAddressEqual(verifier, executor) || verifiers.includes(verifier)) continue
      verifiers.push(verifier)
    }
    return verifiers
  }

  function record(
    receipt: Receipt,
    given?: Pick<SettlementQuote, 'fee' | 'modelId'> | undefined,
  ): void {
    const jobId = receipt.job.id as Hash
    try {
      const requester = receipt.job.requester as `0x${string}`
      if (isAddressEqual(requester, zeroAddress)) return
      let item = store.get(jobId)
      if (item === undefined && given !== undefined) {
        store.putQuote({
          jobId,
          payer: getAddress(requester),
          modelId: given.modelId,
          modelCid: receipt.job.model.cid,
          fee: given.fee,
          deadline: BigInt(receipt.job.deadline),
        })
        item = store.get(jobId)
      }
      if (item === undefined || item.status !== 'quoted') return
      const signedFor = receipt.domain.verifyingContract
      if (
        !isAddressEqual(receipt.executor.address as `0x${string}`, executor) ||
        receipt.domain.chainId !== chain.chainId ||
        signedFor === undefined ||
        !isAddressEqual(signedFor as `0x${string}`, contract)
      ) {
        logger.error(
          { jobId, signer: receipt.executor.address, domain: receipt.domain },
          'receipt not signed by this node under the Settlement domain: not settled',
        )
        store.deleteQuote(jobId)
        return
      }
      const leaf = receiptLeafFromReceipt(receipt, item.fee)
      store.markRecorded(jobId, {
        leaf,
        leafHash: hashReceiptLeaf(leaf),
        verifiers: agreeingVerifiers(receipt),
      })
      const pending = store.pendingSummary().count
      metrics.pendingReceipts.set(pending)
      logger.debug({ jobId, fee: item.fee.toString(), pending }, 'receipt queued for settlement')
      if (pending >= options.maxBatchSize) schedule(0)
    } catch (error) {
      logger.error(
        { jobId, err: toBaseError(error).shortMessage },
        'cannot queue the receipt for settlement; retried on the next pass',
      )
    }
  }

  /** Quotes whose job finished (record missed by a crash), failed, or never got stored. */
  function reconcileQuotes(): void {
    for (const item of store.list('quoted')) {
      const job = jobs.get(item.jobId)
      if (job === undefined) {
        if (now() - item.quotedAt > options.quoteTtlMs) store.deleteQuote(item.jobId)
      } else if (job.status === 'done') {
        const stored = jobs.getReceipt(item.jobId)
        if (stored) record(JSON.parse(stored.receiptJson) as Receipt)
      } else if (job.status === 'failed' && job.updatedAt >= item.quotedAt) {
        store.deleteQuote(item.jobId)
      }
    }
  }

  // ------------------------------------------------------------------ batches

  function settlementSection(
    batch: SettlementBatch,
    index: number,
    proof: Hash[],
  ): ReceiptSettlement {
    const entry = batch.leaves[index] as { leaf: ReceiptLeaf }
    return {
      fee: entry.leaf.fee.toString(),
      batchId: (batch.batchId as bigint).toString(),
      root: batch.root,
      proof,
      transactionHash: batch.transactionHash as Hash,
      blockNumber: batch.blockNumber as number,
    }
  }

  function tree(batch: SettlementBatch) {
    const built = buildReceiptTree(batch.leaves.map(({ leaf }) => leaf))
    if (built.root !== batch.root)
      throw new BaseError(
        'INTERNAL',
        `Batch ${batch.id}: the stored leaves hash to ${built.root}, not to the committed root ${batch.root}.`,
      )
    return built
  }

  /** Gives every receipt of a committed batch its `settlement` section. */
  function attach(batch: SettlementBatch): void {
    const built = tree(batch)
    batch.leaves.forEach(({ jobId, leaf }, index) => {
      const stored = jobs.getReceipt(jobId)
      if (stored === undefined) {
        logger.error({ jobId, batchId: batch.batchId?.toString() }, 'settled receipt is missing')
        return
      }
      const receipt = JSON.parse(stored.receiptJson) as Receipt
      if (hashReceiptLeaf(receiptLeafFromReceipt(receipt, leaf.fee)) !== hashReceiptLeaf(leaf)) {
        logger.error({ jobId }, 'stored receipt does not match its committed leaf')
        return
      }
      const settlement = settlementSection(batch, index, built.getProof(index) as Hash[])
      const json = canonicalJson({ ...receipt, settlement })
      if (json !== stored.receiptJson) jobs.replaceReceipt(jobId, json)
    })
    store.markReceiptsAttached(batch.id)
  }

  async function committed(
    batch: SettlementBatch,
    commit: {
      batchId: bigint
      challengeDeadline: bigint
      transactionHash: Hash
      blockNumber: bigint
    },
    report: SettlementTickReport,
  ): Promise<void> {
    const committedAt = commit.challengeDeadline - (await window())
    const updated = store.markCommitted(batch.id, {
      batchId: commit.batchId,
      transactionHash: commit.transactionHash,
      blockNumber: Number(commit.blockNumber),
      committedAt: Number(committedAt),
    })
    if (cursor !== undefined && commit.blockNumber <= cursor) cursor = commit.blockNumber - 1n
    metrics.batches.inc({ status: 'committed' })
    metrics.batchReceipts.observe(batch.count)
    report.committed.push(commit.batchId)
    logger.info(
      {
        batchId: commit.batchId.toString(),
        receipts: batch.count,
        totalWei: batch.total.toString(),
        payers: batch.call.payers.length,
        tx: commit.transactionHash,
      },
      'batch committed',
    )
    try {
      attach(updated)
    } catch (error) {
      logger.warn(
        { batchId: commit.batchId.toString(), err: toBaseError(error).shortMessage },
        'settlement sections not attached yet; retried on the next pass',
      )
    }
  }

  /** Sends a `committing` batch. A refused commit (nothing sent) puts its receipts back. */
  async function send(batch: SettlementBatch, report: SettlementTickReport): Promise<void> {
    let receipt: TransactionReceipt
    try {
      receipt = await chain.write(`commitBatch ${batch.id}`, {
        address: contract,
        abi: settlementAbi,
        functionName: 'commitBatch',
        args: commitArgs(batch),
      })
    } catch (error) {
      const reverted = revertName(error)
      if (reverted !== undefined) {
        // the simulation refused it: no transaction exists, the batch can be rebuilt
        store.dissolveBatch(batch.id)
        metrics.batches.inc({ status: 'failed' })
        // a payer short of escrow is handled by the next build; anything else waits a while
        if (reverted !== 'InsufficientBalance')
          commitBackoffUntil = now() + Math.min(options.maxBatchDelayMs, 60_000)
        logger.warn(
          { batch: batch.id, revert: reverted, receipts: batch.count },
          reverted === 'NotActiveExecutor'
            ? 'commit refused: this node is not an active executor in the NodeRegistry (stake and the executor role are needed); receipts stay pending'
            : 'commit refused by the contract; receipts are pending again and the batch is rebuilt',
        )
      } else
        logger.warn(
          { batch: batch.id, err: toBaseError(error).shortMessage },
          'commit outcome unknown: the batch stays committing and is reconciled with the chain on the next pass',
        )
      throw error
    }
    const [event] = parseEventLogs({
      abi: settlementAbi,
      eventName: 'BatchCommitted',
      logs: receipt.logs,
    })
    if (event === undefined)
      throw new BaseError(
        'INTERNAL',
        `commitBatch ${receipt.transactionHash} emitted no BatchCommitted.`,
      )
    await committed(
      batch,
      {
        batchId: event.args.batchId,
        challengeDeadline: BigInt(event.args.challengeDeadline),
        transactionHash: receipt.transactionHash,
        blockNumber: receipt.blockNumber,
      },
      report,
    )
  }

  /** The chunks of `[from, to]` of at most `logChunkBlocks` blocks. */
  function* ranges(from: bigint, to: bigint): Generator<[bigint, bigint]> {
    const size = BigInt(options.logChunkBlocks)
    for (let start = from; start <= to; start += size)
      yield [start, start + size - 1n < to ? start + size - 1n : to]
  }

  async function findCommit(batch: SettlementBatch, context: PassContext) {
    const latest = (await head(context)).number
    for (const [fromBlock, toBlock] of ranges(BigInt(batch.fromBlock), latest)) {
      const events = await read('BatchCommitted events', () =>
        publicClient.getContractEvents({
          address: contract,
          abi: settlementAbi,
          eventName: 'BatchCommitted',
          args: { executor },
          fromBlock,
          toBlock,
        }),
      )
      const found = events.find((event) => event.args.root === batch.root)
      if (found) return found
    }
    return undefined
  }

  /**
   * A batch left `committing` (a crash or an unknown outcome): committed if its event is on-chain;
   * sent again only when no transaction of this node is pending (so never twice).
   */
  async function recoverCommitting(
    batch: SettlementBatch,
    context: PassContext,
    report: SettlementTickReport,
  ): Promise<void> {
    const [latestNonce, pendingNonce] = await read('the node nonce', () =>
      Promise.all([
        publicClient.getTransactionCount({ address: executor, blockTag: 'latest' }),
        publicClient.getTransactionCount({ address: executor, blockTag: 'pending' }),
      ]),
    )
    if (pendingNonce > latestNonce) {
      logger.info(
        { batch: batch.id, pending: pendingNonce - latestNonce },
        'transactions of this node are pending: the committing batch waits for them',
      )
      return
    }
    const found = await findCommit(batch, context)
    if (found) {
      logger.info(
        { batch: batch.id, batchId: found.args.batchId?.toString(), tx: found.transactionHash },
        'recovered a batch committed before a restart',
      )
      await committed(
        batch,
        {
          batchId: found.args.batchId as bigint,
          challengeDeadline: BigInt(found.args.challengeDeadline as bigint),
          transactionHash: found.transactionHash,
          blockNumber: found.blockNumber,
        },
        report,
      )
      return
    }
    const chainTime = (await head(context)).timestamp
    if (store.items(batch.id).some((item) => item.deadline <= chainTime + inclusionSlackSeconds)) {
      // committing now would be provable fraud for those receipts: rebuild without them
      store.dissolveBatch(batch.id)
      logger.warn({ batch: batch.id }, 'committing batch has expired requests: rebuilt')
      return
    }
    logger.info({ batch: batch.id, receipts: batch.count }, 'batch not on-chain: sending it again')
    await send(batch, report)
  }

  async function commitIfDue(context: PassContext, report: SettlementTickReport): Promise<void> {
    const summary = store.pendingSummary()
    if (summary.count === 0 || (!context.forced && now() < commitBackoffUntil)) return
    const latest = await head(context)
    const margin = BigInt(options.deadlineMarginSeconds)
    const due =
      context.flush ||
      summary.count >= options.maxBatchSize ||
      (summary.oldestRecordedAt !== undefined &&
        now() - summary.oldestRecordedAt >= options.maxBatchDelayMs) ||
      (summary.earliestDeadline !== undefined &&
        summary.earliestDeadline - margin <= latest.timestamp)
    if (!due) return
    const candidates = store.list('pending', options.maxBatchSize)
    const expired = candidates.filter(
      (item) => item.deadline <= latest.timestamp + inclusionSlackSeconds,
    )
    if (expired.length > 0) {
      store.markUnpaid(
        expired.map((item) => item.jobId),
        'expired',
      )
      metrics.unpaidReceipts.inc({ reason: 'expired' }, expired.length)
      report.unpaid += expired.length
      logger.warn(
        { receipts: expired.length },
        'request deadlines passed before a commit: receipts not settled',
      )
    }
    // stay within the contract's party caps
    const chosen: SettlementItem[] = []
    const payers = new Set<string>()
    const modelIds = new Set<bigint>()
    const verifiers = new Set<string>()
    for (const item of candidates) {
      if (item.deadline <= latest.timestamp + inclusionSlackSeconds) continue
      const fits =
        (payers.has(item.payer) || payers.size < maxParties) &&
        (modelIds.has(item.modelId) || modelIds.size < maxParties) &&
        new Set([...verifiers, ...item.verifiers]).size <= maxParties
      if (!fits) break
      payers.add(item.payer)
      modelIds.add(item.modelId)
      for (const verifier of item.verifiers) verifiers.add(verifier)
      chosen.push(item)
    }
    // each payer pays for what its free escrow covers now, oldest first
    const balances = new Map<string, bigint>()
    const payerList = [...payers] as `0x${string}`[]
    const found = await Promise.all(payerList.map((payer) => balanceOf(payer)))
    payerList.forEach((payer, index) => {
      balances.set(payer, found[index] as bigint)
    })
    const paid: SettlementItem[] = []
    const unpaid: SettlementItem[] = []
    for (const item of chosen) {
      const left = balances.get(item.payer) as bigint
      if (item.fee <= left) {
        balances.set(item.payer, left - item.fee)
        paid.push(item)
      } else unpaid.push(item)
    }
    if (unpaid.length > 0) {
      store.markUnpaid(
        unpaid.map((item) => item.jobId),
        'escrow',
      )
      metrics.unpaidReceipts.inc({ reason: 'escrow' }, unpaid.length)
      report.unpaid += unpaid.length
      for (const payer of new Set(unpaid.map((item) => item.payer)))
        logger.warn(
          {
            payer,
            receipts: unpaid.filter((item) => item.payer === payer).length,
            balanceWei: (found[payerList.indexOf(payer)] as bigint).toString(),
          },
          'payer can no longer pay: receipts marked unpaid',
        )
    }
    updatePending()
    if (paid.length === 0 || stopping) return
    const leaves = paid.map((item) => ({ jobId: item.jobId, leaf: item.leaf as ReceiptLeaf }))
    const { call, total } = aggregate(paid)
    const root = buildReceiptTree(leaves.map(({ leaf }) => leaf)).root as Hash
    // durable before anything is sent: a crash from here on is recovered from this row
    const batch = store.createBatch({
      contract,
      executor,
      root,
      total,
      call,
      leaves,
      fromBlock: Number(latest.number),
    })
    await send(batch, report)
  }

  // ------------------------------------------------------------------ finalizer

  function closeBatch(
    batch: SettlementBatch,
    status: 'finalized' | 'challenged',
    report: SettlementTickReport,
  ): void {
    store.closeBatch(batch.id, status)
    metrics.batches.inc({ status })
    const batchId = batch.batchId as bigint
    report[status].push(batchId)
    for (const [key, dispute] of disputes) if (dispute.batch === batch.id) disputes.delete(key)
    if (status === 'challenged')
      logger.error(
        { batchId: batchId.toString(), receipts: batch.count },
        'batch reverted by a fraud proof: its receipts are not paid and this node was slashed',
      )
    else logger.info({ batchId: batchId.toString(), receipts: batch.count }, 'batch finalized')
  }

  /** Reverts, finalizations by others and request disputes of this node's open batches. */
  async function watch(context: PassContext, report: SettlementTickReport): Promise<void> {
    const open = store.batches('committed')
    if (open.length === 0) {
      cursor = undefined
      return
    }
    const latest = (await head(context)).number
    const from =
      cursor === undefined
        ? BigInt(Math.min(...open.map((batch) => batch.blockNumber as number)))
        : cursor + 1n
    const byChainId = new Map(open.map((batch) => [batch.batchId as bigint, batch]))
    for (const [fromBlock, toBlock] of ranges(from, latest)) {
      const logs = await read('Settlement events', () =>
        publicClient.getLogs({ address: contract, events: watchedEvents, fromBlock, toBlock }),
      )
      for (const log of logs) {
        const args = log.args as { batchId?: bigint; leafHash?: Hash; answerBy?: bigint }
        const batch = args.batchId === undefined ? undefined : byChainId.get(args.batchId)
        if (batch === undefined || store.batch(batch.id)?.status !== 'committed') continue
        if (log.eventName === 'BatchReverted') closeBatch(batch, 'challenged', report)
        else if (log.eventName === 'BatchFinalized') closeBatch(batch, 'finalized', report)
        else if (log.eventName === 'RequestDisputed' && args.leafHash) {
          logger.warn(
            { batchId: batch.batchId?.toString(), leafHash: args.leafHash },
            'a payer disputes a receipt: answering with its signed request',
          )
          disputes.set(`${batch.id}:${args.leafHash}`, {
            batch: batch.id,
            batchId: batch.batchId as bigint,
            leafHash: args.leafHash,
            answerBy: args.answerBy ?? 0n,
          })
        }
      }
      cursor = toBlock
    }
  }

  async function answerDisputes(report: SettlementTickReport): Promise<void> {
    for (const [key, dispute] of disputes) {
      if (stopping) return
      const batch = store.batch(dispute.batch)
      const index = batch?.leaves.findIndex(
        ({ leaf }) => hashReceiptLeaf(leaf) === dispute.leafHash,
      )
      const entry = index === undefined || index < 0 ? undefined : batch?.leaves[index]
      const job = entry && jobs.get(entry.jobId)
      if (!entry || !job?.request.signature) {
        disputes.delete(key)
        logger.error(
          { batchId: dispute.batchId.toString(), leafHash: dispute.leafHash },
          'cannot answer a dispute: the signed request of the leaf is not stored',
        )
        continue
      }
      try {
        await chain.write(`answerDispute ${dispute.batchId}`, {
          address: contract,
          abi: settlementAbi,
          functionName: 'answerDispute',
          args: [
            dispute.batchId,
            entry.leaf,
            requestFromJson(job.request.message),
            job.request.signature,
          ],
        })
        disputes.delete(key)
        report.disputesAnswered++
        logger.info(
          { batchId: dispute.batchId.toString(), jobId: entry.jobId },
          'dispute answered with the signed request',
        )
      } catch (error) {
        const reverted = revertName(error)
        if (
          reverted === 'NoOpenDispute' ||
          reverted === 'DisputeAnswerWindowClosed' ||
          reverted === 'BatchNotPending'
        ) {
          disputes.delete(key)
          logger.info({ batchId: dispute.batchId.toString(), revert: reverted }, 'dispute closed')
        } else throw error
      }
    }
  }

  async function finalizeDue(context: PassContext, report: SettlementTickReport): Promise<void> {
    const open = store.batches('committed')
    if (open.length === 0) return
    const windowSeconds = await window()
    const { timestamp } = await head(context)
    for (const batch of open) {
      if (stopping) return
      if (BigInt(batch.committedAt as number) + windowSeconds > timestamp) continue
      const batchId = batch.batchId as bigint
      try {
        await chain.write(`finalize batch ${batchId}`, {
          address: contract,
          abi: settlementAbi,
          functionName: 'finalize',
          args: [batchId],
        })
        closeBatch(batch, 'finalized', report)
        context.finalized = true
      } catch (error) {
        const reverted = revertName(error)
        if (reverted === 'BatchNotPending') {
          const onChain = await read(`Settlement.getBatch(${batchId})`, () =>
            publicClient.readContract({
              address: contract,
              abi: settlementAbi,
              functionName: 'getBatch',
              args: [batchId],
            }),
          )
          if (onChain.status === batchStatus.reverted) closeBatch(batch, 'challenged', report)
          else if (onChain.status === batchStatus.finalized) {
            closeBatch(batch, 'finalized', report)
            context.finalized = true
          }
        } else if (reverted === 'ChallengeWindowOpen' || reverted === 'DisputesOpen')
          logger.debug({ batchId: batchId.toString(), revert: reverted }, 'not finalizable yet')
        else throw error
      }
    }
  }

  async function withdraw(context: PassContext, report: SettlementTickReport): Promise<void> {
    if (
      !context.forced &&
      !context.finalized &&
      now() - lastEarningsCheck < options.earningsCheckIntervalMs
    )
      return
    lastEarningsCheck = now()
    const earned = await read('Settlement.earnings', () =>
      publicClient.readContract({
        address: contract,
        abi: settlementAbi,
        functionName: 'earnings',
        args: [executor],
      }),
    )
    if (earned === 0n || earned <= options.minWithdrawalWei || stopping) return
    const receipt = await chain.write('withdrawEarnings', {
      address: contract,
      abi: settlementAbi,
      functionName: 'withdrawEarnings',
    })
    const [event] = parseEventLogs({
      abi: settlementAbi,
      eventName: 'EarningsWithdrawn',
      logs: receipt.logs,
    })
    const amount = event?.args.amount ?? earned
    withdrawnTotal += amount
    report.withdrawnWei += amount
    metrics.earningsWithdrawn.inc(Number(amount))
    logger.info({ amountWei: amount.toString(), tx: receipt.transactionHash }, 'earnings withdrawn')
  }

  // ------------------------------------------------------------------ passes

  async function pass(context: PassContext): Promise<SettlementTickReport> {
    const report = emptyReport()
    const step = async (name: string, body: () => Promise<void> | void): Promise<void> => {
      try {
        await body()
      } catch (error) {
        const failure = toBaseError(error)
        const entry = { step: name, code: failure.code, message: failure.shortMessage }
        report.errors.push(entry)
        lastError = { ...entry, at: now() }
        logger.warn(entry, 'settlement step failed; retried on the next pass')
      }
    }
    await step('reconcile', reconcileQuotes)
    await step('attach', () => {
      for (const batch of store.unattached()) attach(batch)
    })
    await step('commit', async () => {
      const committing = store.committing()
      if (committing) {
        if (stopping) return
        await recoverCommitting(committing, context, report)
        if (store.committing()) return
      }
      await commitIfDue(context, report)
    })
    await step('watch', () => watch(context, report))
    await step('disputes', () => answerDisputes(report))
    await step('finalize', () => finalizeDue(context, report))
    await step('withdraw', () => withdraw(context, report))
    await step('metrics', updatePending)
    lastPassAt = now()
    return report
  }

  function enqueue(context: PassContext): Promise<SettlementTickReport> {
    const next = passes.then(() => pass(context))
    passes = next.catch(() => undefined)
    return next
  }

  function schedule(delayMs: number): void {
    if (!started || stopping) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      void enqueue({ forced: false, flush: false, finalized: false })
        .catch((error: unknown) =>
          logger.error({ err: toBaseError(error).shortMessage }, 'settlement pass failed'),
        )
        .finally(() => schedule(options.pollIntervalMs))
    }, delayMs)
    timer.unref()
  }

  function summary(batch: SettlementBatch): SettlementBatchSummary {
    return {
      ...(batch.batchId === undefined ? {} : { batchId: batch.batchId.toString() }),
      root: batch.root,
      count: batch.count,
      totalWei: batch.total.toString(),
      status: batch.status,
      ...(batch.transactionHash === undefined ? {} : { transactionHash: batch.transactionHash }),
      ...(batch.blockNumber === undefined ? {} : { blockNumber: batch.blockNumber }),
      ...(batch.committedAt === undefined ? {} : { committedAt: batch.committedAt }),
      ...(batch.committedAt === undefined || challengeWindow === undefined
        ? {}
        : { challengeDeadline: batch.committedAt + Number(challengeWindow) }),
    }
  }

  return {
    quote,
    record,

    start() {
      if (started || stopping) return
      started = true
      logger.info(
        {
          executor,
          contract,
          maxBatchSize: options.maxBatchSize,
          maxBatchDelayMs: options.maxBatchDelayMs,
        },
        'settlement started',
      )
      schedule(0)
    },

    stop() {
      stopped ??= (async () => {
        stopping = true
        if (timer !== undefined) clearTimeout(timer)
        timer = undefined
        await passes
        logger.info('settlement stopped')
      })()
      return stopped
    },

    tick(parameters = {}) {
      if (stopping)
        return Promise.reject(
          new BaseError('NODE_UNAVAILABLE', 'The settlement service is stopped.', {
            metaMessages: ['Create a new one (or restart the node) to settle again.'],
          }),
        )
      return enqueue({ forced: true, flush: parameters.flush === true, finalized: false })
    },

    async priceOf(cid) {
      try {
        const model = await lookupModel(cid)
        return model === null ? undefined : model.pricePerCall.toString()
      } catch {
        return undefined
      }
    },

    status() {
      const counts = store.counts()
      return {
        executor,
        contract,
        chainId: chain.chainId,
        running: started && !stopping,
        receipts: counts.items,
        unsettledFeesWei: counts.pendingFees.toString(),
        batches: counts.batches,
        recentBatches: store.recentBatches(10).map(summary),
        earningsWithdrawnWei: withdrawnTotal.toString(),
        ...(lastPassAt === undefined ? {} : { lastPassAt }),
        ...(lastError === undefined ? {} : { lastError }),
      }
    },

    batch(id) {
      let batchId: bigint
      try {
        batchId = BigInt(id)
      } catch {
        return undefined
      }
      if (batchId < 1n) return undefined
      const stored = store.batchByChainId(batchId)
      if (stored === undefined || !isAddressEqual(stored.contract, contract)) return undefined
      const built = tree(stored)
      const leaves = stored.leaves.map(({ jobId, leaf }, index) => ({
        index,
        jobId,
        leaf: leafToJson(leaf),
        leafHash: hashReceiptLeaf(leaf),
        proof: built.getProof(index) as Hash[],
      }))
      const receipts: Receipt[] = []
      for (const { jobId, proof, index } of leaves) {
        const json = jobs.getReceipt(jobId)?.receiptJson
        if (json === undefined) continue
        const receipt = JSON.parse(json) as Receipt
        receipts.push({ ...receipt, settlement: settlementSection(stored, index, proof) })
      }
      const base = summary(stored)
      return {
        batchId: batchId.toString(),
        chainId: chain.chainId,
        contract,
        executor: stored.executor,
        root: stored.root,
        count: stored.count,
        totalWei: base.totalWei,
        status: stored.status,
        ...(base.transactionHash === undefined ? {} : { transactionHash: base.transactionHash }),
        ...(base.blockNumber === undefined ? {} : { blockNumber: base.blockNumber }),
        ...(base.committedAt === undefined ? {} : { committedAt: base.committedAt }),
        ...(base.challengeDeadline === undefined
          ? {}
          : { challengeDeadline: base.challengeDeadline }),
        leaves,
        receipts,
      }
    },
  }
}
