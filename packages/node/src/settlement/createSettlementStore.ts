import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { SQLInputValue } from 'node:sqlite'
import { BaseError, type Hash, type ReceiptLeaf } from '@verity/protocol'
import { inTransaction, openNodeDatabase } from '../db/createJobStore.ts'

/**
 * Where a settled job is: `quoted` (priced and counted against the payer's escrow before it ran),
 * `pending` (its receipt exists: a leaf waiting for a batch), `committing` (in a batch whose
 * transaction is being sent), `committed` (in a batch on-chain, inside its challenge window),
 * `finalized` (paid out), `challenged` (its batch was reverted by a fraud proof) or `unpaid` (given
 * up: the payer's escrow could not cover it, or its request deadline passed before a commit).
 *
 * @example
 * ```ts
 * const status: SettlementItemStatus = store.get(jobId)?.status ?? 'quoted'
 * ```
 */
export type SettlementItemStatus =
  | 'quoted'
  | 'pending'
  | 'committing'
  | 'committed'
  | 'finalized'
  | 'challenged'
  | 'unpaid'

/**
 * Where a batch is: `committing` (root written, transaction being sent or its outcome unknown),
 * `committed` (on-chain, challengeable), `finalized` or `challenged` (reverted on-chain).
 *
 * @example
 * ```ts
 * const status: SettlementBatchStatus = 'committed'
 * ```
 */
export type SettlementBatchStatus = 'committing' | 'committed' | 'finalized' | 'challenged'

/**
 * Why an item was given up: `escrow` (the payer's free balance no longer covered it when the batch
 * was built) or `expired` (its request deadline passed before it could be committed: committing
 * it then would be a provable fraud).
 *
 * @example
 * ```ts
 * const reason: UnpaidReason = 'escrow'
 * ```
 */
export type UnpaidReason = 'escrow' | 'expired'

/**
 * One settled job.
 *
 * @example
 * ```ts
 * const item: SettlementItem | undefined = store.get(jobId)
 * ```
 */
export type SettlementItem = {
  jobId: Hash
  payer: `0x${string}`
  modelId: bigint
  modelCid: string
  /** Wei charged to the payer. */
  fee: bigint
  /** The request's deadline (Unix seconds): the batch must be committed before it. */
  deadline: bigint
  status: SettlementItemStatus
  /** The Merkle leaf, once the receipt exists. */
  leaf?: ReceiptLeaf | undefined
  leafHash?: Hash | undefined
  /** Distinct verifiers whose agreeing attestations the receipt carries (verifier pool weights). */
  verifiers: `0x${string}`[]
  /** Local id of the batch the item is in. */
  batch?: number | undefined
  leafIndex?: number | undefined
  unpaidReason?: UnpaidReason | undefined
  /** Unix milliseconds. */
  quotedAt: number
  recordedAt?: number | undefined
  updatedAt: number
}

/**
 * The arguments of `Settlement.commitBatch` besides root and count, as stored (wei as decimal
 * strings) so that a re-send after a crash sends exactly the same call.
 *
 * @example
 * ```ts
 * const call: BatchCall = { payers: [{ payer, total: '1000' }], models: [{ modelId: '1', total: '1000' }], verifiers: [] }
 * ```
 */
export type BatchCall = {
  payers: { payer: `0x${string}`; total: string }[]
  models: { modelId: string; total: string }[]
  verifiers: { verifier: `0x${string}`; count: number }[]
}

/**
 * A batch of this node's receipts.
 *
 * @example
 * ```ts
 * const batch: SettlementBatch | undefined = store.batchByChainId(7n)
 * ```
 */
export type SettlementBatch = {
  /** Local id (rows are written before the chain assigns its id). */
  id: number
  contract: `0x${string}`
  executor: `0x${string}`
  /** The on-chain batch id, once committed. */
  batchId?: bigint | undefined
  root: Hash
  count: number
  /** Wei, the sum of the fees. */
  total: bigint
  status: SettlementBatchStatus
  call: BatchCall
  /** Leaves in leaf-index order (the order the tree was built from). */
  leaves: { jobId: Hash; leaf: ReceiptLeaf }[]
  /** The block before the commit was sent: where a recovery scan for its event starts. */
  fromBlock: number
  transactionHash?: Hash | undefined
  blockNumber?: number | undefined
  /** Block timestamp of the commit (Unix seconds). */
  committedAt?: number | undefined
  /** Whether every receipt of the batch carries its `settlement` section. */
  receiptsAttached: boolean
  /** Unix milliseconds. */
  createdAt: number
  updatedAt: number
}

/**
 * What {@link SettlementStore.putQuote} stores.
 *
 * @example
 * ```ts
 * const quote: NewQuote = { jobId, payer, modelId: 1n, modelCid: cid, fee: 10n ** 15n, deadline }
 * ```
 */
export type NewQuote = Pick<
  SettlementItem,
  'jobId' | 'payer' | 'modelId' | 'modelCid' | 'fee' | 'deadline'
>

/**
 * What {@link SettlementStore.createBatch} stores.
 *
 * @example
 * ```ts
 * const batch: NewBatch = { contract, executor, root: tree.root, total, call, leaves, fromBlock }
 * ```
 */
export type NewBatch = Pick<
  SettlementBatch,
  'contract' | 'executor' | 'root' | 'total' | 'call' | 'leaves' | 'fromBlock'
>

/**
 * The settlement tables of the node database (same file as the job store, its own connection).
 * Every write is durable when it returns; state changes that touch several rows are one
 * transaction.
 *
 * @example
 * ```ts
 * const store: SettlementStore = createSettlementStore({ path: '/data/node.sqlite' })
 * ```
 */
export type SettlementStore = {
  get(jobId: string): SettlementItem | undefined
  /**
   * Stores a quote as `quoted` (replacing an earlier quote of the same job); a job that already
   * has a receipt recorded keeps its row. Returns whether the row is (now) the given quote.
   */
  putQuote(quote: NewQuote): boolean
  deleteQuote(jobId: string): void
  /** `quoted` → `pending` with the receipt's leaf. False when the item is not `quoted`. */
  markRecorded(
    jobId: string,
    recorded: { leaf: ReceiptLeaf; leafHash: Hash; verifiers: `0x${string}`[] },
  ): boolean
  /** Wei of the payer's items not yet in a committed batch (`quoted`, `pending`, `committing`). */
  outstanding(payer: string, exceptJobId?: string): bigint
  /** Items by status, oldest first (by receipt time, then quote time). */
  list(status: SettlementItemStatus, limit?: number): SettlementItem[]
  /** Pending items: how many, the oldest receipt time and the earliest request deadline. */
  pendingSummary(): { count: number; oldestRecordedAt?: number; earliestDeadline?: bigint }
  markUnpaid(jobIds: readonly string[], reason: UnpaidReason): void
  /** Writes the batch as `committing` and moves its items there, in one transaction. */
  createBatch(batch: NewBatch): SettlementBatch
  /** The batch left `committing` (at most one at a time). */
  committing(): SettlementBatch | undefined
  /** Drops a `committing` batch whose transaction was never sent: its items are pending again. */
  dissolveBatch(id: number): void
  markCommitted(
    id: number,
    commit: { batchId: bigint; transactionHash: Hash; blockNumber: number; committedAt: number },
  ): SettlementBatch
  markReceiptsAttached(id: number): void
  /** Marks a committed batch and its items `finalized` or `challenged`. */
  closeBatch(id: number, status: 'finalized' | 'challenged'): void
  batches(status: SettlementBatchStatus): SettlementBatch[]
  /** Committed batches whose receipts do not carry their settlement section yet. */
  unattached(): SettlementBatch[]
  batch(id: number): SettlementBatch | undefined
  batchByChainId(batchId: bigint): SettlementBatch | undefined
  /** Newest batches first. */
  recentBatches(limit: number): SettlementBatch[]
  items(batch: number): SettlementItem[]
  counts(): {
    items: Record<SettlementItemStatus, number>
    batches: Record<SettlementBatchStatus, number>
    pendingFees: bigint
  }
  close(): void
}

type ItemRow = {
  job_id: string
  payer: string
  model_id: string
  model_cid: string
  fee: string
  deadline: string
  status: string
  leaf: string | null
  leaf_hash: string | null
  verifiers: string | null
  batch: number | null
  leaf_index: number | null
  unpaid_reason: string | null
  quoted_at: number
  recorded_at: number | null
  updated_at: number
}

type BatchRow = {
  id: number
  contract: string
  executor: string
  batch_id: string | null
  root: string
  count: number
  total: string
  status: string
  call: string
  leaves: string
  from_block: number
  tx_hash: string | null
  block_number: number | null
  committed_at: number | null
  receipts_attached: number
  created_at: number
  updated_at: number
}

type LeafJson = Omit<ReceiptLeaf, 'fee'> & { fee: string }

/**
 * A leaf with its fee as a decimal string (JSON-safe), as stored and served.
 *
 * @example
 * ```ts
 * leafToJson(leaf).fee // '1000000000000000'
 * ```
 */
export function leafToJson(leaf: ReceiptLeaf): LeafJson {
  return { ...leaf, fee: leaf.fee.toString() }
}

function leafFromJson(json: LeafJson): ReceiptLeaf {
  return { ...json, fee: BigInt(json.fee) }
}

function rowToItem(row: ItemRow): SettlementItem {
  return {
    jobId: row.job_id as Hash,
    payer: row.payer as `0x${string}`,
    modelId: BigInt(row.model_id),
    modelCid: row.model_cid,
    fee: BigInt(row.fee),
    deadline: BigInt(row.deadline),
    status: row.status as SettlementItemStatus,
    ...(row.leaf === null ? {} : { leaf: leafFromJson(JSON.parse(row.leaf) as LeafJson) }),
    ...(row.leaf_hash === null ? {} : { leafHash: row.leaf_hash as Hash }),
    verifiers: row.verifiers === null ? [] : (JSON.parse(row.verifiers) as `0x${string}`[]),
    ...(row.batch === null ? {} : { batch: row.batch }),
    ...(row.leaf_index === null ? {} : { leafIndex: row.leaf_index }),
    ...(row.unpaid_reason === null ? {} : { unpaidReason: row.unpaid_reason as UnpaidReason }),
    quotedAt: row.quoted_at,
    ...(row.recorded_at === null ? {} : { recordedAt: row.recorded_at }),
    updatedAt: row.updated_at,
  }
}

function rowToBatch(row: BatchRow): SettlementBatch {
  const leaves = JSON.parse(row.leaves) as { jobId: Hash; leaf: LeafJson }[]
  return {
    id: row.id,
    contract: row.contract as `0x${string}`,
    executor: row.executor as `0x${string}`,
    ...(row.batch_id === null ? {} : { batchId: BigInt(row.batch_id) }),
    root: row.root as Hash,
    count: row.count,
    total: BigInt(row.total),
    status: row.status as SettlementBatchStatus,
    call: JSON.parse(row.call) as BatchCall,
    leaves: leaves.map(({ jobId, leaf }) => ({ jobId, leaf: leafFromJson(leaf) })),
    fromBlock: row.from_block,
    ...(row.tx_hash === null ? {} : { transactionHash: row.tx_hash as Hash }),
    ...(row.block_number === null ? {} : { blockNumber: row.block_number }),
    ...(row.committed_at === null ? {} : { committedAt: row.committed_at }),
    receiptsAttached: row.receipts_attached === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

const unsettled = `('quoted', 'pending', 'committing')`

/**
 * Opens the settlement store on the node database (creating and migrating it when needed).
 *
 * @example
 * ```ts
 * const store = createSettlementStore({ path: '/data/node.sqlite' })
 * store.putQuote({ jobId, payer, modelId: 1n, modelCid: cid, fee: 10n ** 15n, deadline })
 * store.close()
 * ```
 */
export function createSettlementStore(options: {
  path: string
  now?: (() => number) | undefined
}): SettlementStore {
  const now = options.now ?? Date.now
  mkdirSync(dirname(options.path), { recursive: true })
  const database = openNodeDatabase(options.path)
  const statements = {
    get: database.prepare('SELECT * FROM settlement_items WHERE job_id = ?'),
    insertQuote: database.prepare(
      `INSERT INTO settlement_items (job_id, payer, model_id, model_cid, fee, deadline, status, quoted_at, updated_at)
       VALUES ($jobId, $payer, $modelId, $modelCid, $fee, $deadline, 'quoted', $now, $now)
       ON CONFLICT (job_id) DO UPDATE SET payer = excluded.payer, model_id = excluded.model_id,
         model_cid = excluded.model_cid, fee = excluded.fee, deadline = excluded.deadline,
         quoted_at = excluded.quoted_at, updated_at = excluded.updated_at
       WHERE settlement_items.status = 'quoted'`,
    ),
    deleteQuote: database.prepare(
      `DELETE FROM settlement_items WHERE job_id = ? AND status = 'quoted'`,
    ),
    recorded: database.prepare(
      `UPDATE settlement_items SET status = 'pending', leaf = $leaf, leaf_hash = $leafHash,
         verifiers = $verifiers, recorded_at = $now, updated_at = $now
       WHERE job_id = $jobId AND status = 'quoted'`,
    ),
    outstanding: database.prepare(
      `SELECT fee FROM settlement_items WHERE payer = $payer AND job_id != $except AND status IN ${unsettled}`,
    ),
    list: database.prepare(
      `SELECT * FROM settlement_items WHERE status = ? ORDER BY recorded_at, quoted_at, job_id LIMIT ?`,
    ),
    pendingSummary: database.prepare(
      `SELECT COUNT(*) AS count, MIN(recorded_at) AS oldest FROM settlement_items WHERE status = 'pending'`,
    ),
    pendingDeadlines: database.prepare(
      `SELECT deadline FROM settlement_items WHERE status = 'pending'`,
    ),
    unpaid: database.prepare(
      `UPDATE settlement_items SET status = 'unpaid', unpaid_reason = $reason, batch = NULL,
         leaf_index = NULL, updated_at = $now
       WHERE job_id = $jobId AND status IN ('quoted', 'pending')`,
    ),
    insertBatch: database.prepare(
      `INSERT INTO settlement_batches (contract, executor, root, count, total, status, call, leaves, from_block, created_at, updated_at)
       VALUES ($contract, $executor, $root, $count, $total, 'committing', $call, $leaves, $fromBlock, $now, $now)
       RETURNING id`,
    ),
    itemCommitting: database.prepare(
      `UPDATE settlement_items SET status = 'committing', batch = $batch, leaf_index = $index, updated_at = $now
       WHERE job_id = $jobId AND status = 'pending'`,
    ),
    committing: database.prepare(
      `SELECT * FROM settlement_batches WHERE status = 'committing' ORDER BY id LIMIT 1`,
    ),
    itemsBackToPending: database.prepare(
      `UPDATE settlement_items SET status = 'pending', batch = NULL, leaf_index = NULL, updated_at = $now
       WHERE batch = $batch AND status = 'committing'`,
    ),
    deleteBatch: database.prepare(
      `DELETE FROM settlement_batches WHERE id = ? AND status = 'committing'`,
    ),
    batchCommitted: database.prepare(
      `UPDATE settlement_batches SET status = 'committed', batch_id = $batchId, tx_hash = $txHash,
         block_number = $blockNumber, committed_at = $committedAt, updated_at = $now
       WHERE id = $id AND status = 'committing'`,
    ),
    itemsCommitted: database.prepare(
      `UPDATE settlement_items SET status = 'committed', updated_at = $now
       WHERE batch = $batch AND status = 'committing'`,
    ),
    attached: database.prepare(
      'UPDATE settlement_batches SET receipts_attached = 1, updated_at = $now WHERE id = $id',
    ),
    closeBatch: database.prepare(
      `UPDATE settlement_batches SET status = $status, updated_at = $now
       WHERE id = $id AND status = 'committed'`,
    ),
    closeItems: database.prepare(
      `UPDATE settlement_items SET status = $status, updated_at = $now
       WHERE batch = $batch AND status = 'committed'`,
    ),
    batchesByStatus: database.prepare(
      'SELECT * FROM settlement_batches WHERE status = ? ORDER BY id',
    ),
    unattached: database.prepare(
      `SELECT * FROM settlement_batches WHERE receipts_attached = 0 AND status != 'committing' ORDER BY id`,
    ),
    batch: database.prepare('SELECT * FROM settlement_batches WHERE id = ?'),
    batchByChainId: database.prepare(
      'SELECT * FROM settlement_batches WHERE batch_id = ? ORDER BY id DESC LIMIT 1',
    ),
    recent: database.prepare('SELECT * FROM settlement_batches ORDER BY id DESC LIMIT ?'),
    items: database.prepare(
      'SELECT * FROM settlement_items WHERE batch = ? ORDER BY leaf_index, job_id',
    ),
    itemCounts: database.prepare(
      'SELECT status, COUNT(*) AS count FROM settlement_items GROUP BY status',
    ),
    batchCounts: database.prepare(
      'SELECT status, COUNT(*) AS count FROM settlement_batches GROUP BY status',
    ),
    pendingFees: database.prepare(`SELECT fee FROM settlement_items WHERE status IN ${unsettled}`),
  }

  const transaction = <T>(body: () => T): T => inTransaction(database, body)

  function get(jobId: string): SettlementItem | undefined {
    const row = statements.get.get(jobId) as ItemRow | undefined
    return row && rowToItem(row)
  }

  function batch(id: number): SettlementBatch | undefined {
    const row = statements.batch.get(id) as BatchRow | undefined
    return row && rowToBatch(row)
  }

  function sum(rows: { fee: string }[]): bigint {
    let total = 0n
    for (const row of rows) total += BigInt(row.fee)
    return total
  }

  return {
    get,

    putQuote(quote) {
      const values: Record<string, SQLInputValue> = {
        jobId: quote.jobId,
        payer: quote.payer,
        modelId: quote.modelId.toString(),
        modelCid: quote.modelCid,
        fee: quote.fee.toString(),
        deadline: quote.deadline.toString(),
        now: now(),
      }
      return statements.insertQuote.run(values).changes > 0
    },

    deleteQuote(jobId) {
      statements.deleteQuote.run(jobId)
    },

    markRecorded(jobId, recorded) {
      const { changes } = statements.recorded.run({
        jobId,
        leaf: JSON.stringify(leafToJson(recorded.leaf)),
        leafHash: recorded.leafHash,
        verifiers: JSON.stringify(recorded.verifiers),
        now: now(),
      })
      return changes > 0
    },

    outstanding(payer, exceptJobId) {
      return sum(
        statements.outstanding.all({ payer, except: exceptJobId ?? '' }) as { fee: string }[],
      )
    },

    list(status, limit = 1_000_000) {
      return (statements.list.all(status, limit) as ItemRow[]).map(rowToItem)
    },

    pendingSummary() {
      const row = statements.pendingSummary.get() as { count: number; oldest: number | null }
      if (row.count === 0) return { count: 0 }
      let earliest: bigint | undefined
      for (const { deadline } of statements.pendingDeadlines.all() as { deadline: string }[]) {
        const value = BigInt(deadline)
        if (earliest === undefined || value < earliest) earliest = value
      }
      return {
        count: row.count,
        ...(row.oldest === null ? {} : { oldestRecordedAt: row.oldest }),
        ...(earliest === undefined ? {} : { earliestDeadline: earliest }),
      }
    },

    markUnpaid(jobIds, reason) {
      transaction(() => {
        const at = now()
        for (const jobId of jobIds) statements.unpaid.run({ jobId, reason, now: at })
      })
    },

    createBatch(input) {
      const id = transaction(() => {
        const at = now()
        const row = statements.insertBatch.get({
          contract: input.contract,
          executor: input.executor,
          root: input.root,
          count: input.leaves.length,
          total: input.total.toString(),
          call: JSON.stringify(input.call),
          leaves: JSON.stringify(
            input.leaves.map(({ jobId, leaf }) => ({ jobId, leaf: leafToJson(leaf) })),
          ),
          fromBlock: input.fromBlock,
          now: at,
        }) as { id: number }
        input.leaves.forEach(({ jobId }, index) => {
          const { changes } = statements.itemCommitting.run({
            batch: row.id,
            index,
            jobId,
            now: at,
          })
          if (changes !== 1)
            throw new BaseError(
              'INTERNAL',
              `Settlement item ${jobId} is not pending; the batch was not written.`,
            )
        })
        return row.id
      })
      return batch(id) as SettlementBatch
    },

    committing() {
      const row = statements.committing.get() as BatchRow | undefined
      return row && rowToBatch(row)
    },

    dissolveBatch(id) {
      transaction(() => {
        statements.itemsBackToPending.run({ batch: id, now: now() })
        statements.deleteBatch.run(id)
      })
    },

    markCommitted(id, commit) {
      transaction(() => {
        const at = now()
        const { changes } = statements.batchCommitted.run({
          id,
          batchId: commit.batchId.toString(),
          txHash: commit.transactionHash,
          blockNumber: commit.blockNumber,
          committedAt: commit.committedAt,
          now: at,
        })
        if (changes !== 1)
          throw new BaseError('INTERNAL', `Settlement batch ${id} is not committing.`)
        statements.itemsCommitted.run({ batch: id, now: at })
      })
      return batch(id) as SettlementBatch
    },

    markReceiptsAttached(id) {
      statements.attached.run({ id, now: now() })
    },

    closeBatch(id, status) {
      transaction(() => {
        const at = now()
        statements.closeBatch.run({ id, status, now: at })
        statements.closeItems.run({ batch: id, status, now: at })
      })
    },

    batches(status) {
      return (statements.batchesByStatus.all(status) as BatchRow[]).map(rowToBatch)
    },

    unattached() {
      return (statements.unattached.all() as BatchRow[]).map(rowToBatch)
    },

    batch,

    batchByChainId(batchId) {
      const row = statements.batchByChainId.get(batchId.toString()) as BatchRow | undefined
      return row && rowToBatch(row)
    },

    recentBatches(limit) {
      return (statements.recent.all(limit) as BatchRow[]).map(rowToBatch)
    },

    items(batchId) {
      return (statements.items.all(batchId) as ItemRow[]).map(rowToItem)
    },

    counts() {
      const items: Record<SettlementItemStatus, number> = {
        quoted: 0,
        pending: 0,
        committing: 0,
        committed: 0,
        finalized: 0,
        challenged: 0,
        unpaid: 0,
      }
      for (const row of statements.itemCounts.all() as {
        status: SettlementItemStatus
        count: number
      }[])
        items[row.status] = row.count
      const batches: Record<SettlementBatchStatus, number> = {
        committing: 0,
        committed: 0,
        finalized: 0,
        challenged: 0,
      }
      for (const row of statements.batchCounts.all() as {
        status: SettlementBatchStatus
        count: number
      }[])
        batches[row.status] = row.count
      return {
        items,
        batches,
        pendingFees: sum(statements.pendingFees.all() as { fee: string }[]),
      }
    },

    close() {
      if (database.isOpen) database.close()
    },
  }
}
