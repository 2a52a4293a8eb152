import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

/**
 * Metrics of on-chain settlement, registered in the node's registry (gas and fees of its
 * transactions are counted by the chain connection, `verity_chain_*`):
 *
 * - `verity_settlement_batch_receipts`: receipts per committed batch.
 * - `verity_settlement_batches_total{status}`: batches by event: `committed`, `finalized`,
 *   `challenged` (reverted on-chain by a fraud proof), `failed` (a commit the chain refused; its
 *   receipts go back to pending).
 * - `verity_settlement_pending_receipts`: receipts waiting for a batch.
 * - `verity_settlement_unpaid_receipts_total{reason}`: receipts given up: `escrow` (the payer
 *   could not pay any more) or `expired` (its request deadline passed before a commit).
 * - `verity_settlement_earnings_withdrawn_wei_total`: wei moved from the Settlement contract to
 *   the node's wallet (`withdrawEarnings`).
 *
 * @example
 * ```ts
 * const metrics: SettlementMetrics = createSettlementMetrics(node.metrics.registry)
 * metrics.batchReceipts.observe(64)
 * ```
 */
export type SettlementMetrics = {
  batchReceipts: Histogram
  batches: Counter<'status'>
  pendingReceipts: Gauge
  unpaidReceipts: Counter<'reason'>
  earningsWithdrawn: Counter
}

/**
 * Creates the settlement metrics in a registry (once per registry), or unregistered ones when no
 * registry is given.
 *
 * @example
 * ```ts
 * const metrics = createSettlementMetrics(registry)
 * metrics.batches.inc({ status: 'committed' })
 * ```
 */
export function createSettlementMetrics(registry?: Registry | undefined): SettlementMetrics {
  const registers = registry ? [registry] : []
  return {
    batchReceipts: new Histogram({
      name: 'verity_settlement_batch_receipts',
      help: 'Receipts per batch committed to the Settlement contract.',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      registers,
    }),
    batches: new Counter({
      name: 'verity_settlement_batches_total',
      help: 'Settlement batches of this node by event (committed, finalized, challenged, failed).',
      labelNames: ['status'] as const,
      registers,
    }),
    pendingReceipts: new Gauge({
      name: 'verity_settlement_pending_receipts',
      help: 'Receipts waiting to be committed in a batch.',
      registers,
    }),
    unpaidReceipts: new Counter({
      name: 'verity_settlement_unpaid_receipts_total',
      help: 'Receipts given up by the batcher, by reason (escrow, expired).',
      labelNames: ['reason'] as const,
      registers,
    }),
    earningsWithdrawn: new Counter({
      name: 'verity_settlement_earnings_withdrawn_wei_total',
      help: 'Earnings withdrawn from the Settlement contract to the node wallet, in wei.',
      registers,
    }),
  }
}
