import { settlementAbi } from '@verity/contracts'
import {
  BaseError,
  executionMessageFromReceipt,
  type Hash,
  parseReceipt,
  type Receipt,
  receiptLeafFromReceipt,
  toBaseError,
  verifyReceipt,
  verifyReceiptLeafProof,
} from '@verity/protocol'
import { Counter, type Registry } from 'prom-client'
import { isAddressEqual, parseEventLogs } from 'viem'
import type { NodeChain } from '../chain/createNodeChain.ts'
import { revertName } from '../chain/createNodeChain.ts'
import type { NodeLogger } from '../logger.ts'
import type { VerificationStore } from '../verification/createVerificationStore.ts'
import type { PeerDirectory } from '../verification/peerDirectory.ts'

/**
 * What a node's `GET /v1/batches/:id` returns: a committed batch with every receipt in it (each
 * with its `settlement` section), so anyone can check the leaves behind an on-chain root.
 *
 * @example
 * ```ts
 * const batch: BatchDocument = await (await fetch(`${url}/v1/batches/3`)).json()
 * ```
 */
export type BatchDocument = {
  batchId: string
  root: Hash
  executor: `0x${string}`
  receipts: Receipt[]
}

/**
 * One challenge this node sent (or tried to).
 *
 * @example
 * ```ts
 * const [last]: ChallengeRecord[] = challenger.challenges()
 * ```
 */
export type ChallengeRecord = {
  batchId: string
  executor: `0x${string}`
  jobId: Hash
  kind: 'quorum' | 'equivocation'
  status: 'sent' | 'failed'
  transactionHash?: Hash | undefined
  error?: string | undefined
}

/**
 * Options of {@link createChallenger}.
 *
 * @example
 * ```ts
 * const options: ChallengerOptions = { pollIntervalMs: 2000, auditAll: false }
 * ```
 */
export type ChallengerOptions = {
  /** How often new `BatchCommitted` events are read. */
  pollIntervalMs: number
  /**
   * Check every other executor's batches, not only those of executors this node has signed a
   * disagreement against (costs one HTTP fetch per batch).
   */
  auditAll: boolean
  /** Timeout of one batch fetch from an executor. */
  fetchTimeoutMs?: number | undefined
}

/**
 * What {@link createChallenger} needs.
 *
 * @example
 * ```ts
 * const components: ChallengerComponents = { chain, store, peers, logger, registry }
 * ```
 */
export type ChallengerComponents = {
  chain: NodeChain
  store: VerificationStore
  peers: PeerDirectory
  logger: NodeLogger
  registry?: Registry | undefined
}

/**
 * The challenger: watches `Settlement.BatchCommitted`, fetches the batches of suspect executors
 * from their own `GET /v1/batches/:id`, and sends the fraud proof a bad leaf allows.
 *
 * @example
 * ```ts
 * const challenger: Challenger = createChallenger(options, components)
 * challenger.start()
 * ```
 */
export type Challenger = {
  start(): void
  stop(): Promise<void>
  /** One pass over new events (tests call it instead of waiting for the timer). */
  tick(): Promise<void>
  challenges(): ChallengeRecord[]
}

const quorumFailures = new Set([
  'RECEIPT_QUORUM_MISSING',
  'RECEIPT_QUORUM_NOT_MET',
  'RECEIPT_ATTESTATION_INVALID',
  'OUTPUT_MISMATCH',
])

/**
 * Creates the challenger. Which batches it opens: those of executors this node signed
 * `agree: false` against as a verifier (it holds their signed receipt for the job), or every
 * batch with `auditAll`. For each receipt of such a batch whose leaf is really under the committed
 * root:
 * - the quorum certificate fails offline (too few valid agreeing attestations, a disagreement, a
 *   bad signature) → `challengeQuorum` with the receipt's attestations;
 * - this node holds the executor's signature over another output for the same job →
 *   `challengeEquivocation`.
 * The contract is the judge: the call is simulated first, and a `NoFraud` revert only logs. An
 * executor that does not serve its batch cannot be challenged this way (logged and counted as
 * `unavailable`).
 *
 * @example
 * ```ts
 * const challenger = createChallenger({ pollIntervalMs: 2000, auditAll: false }, { chain, store, peers, logger })
 * challenger.start()
 * await challenger.stop()
 * ```
 */
export function createChallenger(
  options: ChallengerOptions,
  components: ChallengerComponents,
): Challenger {
  const { chain, store, peers } = components
  const logger = components.logger.child({ module: 'challenger' })
  const self = chain.account.address
  const registers = components.registry ? [components.registry] : []
  const outcomes = new Counter({
    name: 'verity_challenges_total',
    help: 'Batches this node checked as a challenger, by outcome (clean, challenged, failed, unavailable).',
    labelNames: ['outcome'] as const,
    registers,
  })
  const records: ChallengeRecord[] = []
  let nextBlock: bigint | undefined
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false

  async function fetchBatch(url: string, batchId: bigint): Promise<BatchDocument> {
    const response = await fetch(`${url}/v1/batches/${batchId}`, {
      signal: AbortSignal.timeout(options.fetchTimeoutMs ?? 10_000),
    })
    if (!response.ok)
      throw new BaseError(
        'PEER_UNREACHABLE',
        `${url} answered ${response.status} for batch ${batchId}.`,
      )
    return (await response.json()) as BatchDocument
  }

  async function challenge(
    record: Omit<ChallengeRecord, 'status'>,
    functionName: 'challengeQuorum' | 'challengeEquivocation',
    args: readonly unknown[],
  ): Promise<void> {
    try {
      const receipt = await chain.write(`challenge ${record.kind} batch ${record.batchId}`, {
        address: chain.contracts.settlement,
        abi: settlementAbi,
        functionName,
        args,
      })
      records.push({ ...record, status: 'sent', transactionHash: receipt.transactionHash })
      outcomes.inc({ outcome: 'challenged' })
      logger.warn(
        { ...record, tx: receipt.transactionHash },
        'fraud proof accepted: batch reverted, executor slashed',
      )
    } catch (error) {
      const name = revertName(error)
      records.push({ ...record, status: 'failed', error: name ?? toBaseError(error).shortMessage })
      outcomes.inc({ outcome: 'failed' })
      logger.info({ ...record, revert: name }, 'challenge not accepted')
    }
  }

  async function checkBatch(batchId: bigint, executor: `0x${string}`, root: Hash): Promise<void> {
    const suspicions = store.disagreements({ executor })
    if (!options.auditAll && suspicions.length === 0) return
    const peer = await peers.get(executor)
    if (!peer) {
      outcomes.inc({ outcome: 'unavailable' })
      logger.warn({ batchId, executor }, 'cannot check batch: executor endpoint unknown')
      return
    }
    let document: BatchDocument
    try {
      document = await fetchBatch(peer.url, batchId)
    } catch (error) {
      outcomes.inc({ outcome: 'unavailable' })
      logger.warn(
        { batchId, executor, err: toBaseError(error).shortMessage },
        'executor does not serve its batch',
      )
      return
    }
    let challenged = false
    for (const value of Array.isArray(document.receipts) ? document.receipts : []) {
      let receipt: Receipt
      try {
        receipt = parseReceipt(value)
      } catch {
        continue
      }
      const settlement = receipt.settlement
      if (!settlement || settlement.batchId !== batchId.toString()) continue
      const leaf = receiptLeafFromReceipt(receipt, BigInt(settlement.fee))
      const proof = settlement.proof as Hash[]
      if (!verifyReceiptLeafProof(root, leaf, proof) || !isAddressEqual(leaf.executor, executor))
        continue
      const base = { batchId: batchId.toString(), executor, jobId: leaf.jobId }
      const leafTuple = { ...leaf }
      // equivocation: this node holds the executor's signature over another output of this job
      const other = suspicions.find(
        (given) => given.jobId === leaf.jobId && given.attestation.outputHash !== leaf.outputHash,
      )
      if (other) {
        const signed = parseReceipt(JSON.parse(other.receiptJson))
        await challenge({ ...base, kind: 'equivocation' }, 'challengeEquivocation', [
          batchId,
          leafTuple,
          proof,
          executionMessageFromReceipt(signed),
          signed.executor.signature,
        ])
        challenged = true
        break
      }
      if (receipt.job.quorum === 0) continue
      const verdict = await verifyReceipt(receipt)
      const failed = verdict.checks.find(
        (check) => check.status === 'fail' && check.code && quorumFailures.has(check.code),
      )
      if (!failed) continue
      logger.warn({ ...base, check: failed.name, reason: failed.reason }, 'leaf fails its quorum')
      await challenge({ ...base, kind: 'quorum' }, 'challengeQuorum', [
        batchId,
        leafTuple,
        proof,
        (receipt.quorum?.attestations ?? []).map((a) => ({
          verifier: a.verifier,
          agree: a.agree,
          signature: a.signature,
        })),
      ])
      challenged = true
      break // a batch is reverted once
    }
    if (!challenged) outcomes.inc({ outcome: 'clean' })
  }

  async function pass(): Promise<void> {
    const latest = await chain.publicClient.getBlockNumber({ cacheTime: 0 })
    const from = nextBlock ?? BigInt(chain.deployedAt)
    if (from > latest) return
    const logs = await chain.publicClient.getLogs({
      address: chain.contracts.settlement,
      fromBlock: from,
      toBlock: latest,
    })
    const events = parseEventLogs({ abi: settlementAbi, eventName: 'BatchCommitted', logs })
    for (const event of events) {
      if (stopped) return
      const { batchId, executor, root } = event.args
      if (isAddressEqual(executor, self)) continue
      try {
        await checkBatch(batchId, executor, root)
      } catch (error) {
        logger.warn({ batchId, err: toBaseError(error).shortMessage }, 'batch check failed')
      }
    }
    nextBlock = latest + 1n
  }

  function tick(): Promise<void> {
    running ??= pass()
      .catch((error: unknown) => {
        logger.warn({ err: toBaseError(error).shortMessage }, 'challenger pass failed')
      })
      .finally(() => {
        running = undefined
      })
    return running
  }

  return {
    start() {
      if (timer || stopped) return
      timer = setInterval(() => void tick(), options.pollIntervalMs)
      timer.unref()
      void tick()
    },
    async stop() {
      stopped = true
      clearInterval(timer)
      await running
    },
    tick,
    challenges: () => records.map((record) => ({ ...record })),
  }
}
