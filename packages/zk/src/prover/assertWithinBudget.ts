import { BaseError } from '@verity/protocol'
import type { ProvingCostEstimate } from './estimateProvingCost.ts'

/** Limits a node puts on the circuits it agrees to prove; omitted limits are not checked. */
export type ProvingBudget = {
  maxConstraints?: number | undefined
  maxMemoryBytes?: number | undefined
  maxProveMs?: number | undefined
}

const MB = 1024 * 1024

/**
 * Refuses a circuit whose estimated cost (`estimateProvingCost`) exceeds a budget, listing every
 * limit it breaks.
 *
 * @throws BaseError `ZK_BUDGET_EXCEEDED` with the figures.
 *
 * @example
 * ```ts
 * assertWithinBudget(estimateProvingCost(r1cs), { maxConstraints: 65_536, maxProveMs: 10_000 })
 * ```
 */
export function assertWithinBudget(estimate: ProvingCostEstimate, budget: ProvingBudget): void {
  const over: string[] = []
  if (budget.maxConstraints !== undefined && estimate.constraints > budget.maxConstraints) {
    over.push(`${estimate.constraints} constraints > ${budget.maxConstraints} allowed`)
  }
  if (budget.maxMemoryBytes !== undefined && estimate.peakMemoryBytes > budget.maxMemoryBytes) {
    over.push(
      `~${Math.round(estimate.peakMemoryBytes / MB)} MB peak memory > ${Math.round(budget.maxMemoryBytes / MB)} MB allowed`,
    )
  }
  if (budget.maxProveMs !== undefined && estimate.proveMs > budget.maxProveMs) {
    over.push(`~${estimate.proveMs} ms to prove > ${budget.maxProveMs} ms allowed`)
  }
  if (over.length > 0) {
    throw new BaseError(
      'ZK_BUDGET_EXCEEDED',
      `The circuit is over the proving budget: ${over.join('; ')}.`,
      {
        metaMessages: [
          'Use a smaller (more quantized / pruned) model, or raise the node’s ZK budget.',
        ],
        details: JSON.stringify(estimate),
      },
    )
  }
}
