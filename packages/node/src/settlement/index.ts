// On-chain settlement: quotes before execution, durable receipt queue, Merkle batches committed to
// the Settlement contract, dispute answers, finalization and earnings withdrawal.
export * from './createSettlement.ts'
export * from './createSettlementStore.ts'
export * from './settlementMetrics.ts'
export * from './settlementOptions.ts'
