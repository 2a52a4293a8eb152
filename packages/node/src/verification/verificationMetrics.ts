import { Counter, Histogram, type Registry } from 'prom-client'

/**
 * Metrics of re-execution verification, registered in the node's registry:
 *
 * - `verity_verifications_total{outcome}`: the executor's calls to verifiers, by outcome: `agree`,
 *   `disagree` (a signed `agree: false`), `timeout` (no answer within the per-call timeout),
 *   `error` (refused, unreachable, or an answer that does not check out). Calls cancelled because
 *   the vote was already decided are not counted.
 * - `verity_quorum_duration_seconds{outcome}`: one job's whole quorum round (selection, calls,
 *   escalation), by outcome: `met`, `mismatch` (the executor was outvoted), `failed` (not enough
 *   verifiers answered).
 * - `verity_attestations_given_total{verdict}`: `POST /v1/verify` answers this node signed as a
 *   verifier: `agree`, `disagree`, `equivocation`, `replayed` (answered from the store).
 *
 * @example
 * ```ts
 * const metrics: VerificationMetrics = createVerificationMetrics(nodeMetrics.registry)
 * metrics.verifications.inc({ outcome: 'agree' })
 * ```
 */
export type VerificationMetrics = {
  verifications: Counter<'outcome'>
  quorumDuration: Histogram<'outcome'>
  attestationsGiven: Counter<'verdict'>
}

/**
 * Creates the verification metrics in a registry (once per registry).
 *
 * @example
 * ```ts
 * const metrics = createVerificationMetrics(node.metrics.registry)
 * metrics.quorumDuration.observe({ outcome: 'met' }, 0.012)
 * ```
 */
export function createVerificationMetrics(registry: Registry): VerificationMetrics {
  const registers = [registry]
  return {
    verifications: new Counter({
      name: 'verity_verifications_total',
      help: 'Calls from this executor to verifiers, by outcome (agree, disagree, timeout, error).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    quorumDuration: new Histogram({
      name: 'verity_quorum_duration_seconds',
      help: 'Time of one job quorum round (selection, verifier calls, escalation), by outcome.',
      labelNames: ['outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    attestationsGiven: new Counter({
      name: 'verity_attestations_given_total',
      help: 'Attestations this node answered as a verifier, by verdict.',
      labelNames: ['verdict'] as const,
      registers,
    }),
  }
}
